/**
 * `Tensor`: a handle on native storage with a layout (shape, strides, offset, native format)
 * and a dtype. Views share storage; host reads always copy.
 * @module
 */

import { type Backend, getBackend, Int64Params } from "@topiary/ffi";
import type { Node } from "./autograd/node.ts";
import { type DType, DTYPE_BYTES, DTYPE_CODE, hostArray } from "./dtype.ts";
import { track, untrack } from "./scope.ts";
import { leakStats, Storage } from "./storage.ts";

/** Host data accepted when creating tensors. */
export type HostData = Float32Array | Int32Array | Uint8Array | ArrayLike<number>;

const finalizer = new FinalizationRegistry<Storage>((storage) => {
  leakStats.collected++;
  storage.release();
});

/** Row-major (contiguous) strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Formats a shape for messages: [2, 3, 4]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Validates a shape: non-negative integers. */
export function checkShape(shape: readonly number[], what = "shape"): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${what} ${fmtShape(shape)} must hold non-negative integers`);
    }
  }
  if (shape.length > 8) throw new Error(`${what} ${fmtShape(shape)} has more than 8 dims`);
}

const formatBytesCache = new Map<Backend, Map<number, number>>();
const formatInfo = new BigInt64Array(12);

/** Bytes of a buffer in native format `fmt` (fmt > 0), as reported by the backend. */
export function formatBytes(backend: Backend, fmt: number): number {
  let m = formatBytesCache.get(backend);
  if (!m) formatBytesCache.set(backend, m = new Map());
  let b = m.get(fmt);
  if (b === undefined) {
    backend.check(backend.sym.tp_format_info(fmt, formatInfo, 12n), "tp_format_info");
    const nd = Number(formatInfo[0]);
    b = Number(formatInfo[1 + nd]);
    m.set(fmt, b);
  }
  return b;
}

let defaultBackend: Backend | null = null;

/** The backend new tensors use by default: `TOPIARY_DEVICE` (cpu | cuda), else cpu. */
export function getDefaultBackend(): Backend {
  if (!defaultBackend) {
    defaultBackend = backendOfDevice(Deno.env.get("TOPIARY_DEVICE") || "cpu", "TOPIARY_DEVICE");
  }
  return defaultBackend;
}

/** The backend of a device name ("cpu" or "cuda"), or an error naming `op` and the cause. */
export function backendOfDevice(device: string, op = "device"): Backend {
  if (device !== "cpu" && device !== "cuda") {
    throw new Error(`${op}: device must be "cpu" or "cuda", got "${device}"`);
  }
  try {
    return getBackend(device);
  } catch (e) {
    throw new Error(`${op}: device "${device}" is not available: ${(e as Error).message}`);
  }
}

/** Chooses the backend new tensors use by default. */
export function setDefaultBackend(backend: Backend): void {
  defaultBackend = backend;
}

const layoutParams = [new Int64Params(8), new Int64Params(8)];

/**
 * An n-dimensional array in native memory. Dispose it (`dispose()`, `using`, or a `tidy`
 * scope) when done; views (reshape, transpose, slice) share its storage.
 */
export class Tensor {
  /** The storage shared by all views. */
  readonly storage: Storage;
  /** Logical shape. */
  readonly shape: readonly number[];
  /** Strides in elements (row-major for native formats). */
  readonly strides: readonly number[];
  /** Offset of element 0 in elements. */
  readonly offset: number;
  /** Element type. */
  readonly dtype: DType;
  /** Opaque native format id (0 = plain strided layout). */
  readonly fmt: number;
  /** Number of elements. */
  readonly size: number;
  /** Whether gradients flow to this tensor (leaves: set by the user or a module). */
  requiresGrad = false;
  /** The autograd node that produced this tensor, if recorded. */
  node: Node | null = null;
  private disposed = false;

  /** Takes ownership of one reference on `storage` (use {@link Tensor.view} for views). */
  constructor(
    storage: Storage,
    shape: readonly number[],
    strides: readonly number[] | null,
    offset: number,
    dtype: DType,
    fmt = 0,
  ) {
    this.storage = storage;
    this.shape = shape.slice();
    this.strides = strides ? strides.slice() : contiguousStrides(shape);
    this.offset = offset;
    this.dtype = dtype;
    this.fmt = fmt;
    this.size = numel(shape);
    finalizer.register(this, storage, this);
    track(this);
  }

  /** An uninitialised dense tensor (native format `fmt` with `bytes` when fmt > 0). */
  static empty(
    shape: readonly number[],
    dtype: DType = "f32",
    backend: Backend = getDefaultBackend(),
    fmt = 0,
  ): Tensor {
    checkShape(shape);
    const bytes = fmt ? formatBytes(backend, fmt) : numel(shape) * DTYPE_BYTES[dtype];
    return new Tensor(new Storage(backend, bytes), shape, null, 0, dtype, fmt);
  }

  /** A view on `base`'s storage with another layout. */
  static view(
    base: Tensor,
    shape: readonly number[],
    strides: readonly number[],
    offset: number,
  ): Tensor {
    base.assertAlive("view");
    base.storage.retain();
    return new Tensor(base.storage, shape, strides, offset, base.dtype, base.fmt);
  }

  /** A tensor holding a copy of host data. */
  static fromHost(
    data: HostData,
    shape: readonly number[],
    dtype: DType = "f32",
    backend: Backend = getDefaultBackend(),
  ): Tensor {
    checkShape(shape);
    const n = numel(shape);
    if (data.length !== n) {
      throw new Error(`fromHost: ${data.length} values do not fill shape ${fmtShape(shape)}`);
    }
    let host: Float32Array | Int32Array | Uint8Array;
    if (
      (dtype === "f32" && data instanceof Float32Array) ||
      (dtype === "i32" && data instanceof Int32Array) ||
      (dtype === "u8" && data instanceof Uint8Array)
    ) {
      host = data;
    } else {
      host = hostArray(dtype, n);
      for (let i = 0; i < n; i++) host[i] = data[i];
    }
    const t = Tensor.empty(shape, dtype, backend);
    if (n > 0) {
      backend.check(
        backend.sym.tp_copy_from_host(t.storage.ptr, 0n, host, BigInt(host.byteLength)),
        "fromHost",
      );
    }
    return t;
  }

  /** The backend holding the storage. */
  get backend(): Backend {
    return this.storage.backend;
  }

  /** Device name ("cpu" or "cuda"). */
  get device(): string {
    return this.storage.backend.name;
  }

  /** Number of dims. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Whether `dispose()` has been called. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Whether the layout is plain, row-major and dense (offset may be non-zero). */
  get isContiguous(): boolean {
    if (this.fmt !== 0) return false;
    let acc = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== acc) return false;
      acc *= this.shape[i];
    }
    return true;
  }

  /** Throws a clear error if the tensor was disposed. */
  assertAlive(op: string): void {
    if (this.disposed) {
      throw new Error(`${op}: tensor ${fmtShape(this.shape)} ${this.dtype} was already disposed`);
    }
  }

  /** Releases this handle (the storage is freed with its last handle). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    finalizer.unregister(this);
    untrack(this);
    this.storage.release();
    // The node stays reachable for graph traversal; only this handle's reference goes.
    this.node?.unref();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Copies the elements to a new host array in row-major order. */
  toArray(): Float32Array | Int32Array | Uint8Array {
    this.assertAlive("toArray");
    const b = this.backend;
    const out = hostArray(this.dtype, this.size);
    if (this.size === 0) return out;
    const es = DTYPE_BYTES[this.dtype];
    if (this.isContiguous) {
      b.check(
        b.sym.tp_copy_to_host(
          this.storage.ptr,
          BigInt(this.offset * es),
          out,
          BigInt(out.byteLength),
        ),
        "toArray",
      );
      return out;
    }
    const tmp = new Storage(b, out.byteLength);
    try {
      const [shape, strides] = layoutParams;
      shape.write(0, this.shape);
      if (this.fmt !== 0) {
        b.check(
          b.sym.tp_reorder(this.ndim, shape.buffer, this.fmt, this.storage.ptr, 0, tmp.ptr),
          "toArray",
          () => `reorder of ${fmtShape(this.shape)} from native format ${this.fmt}`,
        );
      } else {
        strides.write(0, this.strides);
        b.check(
          b.sym.tp_copy_strided(
            DTYPE_CODE[this.dtype],
            this.ndim,
            shape.buffer,
            this.storage.ptr,
            strides.buffer,
            BigInt(this.offset),
            tmp.ptr,
          ),
          "toArray",
        );
      }
      b.check(b.sym.tp_copy_to_host(tmp.ptr, 0n, out, BigInt(out.byteLength)), "toArray");
    } finally {
      tmp.release();
    }
    return out;
  }

  /**
   * This tensor on another device (`"cpu"`, `"cuda"` or a backend): a plain copy through host
   * memory, or on the same device a new handle on the same storage. Autograd does not follow
   * the move (the result is a leaf).
   */
  to(device: string | Backend): Tensor {
    this.assertAlive("to");
    const target = typeof device === "string" ? backendOfDevice(device, "to") : device;
    if (target === this.backend) return Tensor.view(this, this.shape, this.strides, this.offset);
    return Tensor.fromHost(this.toArray(), this.shape, this.dtype, target);
  }

  /** The single element of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new Error(`item: tensor has ${this.size} elements ${fmtShape(this.shape)}, not 1`);
    }
    return this.toArray()[0];
  }

  /** Nested arrays of the elements (for small tensors and debugging). */
  toNested(): unknown {
    const flat = Array.from(this.toArray());
    const build = (dim: number, at: number): unknown => {
      if (dim === this.ndim) return flat[at];
      const step = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, at + i * step));
    };
    return build(0, 0);
  }

  /** Keeps this tensor alive past the enclosing `tidy` scopes. */
  keep(): this {
    untrack(this);
    return this;
  }

  toString(): string {
    const f = this.fmt ? `, format ${this.fmt}` : "";
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}, ${this.device}${f})`;
  }
}
