/**
 * Raw kernels: native calls that produce new tensors without recording autograd nodes.
 * The public ops build on these and add gradients.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { type DType, DTYPE_BYTES, DTYPE_CODE } from "../dtype.ts";
import { contiguousStrides, fmtShape, formatBytes, Tensor } from "../tensor.ts";
import {
  broadcastShapes,
  broadcastStrides,
  checkInputs,
  checkStatus,
  describe,
  P,
} from "./_util.ts";

/** Native unary op codes (`enum tp_unary_op`). */
export const UnaryOp = {
  COPY: 0,
  NEG: 1,
  RELU: 2,
  SIGN: 3,
  ABS: 4,
  EXP: 5,
  LOG: 6,
  SQRT: 7,
  POW: 8,
  CLAMP: 9,
  AFFINE: 10,
  SQUARE: 11,
  RECIPROCAL: 12,
  RSQRT: 13,
  TANH: 14,
  SIGMOID: 15,
  CLAMP_MASK: 16,
} as const;

/** Native binary op codes (`enum tp_binary_op`). */
export const BinaryOp = {
  ADD: 0,
  SUB: 1,
  MUL: 2,
  DIV: 3,
  MAX: 4,
  MIN: 5,
  EQ: 6,
  NE: 7,
  LT: 8,
  LE: 9,
  GT: 10,
  GE: 11,
  RELU_BACKWARD: 12,
  POW: 13,
} as const;

/** Native reduction codes (`enum tp_reduce_op`). */
export const ReduceOp = {
  SUM: 0,
  MEAN: 1,
  MAX: 2,
  MIN: 3,
  ARGMAX: 4,
  ARGMIN: 5,
  SUM_SQUARES: 6,
} as const;

const ZERO_PRESERVING_UNARY = new Set<number>([
  UnaryOp.COPY,
  UnaryOp.NEG,
  UnaryOp.RELU,
  UnaryOp.SIGN,
  UnaryOp.ABS,
  UnaryOp.SQRT,
  UnaryOp.SQUARE,
  UnaryOp.TANH,
]);
const ZERO_PRESERVING_BINARY = new Set<number>([
  BinaryOp.ADD,
  BinaryOp.SUB,
  BinaryOp.MUL,
  BinaryOp.MAX,
  BinaryOp.MIN,
  BinaryOp.NE,
  BinaryOp.LT,
  BinaryOp.GT,
  BinaryOp.RELU_BACKWARD,
]);

/** Elements of a tensor's buffer in its native format (padded), for flat kernels. */
function formatElems(t: Tensor): number {
  return formatBytes(t.backend, t.fmt) / DTYPE_BYTES[t.dtype];
}

/** A dense plain copy of a native-format tensor (the tensor itself when plain). */
export function plainRaw(t: Tensor): Tensor {
  if (t.fmt === 0) return t;
  const b = t.backend;
  const y = Tensor.empty(t.shape, t.dtype, b);
  P.shape.write(0, t.shape);
  checkStatus(
    b,
    b.sym.tp_reorder(t.ndim, P.shape.buffer, t.fmt, t.storage.ptr, 0, y.storage.ptr),
    "reorder",
    () => `to plain from native format ${t.fmt}, ${describe(t)}`,
    [y],
  );
  return y;
}

/** Copies a tensor into native format `fmt` (fmt > 0). */
export function toFormatRaw(t: Tensor, fmt: number): Tensor {
  if (t.fmt === fmt) return t;
  const src = plainRaw(t);
  const dense = denseRaw(src);
  const b = t.backend;
  const y = Tensor.empty(t.shape, t.dtype, b, fmt);
  P.shape.write(0, t.shape);
  checkStatus(
    b,
    b.sym.tp_reorder(t.ndim, P.shape.buffer, 0, dense.storage.ptr, fmt, y.storage.ptr),
    "reorder",
    () => `to native format ${fmt}, ${describe(t)}`,
    [y, src, dense],
    [t],
  );
  if (src !== t) src.dispose();
  if (dense !== src && dense !== t) dense.dispose();
  return y;
}

/** t in native format `fmt` (0: dense plain); t itself when already so (do not dispose). */
export function asFormatRaw(t: Tensor, fmt: number): Tensor {
  return fmt === 0 ? denseRaw(t) : toFormatRaw(t, fmt);
}

