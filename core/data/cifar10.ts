/**
 * CIFAR-10, binary version (cifar-10-binary.tar.gz), read from a folder the user gives:
 * data_batch_1.bin .. data_batch_5.bin (training) and test_batch.bin, each 10,000 records
 * of one label byte and 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, row-major).
 * @module
 */

import { type Dataset, makeDataset } from "./dataset.ts";
import { exists, readFileNamedAsync } from "./_files.ts";
import type { Split } from "./mnist.ts";

/** Class names of CIFAR-10, by label. */
export const CIFAR10_CLASSES: readonly string[] = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

/** The file names of each split. */
export const CIFAR10_FILES: Readonly<Record<Split, readonly string[]>> = {
  train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  test: ["test_batch.bin"],
};

/** Options of loadCifar10. */
export interface Cifar10Options {
  /** Records per file (default 10,000; smaller values are for tests). */
  recordsPerFile?: number;
}

const PIXELS = 3072, RECORD = 1 + PIXELS;
const U8_TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/**
 * The folder holding the binary files: `dir` itself or its `cifar-10-batches-bin`
 * sub-folder (as the archive unpacks). Throws a clear Error when neither holds them.
 */
export function cifar10Folder(dir: string): string {
  const first = CIFAR10_FILES.test[0];
  if (exists(`${dir}/${first}`) || exists(`${dir}/${CIFAR10_FILES.train[0]}`)) return dir;
  const sub = `${dir}/cifar-10-batches-bin`;
  if (exists(`${sub}/${first}`) || exists(`${sub}/${CIFAR10_FILES.train[0]}`)) return sub;
  if (!exists(dir)) throw new Error(`CIFAR-10: folder not found: ${dir}`);
  const pyHint = exists(`${dir}/data_batch_1`) || exists(`${dir}/cifar-10-batches-py`)
    ? " (found the Python pickle version; the binary version, cifar-10-binary.tar.gz, is needed)"
    : "";
  throw new Error(
    `CIFAR-10: expected ${[...CIFAR10_FILES.train, ...CIFAR10_FILES.test].join(", ")} in ${dir} ` +
      `or ${sub}, found none${pyHint}`,
  );
}

/**
 * Loads the CIFAR-10 training (50,000) or test (10,000) images as [3, 32, 32] in [0, 1]
 * with labels 0..9 (see CIFAR10_CLASSES) from the binary files in `dir`. A missing file, a
 * file of the wrong size or a label above 9 throws an Error naming the file, what was
 * expected and what was found.
 */
export async function loadCifar10(
  dir: string,
  split: Split,
  opts: Cifar10Options = {},
): Promise<Dataset> {
  const files = CIFAR10_FILES[split];
  if (!files) throw new Error(`loadCifar10: split must be "train" or "test", got "${split}"`);
  const per = opts.recordsPerFile ?? 10000;
  if (!Number.isInteger(per) || per < 1) {
    throw new Error(`loadCifar10: recordsPerFile must be a positive integer, got ${per}`);
  }
  const folder = cifar10Folder(dir);
  const n = per * files.length;
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  const lut = U8_TO_UNIT;
  for (let f = 0; f < files.length; f++) {
    const path = `${folder}/${files[f]}`;
    const bytes = await readFileNamedAsync(path, "CIFAR-10", `expected in ${folder}`);
    const want = per * RECORD;
    if (bytes.length !== want) {
      const what = bytes.length < want ? "too short" : "too long";
      throw new Error(
        `CIFAR-10 file ${path}: ${what}: expected ${want} bytes (${per} records of 1 label ` +
          `byte + ${PIXELS} pixel bytes), found ${bytes.length}` +
          (bytes.length % RECORD === 0 ? ` (${bytes.length / RECORD} records)` : ""),
      );
    }
    for (let r = 0; r < per; r++) {
      const at = r * RECORD, i = f * per + r;
      const l = bytes[at];
      if (l > 9) {
        throw new Error(
          `CIFAR-10 file ${path}: expected labels 0..9, found ${l} in record ${r} ` +
            `(CIFAR-100's binary version has two label bytes per record)`,
        );
      }
      labels[i] = l;
      const o = i * PIXELS;
      for (let p = 0; p < PIXELS; p++) images[o + p] = lut[bytes[at + 1 + p]];
    }
  }
  return makeDataset(`cifar10-${split}`, images, labels, [3, 32, 32], 10);
}
