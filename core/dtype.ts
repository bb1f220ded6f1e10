/**
 * Element types of tensors.
 * @module
 */

/** Element type: f32 for data, i32 for labels and indices, u8 for bytes and compact masks. */
export type DType = "f32" | "i32" | "u8";

/** Native dtype codes (`enum tp_dtype`). */
export const DTYPE_CODE: Record<DType, number> = { f32: 0, i32: 1, u8: 2 };

/** Bytes per element. */
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, i32: 4, u8: 1 };

/** The host array type of each dtype. */
export type HostArray<D extends DType = DType> = D extends "f32" ? Float32Array
  : D extends "i32" ? Int32Array
  : Uint8Array;

/** A fresh host array of a dtype with n elements. */
export function hostArray(dtype: DType, n: number): Float32Array | Int32Array | Uint8Array {
  switch (dtype) {
    case "f32":
      return new Float32Array(n);
    case "i32":
      return new Int32Array(n);
    case "u8":
      return new Uint8Array(n);
  }
}

/** Throws unless `d` is a known dtype. */
export function checkDType(d: string): asserts d is DType {
  if (d !== "f32" && d !== "i32" && d !== "u8") {
    throw new Error(`unknown dtype "${d}" (expected f32, i32 or u8)`);
  }
}