/**
 * A plain, row-major tensor with offset 0 holding t's values: t itself when it already is
 * one (then the caller must not dispose it), else a new tensor.
 */
export function denseRaw(t: Tensor): Tensor {
  if (t.fmt !== 0) return plainRaw(t);
  if (t.isContiguous && t.offset === 0) return t;
  return copyRaw(t);
}

/** A dense row-major copy of any plain tensor (any dtype). */
export function copyRaw(t: Tensor): Tensor {
  const src = plainRaw(t);
  const b = src.backend;
  const y = Tensor.empty(src.shape, src.dtype, b);
  if (y.size > 0) {
    P.shape.write(0, src.shape);
    P.s0.write(0, src.strides);
    checkStatus(
      b,
      b.sym.tp_copy_strided(
        DTYPE_CODE[src.dtype],
        src.ndim,
        P.shape.buffer,
        src.storage.ptr,
        P.s0.buffer,
        BigInt(src.offset),
        y.storage.ptr,
      ),
      "copy",
      () => describe(src),
      [y, src],
      [t],
    );
  }
  if (src !== t) src.dispose();
  return y;
}

/** y = f(x; a, b), keeping native formats when f(0) = 0. */
export function unaryRaw(op: number, x: Tensor, a = 0, b = 0, name = "unary"): Tensor {
  const backend = checkInputs(name, [x]);
  const flat = x.fmt !== 0 &&
    (ZERO_PRESERVING_UNARY.has(op) || (op === UnaryOp.AFFINE && b === 0) ||
      (op === UnaryOp.POW && a > 0) || (op === UnaryOp.CLAMP && a <= 0 && b >= 0));
  if (flat) {
    const y = Tensor.empty(x.shape, x.dtype, backend, x.fmt);
    const n = formatElems(x);
    P.shape.set(0, n);
    P.s0.set(0, 1);
    checkStatus(
      backend,
      backend.sym.tp_unary(
        op,
        1,
        P.shape.buffer,
        x.storage.ptr,
        P.s0.buffer,
        0n,
        y.storage.ptr,
        a,
        b,
      ),
      name,
      () => describe(x),
      [y],
    );
    return y;
  }
  const src = plainRaw(x);
  const y = Tensor.empty(src.shape, "f32", backend);
  if (y.size > 0) {
    P.shape.write(0, src.shape);
    P.s0.write(0, src.strides);
    checkStatus(
      backend,
      backend.sym.tp_unary(
        op,
        src.ndim,
        P.shape.buffer,
        src.storage.ptr,
        P.s0.buffer,
        BigInt(src.offset),
        y.storage.ptr,
        a,
        b,
      ),
      name,
      () => describe(x),
      [y, src],
      [x],
    );
  }
  if (src !== x) src.dispose();
  return y;
}

/** y = a op b with broadcasting; same-format native tensors of one shape stay native. */
export function binaryRaw(op: number, a: Tensor, b: Tensor, name = "binary"): Tensor {
  const backend = checkInputs(name, [a, b]);
  if (
    a.fmt !== 0 && a.fmt === b.fmt && ZERO_PRESERVING_BINARY.has(op) &&
    a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i])
  ) {
    const y = Tensor.empty(a.shape, "f32", backend, a.fmt);
    P.shape.set(0, formatElems(a));
    P.s0.set(0, 1);
    checkStatus(
      backend,
      backend.sym.tp_binary(
        op,
        1,
        P.shape.buffer,
        a.storage.ptr,
        P.s0.buffer,
        0n,
        b.storage.ptr,
        P.s0.buffer,
        0n,
        y.storage.ptr,
      ),
      name,
      () => `${describe(a)} and ${describe(b)}`,
      [y],
    );
    return y;
  }
  const pa = plainRaw(a), pb = plainRaw(b);
  const shape = broadcastShapes(name, pa.shape, pb.shape);
  const y = Tensor.empty(shape, "f32", backend);
  if (y.size > 0) {
    P.shape.write(0, shape);
    P.s0.write(0, broadcastStrides(pa, shape));
    P.s1.write(0, broadcastStrides(pb, shape));
    checkStatus(
      backend,
      backend.sym.tp_binary(
        op,
        shape.length,
        P.shape.buffer,
        pa.storage.ptr,
        P.s0.buffer,
        BigInt(pa.offset),
        pb.storage.ptr,
        P.s1.buffer,
        BigInt(pb.offset),
        y.storage.ptr,
      ),
      name,
      () => `${describe(a)} and ${describe(b)}`,
      [y, pa, pb],
      [a, b],
    );
  }
  if (pa !== a) pa.dispose();
  if (pb !== b) pb.dispose();
  return y;
}

