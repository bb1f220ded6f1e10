/**
 * Sparse inference ops: CSR matrices built from (masked) dense weights, a CSR linear layer and
 * a direct sparse convolution. Forward only: they record no autograd node and refuse inputs
 * that need gradients. Backends that lack the kernels say so (`supportsOp`).
 * @module
 */

import { type Backend, Int64Params } from "@topiary/ffi";
import { fmtShape, Tensor } from "../tensor.ts";
import { denseRaw } from "./_raw.ts";
import { checkInputs, checkStatus, describe } from "./_util.ts";
import { type Conv2dOptions, convParams } from "./conv.ts";
import { checkNoGrad, requireOp, withPlainInputs } from "./_sparse_util.ts";

/** A CSR matrix [rows, cols] on one device: i32 row pointers and column indices, f32 values. */
export class CsrMatrix {
  /** Rows, columns and stored (non-zero) entries. */
  readonly rows: number;
  readonly cols: number;
  readonly nnz: number;
  /** i32 [rows + 1]. */
  readonly rowPtr: Tensor;
  /** i32 [nnz]. */
  readonly colIdx: Tensor;
  /** f32 [nnz]. */
  readonly values: Tensor;

  constructor(
    rows: number,
    cols: number,
    nnz: number,
    rowPtr: Tensor,
    colIdx: Tensor,
    values: Tensor,
  ) {
    this.rows = rows;
    this.cols = cols;
    this.nnz = nnz;
    this.rowPtr = rowPtr;
    this.colIdx = colIdx;
    this.values = values;
  }

  /** Fraction of stored entries, nnz / (rows * cols). */
  get density(): number {
    return this.nnz / (this.rows * this.cols);
  }

  /** The device holding the matrix. */
  get backend(): Backend {
    return this.values.backend;
  }

  /** Keeps the matrix's tensors alive past the enclosing `tidy` scopes. */
  keep(): this {
    this.rowPtr.keep(), this.colIdx.keep(), this.values.keep();
    return this;
  }

  /** Frees the three tensors. */
  dispose(): void {
    this.rowPtr.dispose(), this.colIdx.dispose(), this.values.dispose();
  }
}

/** The CSR form of a weight: rows = its first dim, columns = the product of the others. */
export function csrFromDense(w: Tensor): CsrMatrix {
  const b = checkInputs("csrFromDense", [w]);
  requireOp(b, "tp_csr_from_dense", "csrFromDense");
  if (w.ndim < 2) throw new Error(`csrFromDense: weight ${describe(w)} must have >= 2 dims`);
  const rows = w.shape[0], cols = w.size / rows;
  const dense = denseRaw(w);
  try {
    const nnzOut = new BigInt64Array(1);
    b.check(
      b.sym.tp_csr_count!(BigInt(rows), BigInt(cols), dense.storage.ptr, nnzOut),
      "csrFromDense",
    );
    const nnz = Number(nnzOut[0]);
    const rowPtr = Tensor.empty([rows + 1], "i32", b);
    const colIdx = Tensor.empty([nnz], "i32", b);
    const values = Tensor.empty([nnz], "f32", b);
    checkStatus(
      b,
      b.sym.tp_csr_from_dense!(
        BigInt(rows),
        BigInt(cols),
        dense.storage.ptr,
        BigInt(nnz),
        rowPtr.storage.ptr,
        colIdx.storage.ptr,
        values.storage.ptr,
      ),
      "csrFromDense",
      () => describe(w),
      [rowPtr, colIdx, values],
    );
    return new CsrMatrix(rows, cols, nnz, rowPtr, colIdx, values);
  } finally {
    if (dense !== w) dense.dispose();
  }
}

/** y = x Wᵀ + bias with W a CSR [out, in]: x [N, in] -> y [N, out]. Forward only. */
export function csrLinear(x: Tensor, w: CsrMatrix, bias: Tensor | null = null): Tensor {
  const b = checkInputs("csrLinear", [x, w.values, bias]);
  requireOp(b, "tp_csr_linear", "csrLinear");
  checkNoGrad("csrLinear", x, bias);
  if (x.ndim !== 2 || x.shape[1] !== w.cols) {
    throw new Error(`csrLinear: input ${describe(x)} does not match weight [${w.rows}, ${w.cols}]`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== w.rows)) {
    throw new Error(`csrLinear: bias ${fmtShape(bias.shape)} does not match ${w.rows} outputs`);
  }
  return withPlainInputs(x, bias, (xIn, bIn) => {
    const y = Tensor.empty([x.shape[0], w.rows], "f32", b);
    checkStatus(
      b,
      b.sym.tp_csr_linear!(
        BigInt(x.shape[0]),
        BigInt(w.cols),
        BigInt(w.rows),
        BigInt(w.nnz),
        xIn.storage.ptr,
        w.rowPtr.storage.ptr,
        w.colIdx.storage.ptr,
        w.values.storage.ptr,
        bIn ? bIn.storage.ptr : null,
        y.storage.ptr,
      ),
      "csrLinear",
      () => `input ${describe(x)}, weight [${w.rows}, ${w.cols}] with ${w.nnz} non-zeros`,
      [y],
    );
    return y;
  });
}

const convParamBuf = new Int64Params(16);

/**
 * Direct sparse convolution: x [N, C, H, W] with a CSR weight [K, C*R*S] of a kernel
 * `kernel` = [R, S] -> y [N, K, P, Q] (plain layout). Forward only.
 */
export function sparseConv2d(
  x: Tensor,
  w: CsrMatrix,
  kernel: readonly [number, number],
  bias: Tensor | null = null,
  opts: Conv2dOptions = {},
): Tensor {
  const b = checkInputs("sparseConv2d", [x, w.values, bias]);
  requireOp(b, "tp_sparse_conv2d_fwd", "sparseConv2d");
  checkNoGrad("sparseConv2d", x, bias);
  const [R, S] = kernel;
  if (x.ndim !== 4 || x.shape[1] * R * S !== w.cols) {
    throw new Error(
      `sparseConv2d: input ${describe(x)} does not match weight [${w.rows}, ${w.cols}] with ` +
        `kernel ${R}x${S}`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== w.rows)) {
    throw new Error(`sparseConv2d: bias ${fmtShape(bias.shape)} does not match ${w.rows} filters`);
  }
  const p = convParams(x.shape, [w.rows, x.shape[1], R, S], bias !== null, opts);
  const [, , H, W, , , , sh, sw, pt, pl, pb, pr, dh, dw] = p;
  const P = Math.floor((H + pt + pb - ((R - 1) * dh + 1)) / sh) + 1;
  const Q = Math.floor((W + pl + pr - ((S - 1) * dw + 1)) / sw) + 1;
  if (!(P >= 1 && Q >= 1)) {
    throw new Error(`sparseConv2d: input ${describe(x)} gives an empty output ${P}x${Q}`);
  }
  convParamBuf.write(0, p);
  return withPlainInputs(x, bias, (xIn, bIn) => {
    const y = Tensor.empty([x.shape[0], w.rows, P, Q], "f32", b);
    checkStatus(
      b,
      b.sym.tp_sparse_conv2d_fwd!(
        convParamBuf.buffer,
        BigInt(w.nnz),
        xIn.storage.ptr,
        w.rowPtr.storage.ptr,
        w.colIdx.storage.ptr,
        w.values.storage.ptr,
        bIn ? bIn.storage.ptr : null,
        y.storage.ptr,
      ),
      "sparseConv2d",
      () => `input ${describe(x)}, weight [${w.rows}, ${w.cols}] with ${w.nnz} non-zeros`,
      [y],
    );
    return y;
  });
}
