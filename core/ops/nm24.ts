/**
 * 2:4 structured sparsity for inference: a weight whose rows keep at most 2 of every 4
 * consecutive entries (`pruneNm` masks along the input dimension) stored compressed — half the
 * values plus one byte of positions per group — and a linear layer on it. Forward only.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { fmtShape, Tensor } from "../tensor.ts";
import { denseRaw } from "./_raw.ts";
import { checkNoGrad, requireOp, withPlainInputs } from "./_sparse_util.ts";
import { checkInputs, checkStatus, describe } from "./_util.ts";

/** A 2:4 matrix [rows, cols]: values f32 [rows, cols/2] and positions u8 [rows, cols/4]. */
export class Nm24Matrix {
  readonly rows: number;
  readonly cols: number;
  /** f32 [rows, cols / 2]: each group's kept entries in column order (zero-padded). */
  readonly values: Tensor;
  /** u8 [rows, cols / 4]: bits 0-1 and 2-3 are the columns (within the group) of its values. */
  readonly meta: Tensor;

  /** Wraps the two tensors (checked against the shape; `nm24FromDense` makes them). */
  constructor(rows: number, cols: number, values: Tensor, meta: Tensor) {
    if (
      !(Number.isInteger(rows) && rows >= 1 && Number.isInteger(cols) && cols >= 4 &&
        cols % 4 === 0)
    ) {
      throw new Error(`Nm24Matrix: shape [${rows}, ${cols}] needs a multiple of 4 columns`);
    }
    const want = (t: Tensor, dtype: string, shape: number[], what: string) => {
      if (t.dtype !== dtype || t.shape.join() !== shape.join()) {
        throw new Error(
          `Nm24Matrix: ${what} must be ${dtype} [${shape}] for [${rows}, ${cols}], got ${
            describe(t)
          }`,
        );
      }
    };
    want(values, "f32", [rows, cols / 2], "values");
    want(meta, "u8", [rows, cols / 4], "meta");
    if (meta.backend !== values.backend) {
      throw new Error(`Nm24Matrix: values and meta live on different devices`);
    }
    this.rows = rows;
    this.cols = cols;
    this.values = values;
    this.meta = meta;
  }

  /** The device holding the matrix. */
  get backend(): Backend {
    return this.values.backend;
  }

  /** Bytes of the compressed form (values and positions). */
  get bytes(): number {
    return this.values.size * 4 + this.meta.size;
  }

  /** Keeps the tensors alive past the enclosing `tidy` scopes. */
  keep(): this {
    this.values.keep(), this.meta.keep();
    return this;
  }

  /** Frees the tensors. */
  dispose(): void {
    this.values.dispose(), this.meta.dispose();
  }
}

/**
 * The compressed 2:4 form of a weight (rows = its first dim, columns = the product of the
 * others, a multiple of 4). A group with more than 2 non-zeros is an error naming it.
 */
export function nm24FromDense(w: Tensor): Nm24Matrix {
  const b = checkInputs("nm24FromDense", [w]);
  requireOp(b, "tp_nm24_from_dense", "nm24FromDense");
  if (w.ndim < 2) throw new Error(`nm24FromDense: weight ${describe(w)} must have >= 2 dims`);
  const rows = w.shape[0], cols = w.size / rows;
  if (cols % 4 !== 0) {
    throw new Error(
      `nm24FromDense: weight ${describe(w)} has ${cols} inputs per row, not a multiple of 4`,
    );
  }
  const dense = denseRaw(w);
  const values = Tensor.empty([rows, cols / 2], "f32", b);
  const meta = Tensor.empty([rows, cols / 4], "u8", b);
  try {
    checkStatus(
      b,
      b.sym.tp_nm24_from_dense!(
        BigInt(rows),
        BigInt(cols),
        dense.storage.ptr,
        values.storage.ptr,
        meta.storage.ptr,
      ),
      "nm24FromDense",
      () => describe(w),
      [values, meta],
    );
  } finally {
    if (dense !== w) dense.dispose();
  }
  return new Nm24Matrix(rows, cols, values, meta);
}

/** y = x Wᵀ + bias with W a 2:4 matrix [out, in]: x [N, in] -> y [N, out]. Forward only. */
export function nm24Linear(x: Tensor, w: Nm24Matrix, bias: Tensor | null = null): Tensor {
  // (meta is u8; the constructor keeps it on the values' device)
  const b = checkInputs("nm24Linear", [x, w.values, bias]);
  requireOp(b, "tp_nm24_linear", "nm24Linear");
  checkNoGrad("nm24Linear", x, bias);
  if (x.ndim !== 2 || x.shape[1] !== w.cols) {
    throw new Error(
      `nm24Linear: input ${describe(x)} does not match weight [${w.rows}, ${w.cols}]`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== w.rows)) {
    throw new Error(`nm24Linear: bias ${fmtShape(bias.shape)} does not match ${w.rows} outputs`);
  }
  return withPlainInputs(x, bias, (xIn, bIn) => {
    const y = Tensor.empty([x.shape[0], w.rows], "f32", b);
    checkStatus(
      b,
      b.sym.tp_nm24_linear!(
        BigInt(x.shape[0]),
        BigInt(w.cols),
        BigInt(w.rows),
        xIn.storage.ptr,
        w.values.storage.ptr,
        w.meta.storage.ptr,
        bIn ? bIn.storage.ptr : null,
        y.storage.ptr,
      ),
      "nm24Linear",
      () => `input ${describe(x)}, 2:4 weight [${w.rows}, ${w.cols}]`,
      [y],
    );
    return y;
  });
}
