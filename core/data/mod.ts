/**
 * `core/data`: datasets in host memory (images NCHW f32 in [0, 1], labels i32), their
 * loaders (MNIST, Fashion-MNIST, CIFAR-10, synthetic), a held-out validation split, and the
 * batch loader with seeded shuffles and augmentation from the stateless generator.
 * @module
 */

export {
  bytesToUnit,
  checkDataset,
  type CheckOptions,
  classCounts,
  type Dataset,
  type ImageShape,
  imageSize,
  makeDataset,
  subset,
} from "./dataset.ts";
export {
  type IdxArray,
  type IdxHeader,
  parseIdx,
  parseIdxHeader,
  readIdx,
  readIdxUnit,
} from "./idx.ts";
export { loadMnist, mnistDataDir, type MnistOptions, type Split } from "./mnist.ts";
export {
  FASHION_SOURCE,
  fashionMnistCachePath,
  type FashionMnistOptions,
  fashionMnistSourceDir,
  type FashionPrepared,
  loadFashionMnist,
  prepareFashionMnist,
} from "./fashion_mnist.ts";
export type { FashionClassStats } from "./_fashion_build.ts";
export {
  CIFAR10_CLASSES,
  CIFAR10_FILES,
  cifar10Folder,
  type Cifar10Options,
  loadCifar10,
} from "./cifar10.ts";
export { syntheticDataset, type SyntheticOptions } from "./synthetic.ts";
export {
  type SplitIndices,
  splitValidation,
  validationIndices,
  type ValidationOptions,
} from "./validation.ts";
export {
  augmentCounter,
  type AugmentOptions,
  type AugmentParams,
  augmentParams,
  cropFlipInto,
} from "./augment.ts";
export { type Batch, BatchLoader, type HostBatch, type LoaderOptions } from "./loader.ts";
export {
  DATASET_NAMES,
  type DatasetName,
  loadDataset,
  type LoadDatasetOptions,
} from "./registry.ts";
export { cacheDir } from "./_files.ts";
