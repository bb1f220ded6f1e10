/**
 * Layout ops: views (reshape, permute, slice, expand), copies (contiguous, toPlain), concat.
 * Every op returns a new handle that the caller owns; views share storage.
 * @module
 */

import { record } from "../autograd/node.ts";
import { DTYPE_CODE } from "../dtype.ts";
import { contiguousStrides, fmtShape, numel, Tensor } from "../tensor.ts";
import { copyRaw, fullRaw, plainRaw } from "./_raw.ts";
import { checkInputs, checkStatus, describe, normAxis, P } from "./_util.ts";
import { sumToShape } from "./reduce.ts";

function sameView(t: Tensor): Tensor {
  return Tensor.view(t, t.shape, t.strides, t.offset);
}

/** A plain-layout tensor with t's values (a view when t is already plain). */
export function toPlain(t: Tensor): Tensor {
  checkInputs("toPlain", [t], null);
  const y = t.fmt === 0 ? sameView(t) : plainRaw(t);
  return record(y, "toPlain", [t], [], (gy) => [sameView(gy)]);
}

/** A dense row-major tensor with t's values (a view when t already is one). */
export function contiguous(t: Tensor): Tensor {
  checkInputs("contiguous", [t], null);
  const y = t.isContiguous ? sameView(t) : copyRaw(t);
  return record(y, "contiguous", [t], [], (gy) => [sameView(gy)]);
}

/** A new tensor with t's values, not connected to the tape. */
export function detach(t: Tensor): Tensor {
  t.assertAlive("detach");
  return sameView(t);
}

/** A dense copy that does not share storage with t. */
export function clone(t: Tensor): Tensor {
  checkInputs("clone", [t], null);
  return record(copyRaw(t), "clone", [t], [], (gy) => [sameView(gy)]);
}

