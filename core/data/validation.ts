/**
 * A validation split held out from training data, so model selection never looks at the
 * test set. Seeded, stratified by default.
 * @module
 */

import { philoxPermutation } from "../random/philox.ts";
import { classCounts, type Dataset, subset } from "./dataset.ts";

/** Options of validationIndices and splitValidation. */
export interface ValidationOptions {
  /** Validation images: a count (an integer >= 1) or a fraction in (0, 1). */
  size: number;
  /** Seed of the draw (seed, "validation", class). */
  seed: number | bigint;
  /** Keep the class proportions (default true). */
  stratified?: boolean;
}

/** Indices of the two parts, each ascending. */
export interface SplitIndices {
  train: Int32Array;
  val: Int32Array;
}

/** The validation count that `size` asks for out of n images. */
function validationCount(size: number, n: number): number {
  const v = size < 1 ? Math.round(size * n) : size;
  if (!(size > 0) || (size >= 1 && !Number.isInteger(size)) || v < 1 || v >= n) {
    throw new Error(
      `validation size must be a fraction in (0, 1) or a count in 1..${n - 1} of ${n} images ` +
        `(leaving at least one training image), got ${size}`,
    );
  }
  return v;
}

/**
 * Chooses validation indices. Stratified: class k gives floor(v * n_k / n) images, and the
 * remaining ones go to the classes with the largest fractional parts (ties: lower class);
 * within class k the chosen images are the first ones of philoxPermutation(n_k, seed,
 * "validation", k) over the class's indices in dataset order. Not stratified: the first v
 * of philoxPermutation(n, seed, "validation", 0). Both parts are returned ascending.
 */
export function validationIndices(
  labels: Int32Array,
  numClasses: number,
  opts: ValidationOptions,
): SplitIndices {
  const n = labels.length;
  const v = validationCount(opts.size, n);
  const isVal = new Uint8Array(n);
  if (opts.stratified ?? true) {
    const counts = classCounts({ labels, numClasses });
    const quota = counts.map((c) => Math.floor((v * c) / n));
    const rest = counts.map((c, k) => ({ k, frac: (v * c) % n }))
      .sort((a, b) => b.frac - a.frac || a.k - b.k);
    let missing = v - quota.reduce((a, b) => a + b, 0);
    for (const { k } of rest) {
      if (missing === 0) break;
      if (quota[k] < counts[k]) {
        quota[k]++;
        missing--;
      }
    }
    const byClass = counts.map((c) => new Int32Array(c));
    const fill = new Int32Array(numClasses);
    for (let i = 0; i < n; i++) byClass[labels[i]][fill[labels[i]]++] = i;
    for (let k = 0; k < numClasses; k++) {
      const perm = philoxPermutation(counts[k], opts.seed, "validation", k);
      for (let j = 0; j < quota[k]; j++) isVal[byClass[k][perm[j]]] = 1;
    }
  } else {
    const perm = philoxPermutation(n, opts.seed, "validation", 0);
    for (let j = 0; j < v; j++) isVal[perm[j]] = 1;
  }
  const train = new Int32Array(n - v), val = new Int32Array(v);
  let a = 0, b = 0;
  for (let i = 0; i < n; i++) {
    if (isVal[i]) val[b++] = i;
    else train[a++] = i;
  }
  return { train, val };
}

/**
 * Splits a training set into `{ train, val }` datasets (copies) with validationIndices;
 * the parts are named "<name>-fit" and "<name>-val".
 */
export function splitValidation(
  ds: Dataset,
  opts: ValidationOptions,
): { train: Dataset; val: Dataset; indices: SplitIndices } {
  const indices = validationIndices(ds.labels, ds.numClasses, opts);
  return {
    train: subset(ds, indices.train, `${ds.name}-fit`),
    val: subset(ds, indices.val, `${ds.name}-val`),
    indices,
  };
}
