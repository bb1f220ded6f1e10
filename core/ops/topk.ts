/**
 * Top-k masks over one or several score tensors (exact count, ties to the lower index).
 * @module
 */

import { Tensor } from "../tensor.ts";
import { checkInputs, checkStatus, describe } from "./_util.ts";

/**
 * Entries kept out of n at a sparsity: n - floor(sparsity * n), with the floor guarded
 * against binary representation error only (0.29 * 100 counts as 29, not 28.999...): the
 * guard is a few ulps of the product, so 0.041 * 11689512 = 479269.992 still floors to 479269.
 */
export function keptCount(n: number, sparsity: number): number {
  if (!(sparsity >= 0 && sparsity <= 1)) {
    throw new Error(`sparsity must be in [0, 1], got ${sparsity}`);
  }
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`count must be a non-negative integer, got ${n}`);
  }
  const prod = sparsity * n;
  const removed = Math.floor(prod + prod * 8 * Number.EPSILON);
  return n - Math.min(n, removed);
}

/** Options of {@link topkMasks}. */
export interface TopkOptions {
  /** Rank by |score| (default true) or by signed score. */
  useAbs?: boolean;
}

/**
 * 0/1 masks (f32, one per score tensor, same shapes) keeping exactly `keep` entries with the
 * largest scores over the concatenation of all tensors; ties go to the lower index.
 */
export function topkMasks(
  scores: readonly Tensor[],
  keep: number,
  opts: TopkOptions = {},
): Tensor[] {
  if (scores.length === 0) throw new Error("topkMasks: no score tensors");
  const b = checkInputs("topkMasks", scores);
  const total = scores.reduce((n, t) => n + t.size, 0);
  if (!Number.isInteger(keep) || keep < 0 || keep > total) {
    throw new Error(`topkMasks: keep must be an integer in [0, ${total}], got ${keep}`);
  }
  for (const t of scores) {
    if (!t.isContiguous || t.offset !== 0) {
      throw new Error(`topkMasks: scores ${describe(t)} must be dense`);
    }
  }
  const masks = scores.map((t) => Tensor.empty(t.shape, "f32", b));
  const ptrs = new BigUint64Array(scores.length);
  const mptrs = new BigUint64Array(scores.length);
  const sizes = new BigInt64Array(scores.length);
  scores.forEach((t, i) => {
    ptrs[i] = BigInt(Deno.UnsafePointer.value(t.storage.ptr));
    mptrs[i] = BigInt(Deno.UnsafePointer.value(masks[i].storage.ptr));
    sizes[i] = BigInt(t.size);
  });
  checkStatus(
    b,
    b.sym.tp_topk_mask(
      scores.length,
      ptrs,
      sizes,
      BigInt(keep),
      opts.useAbs === false ? 0 : 1,
      mptrs,
    ),
    "topkMasks",
    () => `${scores.length} tensors, keep ${keep} of ${total}`,
    masks,
  );
  return masks;
}