/** Resolves a shape with at most one -1 against a size. */
function resolveShape(op: string, shape: readonly number[], size: number, from: readonly number[]) {
  const out = shape.slice();
  const free = out.indexOf(-1);
  if (free >= 0) {
    if (out.indexOf(-1, free + 1) >= 0) {
      throw new Error(`${op}: more than one -1 in ${fmtShape(shape)}`);
    }
    const rest = numel(out.filter((_, i) => i !== free));
    if (rest === 0 || size % rest !== 0) {
      throw new Error(`${op}: cannot infer -1 in ${fmtShape(shape)} for ${size} elements`);
    }
    out[free] = size / rest;
  }
  for (const d of out) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmtShape(shape)}`);
  }
  if (numel(out) !== size) {
    throw new Error(
      `${op}: cannot view ${fmtShape(from)} (${size} elements) as ${fmtShape(shape)}`,
    );
  }
  return out;
}

/** Reshapes (one dim may be -1); a view when the layout allows, else a copy. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  checkInputs("reshape", [t], null);
  const s = resolveShape("reshape", shape, t.size, t.shape);
  const src = t.isContiguous ? t : copyRaw(t);
  const y = Tensor.view(src, s, contiguousStrides(s), src.offset);
  if (src !== t) src.dispose();
  const inShape = t.shape.slice();
  return record(y, "reshape", [t], [], (gy) => [reshape(gy, inShape)]);
}

/** Flattens dims from `startDim` to the end into one (default: keep the batch dim). */
export function flatten(t: Tensor, startDim = 1): Tensor {
  const a = normAxis("flatten", startDim, t.ndim);
  return reshape(t, [...t.shape.slice(0, a), numel(t.shape.slice(a))]);
}

/** Inserts a size-1 dim at `axis`. */
export function unsqueeze(t: Tensor, axis: number): Tensor {
  const a = normAxis("unsqueeze", axis, t.ndim + 1);
  const s = t.shape.slice();
  s.splice(a, 0, 1);
  return reshape(t, s);
}

/** Removes size-1 dims (all, or the one at `axis`). */
export function squeeze(t: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(t, t.shape.filter((d) => d !== 1));
  const a = normAxis("squeeze", axis, t.ndim);
  if (t.shape[a] !== 1) throw new Error(`squeeze: dim ${axis} of ${fmtShape(t.shape)} is not 1`);
  return reshape(t, t.shape.filter((_, i) => i !== a));
}

/** Permutes dims (a view). */
export function permute(t: Tensor, axes: readonly number[]): Tensor {
  checkInputs("permute", [t], null);
  const n = t.ndim;
  const ax = axes.map((a) => normAxis("permute", a, n));
  if (ax.length !== n || new Set(ax).size !== n) {
    throw new Error(`permute: [${axes.join(", ")}] is not a permutation of ${n} dims`);
  }
  const src = plainRaw(t);
  const y = Tensor.view(
    src,
    ax.map((a) => src.shape[a]),
    ax.map((a) => src.strides[a]),
    src.offset,
  );
  if (src !== t) src.dispose();
  const inv = new Array<number>(n);
  ax.forEach((a, i) => (inv[a] = i));
  return record(y, "permute", [t], [], (gy) => [permute(gy, inv)]);
}

/** Swaps two dims (a view); defaults to the last two. */
export function transpose(t: Tensor, a = -2, b = -1): Tensor {
  const n = t.ndim;
  const axes = Array.from({ length: n }, (_, i) => i);
  const i = normAxis("transpose", a, n), j = normAxis("transpose", b, n);
  [axes[i], axes[j]] = [axes[j], axes[i]];
  return permute(t, axes);
}

/** Elements [start, end) of `axis` with a positive step (a view). */
export function slice(t: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  checkInputs("slice", [t], null);
  const a = normAxis("slice", axis, t.ndim);
  const d = t.shape[a];
  const e = end === undefined ? d : end < 0 ? end + d : Math.min(end, d);
  const s = start < 0 ? start + d : start;
  if (
    !Number.isInteger(s) || !Number.isInteger(e) || !Number.isInteger(step) || step < 1 ||
    s < 0 || s > e
  ) {
    throw new Error(`slice: [${start}, ${end}) step ${step} is invalid for dim ${a} of size ${d}`);
  }
  const src = plainRaw(t);
  const shape = src.shape.slice(), strides = src.strides.slice();
  shape[a] = Math.ceil((e - s) / step);
  strides[a] *= step;
  const y = Tensor.view(src, shape, strides, src.offset + s * src.strides[a]);
  if (src !== t) src.dispose();
  const inShape = t.shape.slice();
  return record(y, "slice", [t], [], (gy) => [sliceBackward(gy, inShape, a, s, step)]);
}

/** Writes the strided view `dst` (shape of src) with src's values (no autograd). */
export function assignRaw(dst: Tensor, src: Tensor): void {
  const b = checkInputs("assign", [dst, src], null);
  if (dst.dtype !== src.dtype) throw new Error(`assign: ${describe(dst)} from ${describe(src)}`);
  if (dst.fmt !== 0) throw new Error(`assign: destination ${describe(dst)} must be plain`);
  const p = plainRaw(src);
  P.shape.write(0, p.shape);
  P.s0.write(0, p.strides);
  P.s1.write(0, dst.strides);
  checkStatus(
    b,
    b.sym.tp_assign(
      DTYPE_CODE[p.dtype],
      p.ndim,
      P.shape.buffer,
      p.storage.ptr,
      P.s0.buffer,
      BigInt(p.offset),
      dst.storage.ptr,
      P.s1.buffer,
      BigInt(dst.offset),
    ),
    "assign",
    () => `${describe(src)} into ${describe(dst)}`,
    [p],
    [src],
  );
  if (p !== src) p.dispose();
  dst.storage.version++;
}

function sliceBackward(gy: Tensor, shape: number[], axis: number, start: number, step: number) {
  const gx = fullRaw(shape, 0, "f32", gy.backend);
  const strides = gx.strides.slice();
  strides[axis] *= step;
  const region = Tensor.view(gx, gy.shape, strides, start * gx.strides[axis]);
  assignRaw(region, gy);
  region.dispose();
  return gx;
}

/** Broadcasts t to `shape` (a view with zero strides). */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  checkInputs("expand", [t], null);
  const n = shape.length, k = t.ndim;
  if (k > n) throw new Error(`expand: ${fmtShape(t.shape)} has more dims than ${fmtShape(shape)}`);
  const src = plainRaw(t);
  const strides = new Array<number>(n).fill(0);
  for (let i = 0; i < k; i++) {
    const d = src.shape[i], want = shape[n - k + i];
    if (d === want) strides[n - k + i] = src.strides[i];
    else if (d !== 1) {
      if (src !== t) src.dispose();
      throw new Error(`expand: cannot broadcast ${fmtShape(t.shape)} to ${fmtShape(shape)}`);
    }
  }
  const y = Tensor.view(src, shape, strides, src.offset);
  if (src !== t) src.dispose();
  const inShape = t.shape.slice();
  return record(y, "expand", [t], [], (gy) => [sumToShape(gy, inShape)]);
}

/** Concatenates tensors along `axis` (same dtype, device and other dims). */
export function cat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error("cat: no tensors");
  const b = checkInputs("cat", tensors, null);
  const first = tensors[0];
  const a = normAxis("cat", axis, first.ndim);
  let total = 0;
  for (const t of tensors) {
    if (
      t.ndim !== first.ndim || t.dtype !== first.dtype ||
      t.shape.some((d, i) => i !== a && d !== first.shape[i])
    ) {
      throw new Error(`cat: ${describe(t)} does not match ${describe(first)} along axis ${a}`);
    }
    total += t.shape[a];
  }
  const shape = first.shape.slice();
  shape[a] = total;
  const y = Tensor.empty(shape, first.dtype, b);
  let at = 0;
  const starts: number[] = [];
  for (const t of tensors) {
    starts.push(at);
    const region = Tensor.view(y, t.shape, y.strides, at * y.strides[a]);
    try {
      if (t.size > 0) assignRaw(region, t);
    } catch (e) {
      y.dispose();
      throw e;
    } finally {
      region.dispose();
    }
    at += t.shape[a];
  }
  const sizes = tensors.map((t) => t.shape[a]);
  return record(
    y,
    "cat",
    tensors,
    [],
    (gy) => sizes.map((n, i) => contiguous(slice(gy, a, starts[i], starts[i] + n))),
  );
}
