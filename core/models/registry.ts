/**
 * Models by name, for configs: `createModel("small_cnn", { seed: 0 })`.
 * @module
 */

import type { ModelOptions } from "./_common.ts";
import type { Classifier } from "./classifier.ts";
import { CaffeLeNet, LeNet5 } from "./lenet.ts";
import { MadryCNN } from "./madry_cnn.ts";
import { MLP } from "./mlp.ts";
import { ResNet } from "./resnet.ts";
import { SmallCNN } from "./small_cnn.ts";
import { VGG } from "./vgg.ts";
import { WideResNet } from "./wide_resnet.ts";

/** Model options plus the per-model extras (width, depth, widen, ...). */
export type ModelSpec = ModelOptions & {
  width?: number;
  depth?: number;
  widen?: number;
  dropRate?: number;
  hydraSubBlock?: boolean;
};

const FACTORIES: Record<
  "mlp" | "lenet5" | "caffe_lenet" | "small_cnn" | "madry_cnn" | "vgg16_bn" | "resnet18" | "wrn",
  (o: ModelSpec) => Classifier
> = {
  mlp: (o: ModelSpec) => new MLP(o),
  lenet5: (o: ModelSpec) => new LeNet5(o),
  caffe_lenet: (o: ModelSpec) => new CaffeLeNet(o),
  small_cnn: (o: ModelSpec) => new SmallCNN(o),
  madry_cnn: (o: ModelSpec) => new MadryCNN(o),
  vgg16_bn: (o: ModelSpec) => new VGG({ ...o, depth: 16, batchNorm: true }),
  resnet18: (o: ModelSpec) => new ResNet({ ...o, blocks: [2, 2, 2, 2] }),
  wrn: (o: ModelSpec) => new WideResNet(o),
};

/** Names accepted by {@link createModel}. */
export type ModelName = keyof typeof FACTORIES;

/** All model names. */
export const MODEL_NAMES = Object.keys(FACTORIES) as ModelName[];

/** Builds a model by name (`wrn` takes depth and widen, default 28 and 10). */
export function createModel(name: string, opts: ModelSpec): Classifier {
  const f = FACTORIES[name as ModelName];
  if (!f) {
    throw new Error(`createModel: unknown model "${name}" (known: ${MODEL_NAMES.join(", ")})`);
  }
  return f(opts);
}
