/**
 * Private helpers of the attacks: setting checks, dense copies, row gathers and scatters,
 * per-example random draws and small host-side reductions over logits.
 * @module
 */

import {
  clone,
  copyInto,
  type Module,
  noGrad,
  normal,
  philoxUniform,
  streamId,
  Tensor,
  uniform,
} from "@topiary/core";
import { type AttackContext, checkContext, drawCounter } from "./types.ts";

/** Throws unless v is an integer >= min, naming the setting. */
export function checkInt(op: string, name: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new Error(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
  }
  return v;
}

/** Throws unless v is a finite number in [lo, hi], naming the setting. */
export function checkNum(op: string, name: string, v: unknown, lo = -Infinity, hi = Infinity) {
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) {
    const range = hi === Infinity ? `>= ${lo}` : `in [${lo}, ${hi}]`;
    throw new Error(`${op}: ${name} must be a finite number ${range}, got ${v}`);
  }
  return v;
}

/** Throws unless v is one of `choices`, naming the setting. */
export function checkChoice<T extends string>(
  op: string,
  name: string,
  v: unknown,
  choices: readonly T[],
): T {
  if (!choices.includes(v as T)) {
    throw new Error(
      `${op}: unknown ${name} "${v}" (expected ${choices.map((c) => `"${c}"`).join(" or ")})`,
    );
  }
  return v as T;
}

/** Checks an attack's batch: x f32 [N, ...], y i32 [N], and the context. */
export function checkBatch(op: string, x: Tensor, y: Tensor, ctx: AttackContext): number {
  x.assertAlive(op);
  y.assertAlive(op);
  if (x.dtype !== "f32" || x.ndim < 2) {
    throw new Error(`${op}: x must be f32 [N, ...], got ${x}`);
  }
  if (y.dtype !== "i32" || y.ndim !== 1 || y.shape[0] !== x.shape[0]) {
    throw new Error(`${op}: y must be i32 [${x.shape[0]}] labels, got ${y}`);
  }
  checkContext(ctx, x.shape[0], op);
  return x.shape[0];
}

/** A dense, detached copy (offset 0) of t. */
export function copyOf(t: Tensor): Tensor {
  return noGrad(() => clone(t));
}

/** A view of rows [a, b) of a dense tensor (dispose it after use). */
function rowsView(t: Tensor, a: number, b: number): Tensor {
  const per = t.shape[0] ? t.size / t.shape[0] : 0;
  return Tensor.view(t, [b - a, ...t.shape.slice(1)], t.strides, t.offset + a * per);
}

/**
 * Copies src row srcRows[k] into dst row dstRows[k] for every k (dense tensors), merging
 * runs of consecutive rows into one copy.
 */
export function copyRows(
  dst: Tensor,
  dstRows: ArrayLike<number>,
  src: Tensor,
  srcRows: ArrayLike<number>,
): void {
  const n = dstRows.length;
  let k = 0;
  while (k < n) {
    let e = k + 1;
    while (e < n && dstRows[e] === dstRows[e - 1] + 1 && srcRows[e] === srcRows[e - 1] + 1) e++;
    const d = rowsView(dst, dstRows[k], dstRows[k] + e - k);
    const s = rowsView(src, srcRows[k], srcRows[k] + e - k);
    try {
      copyInto(d, s);
    } finally {
      d.dispose();
      s.dispose();
    }
    k = e;
  }
}

/** 0, 1, ..., n-1. */
export function iota(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** A new dense tensor holding rows `rows` of the dense tensor t, in that order. */
export function gatherRows(t: Tensor, rows: Int32Array): Tensor {
  const out = Tensor.empty([rows.length, ...t.shape.slice(1)], t.dtype, t.backend);
  copyRows(out, iota(rows.length), t, rows);
  return out;
}

/** Global rows of a subset (rows[k] is the batch row of subset row k) as an AttackContext. */
export function subContext(ctx: AttackContext, rows: Int32Array): AttackContext {
  return { seed: ctx.seed, round: ctx.round, indices: rows.map((r) => ctx.indices[r]) };
}

/** Per-example draws [n, ...shape]: row k from (seed, stream, drawCounter(ctx, k)). */
function perExample(
  shape: readonly number[],
  ctx: AttackContext,
  like: Tensor,
  draw: (shape: number[], counter: bigint) => Tensor,
): Tensor {
  const n = ctx.indices.length;
  const out = Tensor.empty([n, ...shape], "f32", like.backend);
  for (let k = 0; k < n; k++) {
    const d = draw([1, ...shape], drawCounter(ctx, k));
    try {
      copyRows(out, [k], d, [0]);
    } finally {
      d.dispose();
    }
  }
  return out;
}

/** Uniform [lo, hi) per example, each row addressed by its dataset index (see drawCounter). */
export function exampleUniform(
  shape: readonly number[],
  ctx: AttackContext,
  stream: string,
  like: Tensor,
  lo: number,
  hi: number,
): Tensor {
  const a = { seed: ctx.seed, stream, backend: like.backend };
  return perExample(shape, ctx, like, (s, c) => uniform(s, { ...a, counter: c }, lo, hi));
}

/** Standard normal draws per example (see exampleUniform). */
export function exampleNormal(
  shape: readonly number[],
  ctx: AttackContext,
  stream: string,
  like: Tensor,
  std = 1,
): Tensor {
  const a = { seed: ctx.seed, stream, backend: like.backend };
  return perExample(shape, ctx, like, (s, c) => normal(s, { ...a, counter: c }, 0, std));
}

/** `count` host uniforms in [0, 1) for example `row` from (seed, stream, drawCounter). */
export function hostUniform(
  ctx: AttackContext,
  row: number,
  stream: number,
  count: number,
): Float32Array {
  return philoxUniform(count, ctx.seed, stream, drawCounter(ctx, row));
}

/** The numeric id of a stream name (computed once per draw family). */
export const sid = streamId;

/** Row-wise argmax (first on ties) of host logits [n, c]. */
export function hostArgmax(logits: Float32Array, n: number, c: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, v = logits[i * c];
    for (let j = 1; j < c; j++) {
      if (logits[i * c + j] > v) {
        v = logits[i * c + j];
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Whether each row is misclassified (argmax != label). */
export function hostWrong(logits: Float32Array, labels: Int32Array, c: number): Uint8Array {
  const n = labels.length;
  const pred = hostArgmax(logits, n, c);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = pred[i] !== labels[i] ? 1 : 0;
  return out;
}

/** Runs fn with the model in eval mode ("eval") or as it is ("train"), restoring its mode. */
export function inMode<T>(model: Module, mode: "eval" | "train", fn: () => T): T {
  if (mode === "train") return fn();
  const modes = model.namedModules().map(([, m]) => m.training);
  model.eval();
  try {
    return fn();
  } finally {
    model.namedModules().forEach(([, m], i) => (m.training = modes[i]));
  }
}
