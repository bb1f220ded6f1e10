/**
 * N:M semi-structured masks (2:4 for sparse tensor cores): in every group of M consecutive
 * weights along a layer's input dimension (C·R·S for a convolution [K, C, R, S], the input
 * features of a linear layer) exactly N with the largest |w| are kept, ties to the lower
 * index. Layers whose input dimension is not a multiple of M stay dense and are reported.
 * @module
 */

import { fromHost, type MaskSet } from "./masks.ts";

/** Options of {@link pruneNm}. */
export interface NmOptions {
  /** Weights kept per group (default 2). */
  n?: number;
  /** Group size along the input dimension (default 4). */
  m?: number;
}

/** What {@link pruneNm} did. */
export interface NmReport {
  n: number;
  m: number;
  /** Weight names pruned N:M. */
  pruned: string[];
  /** Weight names left dense, with the input size that M does not divide. */
  dense: { name: string; inputSize: number }[];
}

/** The N:M mask of one weight's host values [rows, cols] (cols a multiple of m). */
export function nmMask(w: Float32Array, cols: number, n: number, m: number): Float32Array {
  const mask = new Float32Array(w.length);
  const idx = new Array<number>(m);
  for (let g = 0; g < w.length; g += m) {
    if (g % cols > cols - m) throw new Error(`nmMask: ${cols} columns are not a multiple of ${m}`);
    for (let j = 0; j < m; j++) idx[j] = j;
    // Stable: equal magnitudes keep the lower index first.
    idx.sort((a, b) => Math.abs(w[g + b]) - Math.abs(w[g + a]) || a - b);
    for (let j = 0; j < n; j++) mask[g + idx[j]] = 1;
  }
  return mask;
}

/**
 * Replaces every mask of `masks` by the N:M mask of its layer's current weight (a fresh
 * selection, not restricted to what the old mask kept) and applies them; layers whose input
 * size M does not divide get an all-ones mask and are listed in the report.
 */
export function pruneNm(masks: MaskSet, opts: NmOptions = {}): NmReport {
  const n = opts.n ?? 2, m = opts.m ?? 4;
  if (!Number.isInteger(m) || m < 1 || !Number.isInteger(n) || n < 0 || n > m) {
    throw new Error(`pruneNm: need integers 0 <= n <= m and m >= 1, got n = ${n}, m = ${m}`);
  }
  const report: NmReport = { n, m, pruned: [], dense: [] };
  for (const l of masks.layers) {
    const cols = l.weight.size / l.weight.shape[0];
    if (cols % m !== 0) {
      report.dense.push({ name: l.name, inputSize: cols });
      masks.setMask(l.name, fromHost(l.weight, new Float32Array(l.weight.size).fill(1)));
      continue;
    }
    const w = l.weight.toArray() as Float32Array;
    masks.setMask(l.name, fromHost(l.weight, nmMask(w, cols, n, m)));
    report.pruned.push(l.name);
  }
  masks.apply();
  return report;
}
