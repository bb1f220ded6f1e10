/**
 * Dtype conversion.
 * @module
 */

import { type DType, DTYPE_CODE } from "../dtype.ts";
import { Tensor } from "../tensor.ts";
import { denseRaw } from "./_raw.ts";
import { checkInputs, checkStatus, describe } from "./_util.ts";

/**
 * A dense copy of t converted to `dtype` (f32 -> i32 truncates toward zero; conversions to
 * u8 saturate to [0, 255]). Not differentiable.
 */
export function cast(t: Tensor, dtype: DType): Tensor {
  const b = checkInputs("cast", [t], null);
  const src = denseRaw(t);
  const y = Tensor.empty(t.shape, dtype, b);
  if (y.size > 0) {
    checkStatus(
      b,
      b.sym.tp_cast(
        DTYPE_CODE[src.dtype],
        src.storage.ptr,
        BigInt(src.offset),
        DTYPE_CODE[dtype],
        y.storage.ptr,
        BigInt(y.size),
      ),
      "cast",
      () => `${describe(t)} to ${dtype}`,
      [y, src],
      [t],
    );
  }
  if (src !== t) src.dispose();
  return y;
}
