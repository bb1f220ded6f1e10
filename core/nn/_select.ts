/**
 * Index selection along the first or second axis of a parameter, for structured pruning
 * (layers that drop filters, channels or features in place).
 * @module
 */

import { copyFromHost } from "../ops/create.ts";
import { Tensor } from "../tensor.ts";

/** Checks a list of kept indices: strictly increasing, within [0, n), not empty. */
export function checkIndices(what: string, idx: readonly number[], n: number): void {
  if (idx.length === 0) throw new Error(`${what}: cannot keep none of ${n}`);
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (!Number.isInteger(v) || v < 0 || v >= n || (i > 0 && v <= idx[i - 1])) {
      throw new Error(
        `${what}: kept indices must be increasing integers in [0, ${n}), got ${v} at ${i}`,
      );
    }
  }
}

/** A new f32 tensor (on t's device) holding t's slices `idx` along `axis` (0 or 1). */
export function selectAlong(t: Tensor, axis: 0 | 1, idx: readonly number[]): Tensor {
  const src = t.toArray() as Float32Array;
  const shape = [...t.shape];
  const outer = axis === 0 ? 1 : shape[0];
  const n = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  shape[axis] = idx.length;
  const dst = new Float32Array(outer * idx.length * inner);
  for (let o = 0; o < outer; o++) {
    idx.forEach((k, j) => {
      const from = (o * n + k) * inner, to = (o * idx.length + j) * inner;
      dst.set(src.subarray(from, from + inner), to);
    });
  }
  const out = Tensor.empty(shape, "f32", t.backend);
  copyFromHost(out, dst);
  return out;
}
