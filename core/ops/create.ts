/**
 * Tensor creation: from host data, filled, and like-shaped.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { type DType, DTYPE_CODE } from "../dtype.ts";
import { getDefaultBackend, type HostData, Tensor } from "../tensor.ts";
import { fullRaw } from "./_raw.ts";
import { checkStatus } from "./_util.ts";

/** Creation options. */
export interface CreateOptions {
  dtype?: DType;
  backend?: Backend;
  /** Mark the result as a leaf that gradients flow to. */
  requiresGrad?: boolean;
}

/** A tensor with a copy of host data in the given shape (default f32). */
export function tensor(
  data: HostData,
  shape?: readonly number[],
  opts: CreateOptions = {},
): Tensor {
  const t = Tensor.fromHost(
    data,
    shape ?? [data.length],
    opts.dtype ?? "f32",
    opts.backend ?? getDefaultBackend(),
  );
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A scalar (0-d) tensor. */
export function scalar(v: number, opts: CreateOptions = {}): Tensor {
  return tensor([v], [], opts);
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const t = fullRaw(shape, value, opts.dtype ?? "f32", opts.backend ?? getDefaultBackend());
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Zeros. */
export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}

/** Ones. */
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/** Zeros with t's shape, dtype and device. */
export function zerosLike(t: Tensor): Tensor {
  return fullRaw(t.shape, 0, t.dtype, t.backend);
}

/** Fills a dense tensor in place with a value. */
export function fill(t: Tensor, value: number): void {
  t.assertAlive("fill");
  if (!t.isContiguous) throw new Error("fill: the tensor must be dense");
  const b = t.backend;
  if (t.size > 0) {
    checkStatus(
      b,
      b.sym.tp_fill(DTYPE_CODE[t.dtype], t.storage.ptr, BigInt(t.offset), BigInt(t.size), value),
      "fill",
      `${t}`,
    );
  }
  t.storage.version++;
}

/** Copies host data into a dense tensor in place. */
export function copyFromHost(t: Tensor, data: Float32Array | Int32Array | Uint8Array): void {
  t.assertAlive("copyFromHost");
  if (!t.isContiguous) throw new Error("copyFromHost: the tensor must be dense");
  if (data.length !== t.size) throw new Error(`copyFromHost: ${data.length} values for ${t}`);
  const b = t.backend;
  const es = data.BYTES_PER_ELEMENT;
  checkStatus(
    b,
    b.sym.tp_copy_from_host(t.storage.ptr, BigInt(t.offset * es), data, BigInt(data.byteLength)),
    "copyFromHost",
    `${t}`,
  );
  t.storage.version++;
}

/** 0, 1, ..., n-1 (f32 by default). */
export function arange(n: number, opts: CreateOptions = {}): Tensor {
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`arange: n must be a non-negative integer, got ${n}`);
  }
  return tensor(Float64Array.from({ length: n }, (_, i) => i), [n], opts);
}
