/**
 * Gradient checks: native float32 gradients against central finite differences of the
 * float64 reference.
 * @module
 */

import { grad, mul, sum, type Tensor, tensor } from "@topiary/core";
import { assertClose, randomData, values } from "./_harness.ts";

/** A gradient-check case. */
export interface GradCase {
  /** Input data (float64) and shapes. */
  inputs: { data: Float64Array; shape: number[] }[];
  /** Indices of the inputs to differentiate. */
  wrt: number[];
  /** The native op on f32 tensors (inputs get requiresGrad when in wrt). */
  native: (xs: Tensor[]) => Tensor;
  /** The float64 reference of the same op, flattened row-major. */
  reference: (xs: Float64Array[]) => Float64Array;
  /** Finite-difference step (default 1e-4) and tolerances. */
  h?: number;
  atol?: number;
  rtol?: number;
  /** Tolerances of the forward comparison (default 1e-5, 1e-4). */
  fwdAtol?: number;
  fwdRtol?: number;
  /** Elements whose finite difference crosses a kink (e.g. relu at 0) are skipped. */
  skip?: (input: number, index: number) => boolean;
  name?: string;
}

/**
 * Checks forward values against the reference and the gradient of
 * L = sum(op(x) * r) (r fixed random weights) against central differences of the reference.
 */
export function gradCheck(c: GradCase): void {
  const name = c.name ?? "op";
  const xs = c.inputs.map((inp, i) =>
    tensor(Float32Array.from(inp.data), inp.shape, { requiresGrad: c.wrt.includes(i) })
  );
  const y = c.native(xs);
  // The reference sees the float32-rounded inputs the kernel saw.
  const x64 = c.inputs.map((inp) => Float64Array.from(Float32Array.from(inp.data)));
  const yRef = c.reference(x64);
  assertClose(values(y), yRef, c.fwdAtol ?? 1e-5, c.fwdRtol ?? 1e-4, `${name} forward`);
  const r = randomData(y.size, `${name}-weights`, 0.5, 1.5);
  const rT = tensor(Float32Array.from(r), y.shape.slice());
  const loss = sum(mul(y, rT));
  const gs = grad(loss, c.wrt.map((i) => xs[i]));
  const h = c.h ?? 1e-4;
  const L = (arrs: Float64Array[]) => {
    const out = c.reference(arrs);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * r[i];
    return s;
  };
  c.wrt.forEach((wi, gi) => {
    const got = values(gs[gi]);
    const fd = new Float64Array(got.length);
    const keep: number[] = [];
    for (let k = 0; k < fd.length; k++) {
      if (c.skip?.(wi, k)) continue;
      const plus = x64.map((a) => a.slice()), minus = x64.map((a) => a.slice());
      plus[wi][k] += h;
      minus[wi][k] -= h;
      fd[k] = (L(plus) - L(minus)) / (2 * h);
      keep.push(k);
    }
    assertClose(
      keep.map((k) => got[k]),
      keep.map((k) => fd[k]),
      c.atol ?? 1e-3,
      c.rtol ?? 1e-3,
      `${name} gradient of input ${wi}`,
    );
  });
}
