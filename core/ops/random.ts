/**
 * Random tensors from the stateless Philox generator: every draw is addressed by
 * (seed, stream, counter), e.g. (seed, "dropout", step).
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { type Stream, streamId } from "../random/philox.ts";
import { checkShape, getDefaultBackend, Tensor } from "../tensor.ts";
import { checkFinite, checkStatus } from "./_util.ts";

/** Address of a draw. */
export interface DrawAddress {
  /** The run's seed (u64). */
  seed: number | bigint;
  /** A named or numbered stream ("init", "shuffle", "attack", ...). */
  stream: Stream;
  /** Position within the stream (step, epoch, layer index, ...), default 0. */
  counter?: number | bigint;
  /** Device of the result (default: the default backend). */
  backend?: Backend;
}

function toU64(op: string, name: string, v: number | bigint): bigint {
  if (typeof v === "number" && !Number.isSafeInteger(v)) {
    throw new Error(`${op}: ${name} must be an integer u64, got ${v}`);
  }
  return BigInt(v);
}

function address(a: DrawAddress, op: string): [bigint, number, bigint] {
  const seed = toU64(op, "seed", a.seed), counter = toU64(op, "counter", a.counter ?? 0);
  if (seed < 0n || seed >= 1n << 64n) throw new Error(`${op}: seed must be a u64, got ${a.seed}`);
  if (counter < 0n || counter >= 1n << 64n) {
    throw new Error(`${op}: counter must be a u64, got ${a.counter}`);
  }
  return [seed, streamId(a.stream), counter];
}

function draw(
  op: string,
  shape: readonly number[],
  a: DrawAddress,
  dtype: "f32" | "i32",
  call: (b: Backend, t: Tensor, seed: bigint, stream: number, counter: bigint) => number,
): Tensor {
  checkShape(shape);
  const [seed, stream, counter] = address(a, op);
  const b = a.backend ?? getDefaultBackend();
  const t = Tensor.empty(shape, dtype, b);
  if (t.size > 0) checkStatus(b, call(b, t, seed, stream, counter), op, `shape [${shape}]`, [t]);
  return t;
}

/** Uniform values in [lo, hi). */
export function uniform(shape: readonly number[], a: DrawAddress, lo = 0, hi = 1): Tensor {
  checkFinite("uniform", "lo", lo);
  checkFinite("uniform", "hi", hi);
  return draw(
    "uniform",
    shape,
    a,
    "f32",
    (b, t, s, st, c) => b.sym.tp_rand_uniform(t.storage.ptr, BigInt(t.size), s, st, c, lo, hi),
  );
}

/** Normal values with the given mean and standard deviation. */
export function normal(shape: readonly number[], a: DrawAddress, mean = 0, std = 1): Tensor {
  checkFinite("normal", "mean", mean);
  checkFinite("normal", "std", std);
  return draw(
    "normal",
    shape,
    a,
    "f32",
    (b, t, s, st, c) => b.sym.tp_rand_normal(t.storage.ptr, BigInt(t.size), s, st, c, mean, std),
  );
}

/** 1 with probability p, else 0 (f32). */
export function bernoulli(shape: readonly number[], a: DrawAddress, p: number): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`bernoulli: p must be in [0, 1], got ${p}`);
  return draw(
    "bernoulli",
    shape,
    a,
    "f32",
    (b, t, s, st, c) => b.sym.tp_rand_bernoulli(t.storage.ptr, BigInt(t.size), s, st, c, p),
  );
}

/** Raw 32-bit words (stored in an i32 tensor; reinterpret as u32). */
export function randomBits(shape: readonly number[], a: DrawAddress): Tensor {
  return draw(
    "randomBits",
    shape,
    a,
    "i32",
    (b, t, s, st, c) => b.sym.tp_rand_bits(t.storage.ptr, BigInt(t.size), s, st, c),
  );
}