/** y = cond != 0 ? a : b with broadcasting over all three. */
export function whereRaw(cond: Tensor, a: Tensor, b: Tensor, name = "where"): Tensor {
  const backend = checkInputs(name, [cond, a, b]);
  const pc = plainRaw(cond), pa = plainRaw(a), pb = plainRaw(b);
  const shape = broadcastShapes(name, broadcastShapes(name, pc.shape, pa.shape), pb.shape);
  const y = Tensor.empty(shape, "f32", backend);
  if (y.size > 0) {
    P.shape.write(0, shape);
    P.s0.write(0, broadcastStrides(pc, shape));
    P.s1.write(0, broadcastStrides(pa, shape));
    P.s2.write(0, broadcastStrides(pb, shape));
    checkStatus(
      backend,
      backend.sym.tp_where(
        shape.length,
        P.shape.buffer,
        pc.storage.ptr,
        P.s0.buffer,
        BigInt(pc.offset),
        pa.storage.ptr,
        P.s1.buffer,
        BigInt(pa.offset),
        pb.storage.ptr,
        P.s2.buffer,
        BigInt(pb.offset),
        y.storage.ptr,
      ),
      name,
      () => `${describe(cond)}, ${describe(a)}, ${describe(b)}`,
      [y, pc, pa, pb],
      [cond, a, b],
    );
  }
  for (const [p, o] of [[pc, cond], [pa, a], [pb, b]]) if (p !== o) p.dispose();
  return y;
}

/**
 * Reduces `x` over `axes` (sorted, unique, in range). The output has the kept dims
 * (keepDims: reduced dims as 1). Arg reductions over several axes give row-major indices.
 */
export function reduceRaw(
  op: number,
  x: Tensor,
  axes: readonly number[],
  keepDims: boolean,
  name = "reduce",
): Tensor {
  const backend = checkInputs(name, [x]);
  const src = plainRaw(x);
  const red = new Set(axes);
  const keepShape: number[] = [], keepStrides: number[] = [];
  const redShape: number[] = [], redStrides: number[] = [];
  for (let i = 0; i < src.ndim; i++) {
    if (red.has(i)) {
      redShape.push(src.shape[i]);
      redStrides.push(src.strides[i]);
    } else {
      keepShape.push(src.shape[i]);
      keepStrides.push(src.strides[i]);
    }
  }
  const outShape = keepDims ? src.shape.map((d, i) => (red.has(i) ? 1 : d)) : keepShape;
  const isArg = op === ReduceOp.ARGMAX || op === ReduceOp.ARGMIN;
  const y = Tensor.empty(outShape, isArg ? "i32" : "f32", backend);
  if (y.size > 0) {
    P.keepShape.write(0, keepShape);
    P.keepStrides.write(0, keepStrides);
    P.redShape.write(0, redShape);
    P.redStrides.write(0, redStrides);
    const s = backend.sym.tp_reduce(
      op,
      keepShape.length,
      P.keepShape.buffer,
      P.keepStrides.buffer,
      redShape.length,
      P.redShape.buffer,
      P.redStrides.buffer,
      src.storage.ptr,
      BigInt(src.offset),
      y.storage.ptr,
    );
    checkStatus(backend, s, name, () => `${describe(x)} over axes [${axes.join(", ")}]`, [
      y,
      src,
    ], [x]);
  }
  if (src !== x) src.dispose();
  return y;
}

/** A new tensor of `shape` filled with `value`. */
export function fullRaw(
  shape: readonly number[],
  value: number,
  dtype: DType,
  backend: Backend,
): Tensor {
  const t = Tensor.empty(shape, dtype, backend);
  if (t.size > 0) {
    checkStatus(
      backend,
      backend.sym.tp_fill(DTYPE_CODE[dtype], t.storage.ptr, 0n, BigInt(t.size), value),
      "full",
      () => `${fmtShape(shape)} ${dtype}`,
      [t],
    );
  }
  return t;
}

/** A dense view of a contiguous tensor with another shape (same element count). */
export function reshapeView(t: Tensor, shape: readonly number[]): Tensor {
  return Tensor.view(t, shape, contiguousStrides(shape), t.offset);
}
