/**
 * Matrix products: matmul and linear layers (oneDNN sgemm on CPU), with gradients.
 * Transposed views are passed to gemm as transpose flags, never copied.
 * @module
 */

import { record } from "../autograd/node.ts";
import { DTYPE_CODE } from "../dtype.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { denseRaw, plainRaw } from "./_raw.ts";
import { checkInputs, checkStatus, P } from "./_util.ts";
import { sum } from "./reduce.ts";
import { transpose } from "./layout.ts";

/** A 2-D operand as gemm sees it: base tensor, transpose flag and leading dimension. */
interface GemmOperand {
  t: Tensor;
  trans: boolean;
  ld: number;
  owned: boolean;
}

function operand(x: Tensor): GemmOperand {
  const p = plainRaw(x);
  const [r, c] = p.shape;
  const [sr, sc] = p.strides;
  if ((sc === 1 || c === 1) && sr >= Math.max(1, c)) {
    return { t: p, trans: false, ld: sr, owned: p !== x };
  }
  if ((sr === 1 || r === 1) && sc >= Math.max(1, r)) {
    return { t: p, trans: true, ld: sc, owned: p !== x };
  }
  const d = denseRaw(p);
  if (p !== x && d !== p) p.dispose();
  return { t: d, trans: false, ld: Math.max(1, c), owned: d !== x };
}

/** C = alpha * A B + beta * C on 2-D views (C dense row-major). */
export function gemmRaw(a: Tensor, b: Tensor, c: Tensor, alpha = 1, beta = 0): void {
  const backend = checkInputs("gemm", [a, b, c]);
  const [m, k] = a.shape, [k2, n] = b.shape;
  if (a.ndim !== 2 || b.ndim !== 2 || k !== k2 || c.shape[0] !== m || c.shape[1] !== n) {
    throw new Error(
      `gemm: shapes ${fmtShape(a.shape)} x ${fmtShape(b.shape)} -> ${fmtShape(c.shape)}`,
    );
  }
  if (!c.isContiguous) throw new Error("gemm: the output must be dense");
  const A = operand(a), B = operand(b);
  try {
    checkStatus(
      backend,
      backend.sym.tp_gemm(
        A.trans ? 1 : 0,
        B.trans ? 1 : 0,
        BigInt(m),
        BigInt(n),
        BigInt(k),
        alpha,
        A.t.storage.ptr,
        BigInt(A.t.offset),
        BigInt(A.ld),
        B.t.storage.ptr,
        BigInt(B.t.offset),
        BigInt(B.ld),
        beta,
        c.storage.ptr,
        BigInt(c.offset),
        BigInt(Math.max(1, n)),
      ),
      "gemm",
      () => `${fmtShape(a.shape)} x ${fmtShape(b.shape)}`,
    );
  } finally {
    if (A.owned) A.t.dispose();
    if (B.owned) B.t.dispose();
  }
  c.storage.version++;
}

/** Matrix product of 2-D tensors [m, k] x [k, n] -> [m, n]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const backend = checkInputs("matmul", [a, b]);
  if (a.ndim !== 2 || b.ndim !== 2 || a.shape[1] !== b.shape[0]) {
    throw new Error(`matmul: cannot multiply ${fmtShape(a.shape)} by ${fmtShape(b.shape)}`);
  }
  const y = Tensor.empty([a.shape[0], b.shape[1]], "f32", backend);
  try {
    gemmRaw(a, b, y);
  } catch (e) {
    y.dispose();
    throw e;
  }
  return record(y, "matmul", [a, b], [a, b], (gy, needs, [as, bs]) => [
    needs[0] ? matmul(gy, transpose(bs)) : null,
    needs[1] ? matmul(transpose(as), gy) : null,
  ]);
}

/** Broadcasts bias [n] into every row of the dense [m, n] tensor y. */
function fillRows(y: Tensor, bias: Tensor): void {
  const b = y.backend;
  const bd = denseRaw(bias);
  P.shape.write(0, y.shape);
  P.s0.write(0, [0, 1]);
  checkStatus(
    b,
    b.sym.tp_copy_strided(
      DTYPE_CODE.f32,
      2,
      P.shape.buffer,
      bd.storage.ptr,
      P.s0.buffer,
      BigInt(bd.offset),
      y.storage.ptr,
    ),
    "linear",
    "bias broadcast",
    [bd],
    [bias],
  );
  if (bd !== bias) bd.dispose();
}

/** y = x W^T + b for x [N, in], W [out, in], b [out] (PyTorch's nn.Linear). */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null): Tensor {
  const backend = checkInputs("linear", [x, w, b]);
  if (x.ndim !== 2 || w.ndim !== 2 || x.shape[1] !== w.shape[1]) {
    throw new Error(
      `linear: input ${fmtShape(x.shape)} does not match weight ${fmtShape(w.shape)} ` +
        `(expected [N, ${w.shape[1]}])`,
    );
  }
  if (b && (b.ndim !== 1 || b.shape[0] !== w.shape[0])) {
    throw new Error(`linear: bias ${fmtShape(b.shape)} does not match weight ${fmtShape(w.shape)}`);
  }
  const y = Tensor.empty([x.shape[0], w.shape[0]], "f32", backend);
  const wp = plainRaw(w);
  const wt = Tensor.view(wp, [wp.shape[1], wp.shape[0]], [wp.strides[1], wp.strides[0]], wp.offset);
  if (wp !== w) wp.dispose();
  try {
    if (b) fillRows(y, b);
    gemmRaw(x, wt, y, 1, b ? 1 : 0);
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    wt.dispose();
  }
  return record(y, "linear", [x, w, b], [x, w], (gy, needs, [xs, ws]) => [
    needs[0] ? matmul(gy, ws) : null,
    needs[1] ? matmul(transpose(gy), xs) : null,
    needs[2] ? sum(gy, 0) : null,
  ]);
}
