/**
 * Euclidean projections of a weight onto a sparsity set, on host arrays: keep the
 * `keptCount(groups, sparsity)` groups of largest L2 norm and zero the rest. A group is one
 * weight (`irregular`), one output filter W[o, :, :, :] (`filter`) or one column of the
 * weight as a matrix [out, in·kh·kw], i.e. W[:, c, r, s] (`column`). Keeping the largest-norm
 * groups is the exact projection onto "at most k non-zero groups" (ADMM's Z-update; the hard
 * prune that follows it). Ties go to the lower index, as in core's `topkMasks`.
 * @module
 */

import { keptCount } from "@topiary/core";

/** Which groups of a weight are kept or removed together. */
export type Structure = "irregular" | "filter" | "column";

/** The structures, for configs and errors. */
export const STRUCTURES: readonly Structure[] = ["irregular", "filter", "column"];

/** Options of {@link projectionMask} and {@link projectSparse}. */
export interface ProjectionOptions {
  /** Fraction of the groups removed, in [0, 1]. */
  sparsity: number;
  structure: Structure;
}

function dims(shape: readonly number[]): { out: number; inner: number } {
  if (shape.length < 2) {
    throw new Error(`projection: a weight needs at least 2 dims, got [${shape}]`);
  }
  const out = shape[0];
  return { out, inner: shape.slice(1).reduce((a, b) => a * b, 1) };
}

/** Number of groups of a weight of `shape` under `structure`. */
export function groupCount(shape: readonly number[], structure: Structure): number {
  const { out, inner } = dims(shape);
  switch (structure) {
    case "irregular":
      return out * inner;
    case "filter":
      return out;
    case "column":
      return inner;
    default:
      throw new Error(
        `unknown structure "${structure}" (known: ${STRUCTURES.join(", ")})`,
      );
  }
}

/** Squared L2 norm of every group. */
export function groupNorms(
  values: Float32Array,
  shape: readonly number[],
  structure: Structure,
): Float64Array {
  const { out, inner } = dims(shape);
  if (values.length !== out * inner) {
    throw new Error(`projection: ${values.length} values do not fill a weight of [${shape}]`);
  }
  const n = new Float64Array(groupCount(shape, structure));
  if (structure === "irregular") {
    for (let i = 0; i < values.length; i++) n[i] = values[i] * values[i];
  } else if (structure === "filter") {
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let j = 0, b = o * inner; j < inner; j++) s += values[b + j] * values[b + j];
      n[o] = s;
    }
  } else {
    for (let o = 0; o < out; o++) {
      for (let j = 0, b = o * inner; j < inner; j++) n[j] += values[b + j] * values[b + j];
    }
  }
  return n;
}

/** 0/1 per group: the `keep` groups of largest score (ties to the lower index). */
export function topGroups(score: Float64Array, keep: number): Uint8Array {
  const out = new Uint8Array(score.length);
  if (keep <= 0) return out;
  if (keep >= score.length) return out.fill(1);
  // The keep-th largest score is the threshold; take everything above it, then ties in order.
  const sorted = Float64Array.from(score).sort();
  const t = sorted[score.length - keep];
  let left = keep;
  for (let i = 0; i < score.length; i++) {
    if (score[i] > t) {
      out[i] = 1;
      left--;
    }
  }
  for (let i = 0; i < score.length && left > 0; i++) {
    if (score[i] === t) {
      out[i] = 1;
      left--;
    }
  }
  return out;
}

/** Expands a per-group 0/1 vector to a per-weight 0/1 mask (f32, the MaskSet format). */
export function expandGroups(
  groups: Uint8Array,
  shape: readonly number[],
  structure: Structure,
): Float32Array {
  const { out, inner } = dims(shape);
  const m = new Float32Array(out * inner);
  for (let o = 0; o < out; o++) {
    for (let j = 0, b = o * inner; j < inner; j++) {
      const g = structure === "irregular" ? b + j : structure === "filter" ? o : j;
      m[b + j] = groups[g];
    }
  }
  return m;
}

/** The 0/1 mask of the projection of `values` onto the sparsity set. */
export function projectionMask(
  values: Float32Array,
  shape: readonly number[],
  o: ProjectionOptions,
): Float32Array {
  if (!(o.sparsity >= 0 && o.sparsity <= 1)) {
    throw new Error(`projection: sparsity must be in [0, 1], got ${o.sparsity}`);
  }
  const norms = groupNorms(values, shape, o.structure);
  const keep = keptCount(norms.length, o.sparsity);
  return expandGroups(topGroups(norms, keep), shape, o.structure);
}

/** The projection itself: `values` with the removed groups zeroed (a new array). */
export function projectSparse(
  values: Float32Array,
  shape: readonly number[],
  o: ProjectionOptions,
): Float32Array {
  const m = projectionMask(values, shape, o);
  return values.map((v, i) => (m[i] ? v : 0));
}
