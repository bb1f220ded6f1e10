/**
 * Gradient checks for modules: forward values against a float64 reference, and gradients of
 * L = sum(module(x) * r) with respect to the input and the module's own parameters against
 * central finite differences of the reference.
 * @module
 */

import { copyFromHost, grad, mul, sum, tensor } from "@topiary/core";
import type { Module } from "../../../core/nn/mod.ts";
import { assertClose, randomData, values } from "../../_harness.ts";

/** A module gradient-check case. */
export interface ModuleCase {
  name: string;
  module: Module;
  /** Input data and shape. */
  input: { data: Float64Array; shape: number[] };
  /** Parameter values to load (by state-dict name); others keep their values. */
  params?: Record<string, Float64Array>;
  /** Parameters to differentiate (by name); the input is always differentiated. */
  wrt: string[];
  /** Float64 reference on the f32-rounded input and parameter values. */
  reference: (x: Float64Array, p: Record<string, Float64Array>) => Float64Array;
  h?: number;
  atol?: number;
  rtol?: number;
  fwdAtol?: number;
  /** Skip an element of the input ("x") or a parameter whose difference crosses a kink. */
  skip?: (what: string, index: number) => boolean;
}

/** Runs the check (call inside `opTest`). */
export function moduleGradCheck(c: ModuleCase): void {
  const sd = c.module.stateDict();
  for (const [k, v] of Object.entries(c.params ?? {})) {
    const t = sd.get(k);
    if (!t) throw new Error(`${c.name}: module has no "${k}"`);
    copyFromHost(t, Float32Array.from(v));
  }
  const p64: Record<string, Float64Array> = {};
  for (const [k, t] of sd) {
    if (t.dtype === "f32") p64[k] = Float64Array.from(t.toArray());
  }
  const x64 = Float64Array.from(Float32Array.from(c.input.data));
  const x = tensor(Float32Array.from(x64), c.input.shape, { requiresGrad: true });
  const y = c.module.forward(x);
  const yRef = c.reference(x64, p64);
  assertClose(values(y), yRef, c.fwdAtol ?? 1e-5, 1e-4, `${c.name} forward`);
  const r = randomData(y.size, `${c.name}-weights`, 0.5, 1.5);
  const loss = sum(mul(y, tensor(Float32Array.from(r), y.shape.slice())));
  const targets = [x, ...c.wrt.map((k) => sd.get(k)!)];
  const gs = grad(loss, targets);
  const L = (xv: Float64Array, pv: Record<string, Float64Array>) => {
    const out = c.reference(xv, pv);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * r[i];
    return s;
  };
  const h = c.h ?? 1e-3;
  ["x", ...c.wrt].forEach((what, gi) => {
    const got = values(gs[gi]);
    const base = what === "x" ? x64 : p64[what];
    const keep: number[] = [], fd: number[] = [];
    for (let k = 0; k < base.length; k++) {
      if (c.skip?.(what, k)) continue;
      const plus = base.slice(), minus = base.slice();
      plus[k] += h;
      minus[k] -= h;
      const at = (v: Float64Array) => what === "x" ? L(v, p64) : L(x64, { ...p64, [what]: v });
      fd.push((at(plus) - at(minus)) / (2 * h));
      keep.push(k);
    }
    assertClose(
      keep.map((k) => got[k]),
      fd,
      c.atol ?? 2e-3,
      c.rtol ?? 2e-3,
      `${c.name} gradient of ${what}`,
    );
  });
}
