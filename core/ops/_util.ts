/**
 * Shared helpers of the op modules: argument checks, layout parameters, broadcasting.
 * @module
 */

import { type Backend, Int64Params } from "@topiary/ffi";
import type { DType } from "../dtype.ts";
import { fmtShape, type Tensor } from "../tensor.ts";

/** Reusable int64 parameter arrays (calls are synchronous, so reuse is safe). */
export const P = {
  shape: new Int64Params(8),
  s0: new Int64Params(8),
  s1: new Int64Params(8),
  s2: new Int64Params(8),
  keepShape: new Int64Params(8),
  keepStrides: new Int64Params(8),
  redShape: new Int64Params(8),
  redStrides: new Int64Params(8),
  op: new Int64Params(32),
  out: new Int64Params(16),
};

/** Describes a tensor for error messages: [2, 3] f32. */
export function describe(t: Tensor): string {
  return `${fmtShape(t.shape)} ${t.dtype}${t.fmt ? ` (native format ${t.fmt})` : ""}`;
}

/** Checks that tensors are alive, share one backend and (optionally) have a dtype. */
export function checkInputs(
  op: string,
  tensors: readonly (Tensor | null | undefined)[],
  dtype: DType | null = "f32",
): Backend {
  let backend: Backend | null = null;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t) continue;
    t.assertAlive(op);
    if (dtype && t.dtype !== dtype) {
      throw new Error(`${op}: expected ${dtype} tensors, argument ${i} is ${describe(t)}`);
    }
    if (backend === null) backend = t.backend;
    else if (t.backend !== backend) {
      throw new Error(
        `${op}: tensors on different devices (${backend.name} and ${t.backend.name}); move ` +
          `them with .to(device) first`,
      );
    }
  }
  if (!backend) throw new Error(`${op}: no tensor arguments`);
  return backend;
}

/** The broadcast shape of two shapes (NumPy rules), or a clear error. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read tensor `t` broadcast to `shape` (0 on broadcast dims). */
export function broadcastStrides(t: Tensor, shape: readonly number[]): number[] {
  const n = shape.length, k = t.shape.length;
  const s = new Array<number>(n).fill(0);
  for (let i = 0; i < k; i++) {
    const d = t.shape[i];
    s[n - k + i] = d === 1 && shape[n - k + i] !== 1 ? 0 : t.strides[i];
  }
  return s;
}

/** Normalises an axis (negative counts from the end) and checks its range. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= ndim) {
    throw new Error(`${op}: axis ${axis} is out of range for ${ndim} dims`);
  }
  return a;
}

/** Checks a finite number argument. */
export function checkFinite(op: string, name: string, v: number): void {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${op}: ${name} must be a finite number, got ${v}`);
  }
}

/** Normalises an int or pair option (kernel size, stride, ...) to a pair of integers. */
export function pair(op: string, name: string, v: number | readonly number[], min: number) {
  const p = typeof v === "number" ? [v, v] : [...v];
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${v}`);
  }
  return p as [number, number];
}

/**
 * Checks a native status; on failure disposes `cleanup` (outputs and temporaries, skipping
 * nulls and the caller's own inputs passed as `keep`) and throws the backend's error.
 */
export function checkStatus(
  backend: Backend,
  status: number,
  op: string,
  detail: string | (() => string),
  cleanup: readonly (Tensor | null | undefined)[] = [],
  keep: readonly (Tensor | null | undefined)[] = [],
): void {
  if (status === 0) return;
  for (const t of cleanup) if (t && !keep.includes(t) && !t.isDisposed) t.dispose();
  backend.check(status, op, detail);
}
