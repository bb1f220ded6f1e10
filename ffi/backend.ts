/**
 * The `Backend`: one loaded native library (CPU now, CUDA later) with typed entry points,
 * status checking, memory accounting and thread settings.
 * @module
 */

import { nativeError, TopiaryError } from "./errors.ts";
import { findLibrary, type LibraryKind, openLibrary } from "./library.ts";
import { type NativeSymbols, type SymbolName, SYMBOLS } from "./symbols.ts";
import { profiledSymbols, profilingFromEnv } from "./profile.ts";

/** Counters of native memory (see `tp_memory_stats`). */
export interface MemoryStats {
  /** Buffers handed out and not yet freed. */
  liveBuffers: number;
  /** Bytes of those buffers (rounded to the allocator's size classes). */
  liveBytes: number;
  /** Freed buffers held by the allocator cache for reuse. */
  cachedBuffers: number;
  /** Bytes held by the allocator cache. */
  cachedBytes: number;
  /** Entries in the plan caches (primitives, reorders). */
  planEntries: number;
  /** Highest live byte count seen. */
  peakBytes: number;
  /** Total allocations, and those served from the cache. */
  allocCalls: number;
  allocHits: number;
}

/** Facts about a backend, as reported by `tp_backend_info`. */
export interface BackendInfo {
  backend: string;
  abi: number;
  threads: number;
  [key: string]: unknown;
}

/** A device backend: the native library behind every tensor of one device. */
export interface Backend {
  /** Device name: "cpu" or "cuda". */
  readonly name: LibraryKind;
  /** Path of the loaded library. */
  readonly path: string;
  /** Typed native entry points. */
  readonly sym: NativeSymbols;
  /** Threads used by parallel kernels. */
  readonly threads: number;
  /** Library and hardware description. */
  info(): BackendInfo;
  /** One line for logs: device, vendor library versions, threads. */
  describe(): string;
  /** Whether the library implements an entry point. */
  supportsOp(op: SymbolName): boolean;
  /** Throws a {@link TopiaryError} naming op and details when status is not 0. */
  check(status: number, op: string, detail?: string | (() => string)): void;
  /** Allocates a native buffer of at least `bytes` bytes. */
  alloc(bytes: number): Deno.PointerObject;
  /** Frees a native buffer. */
  free(ptr: Deno.PointerObject): void;
  /** Native memory counters. */
  memoryStats(): MemoryStats;
  /** Frees cached blocks and plans. */
  clearCaches(): void;
  /**
   * Keeps the convolution algorithms chosen from now on in `path` and reuses the ones it holds
   * (null: in memory only), so a resumed run runs the same algorithms; a no-op where the
   * library's choice cannot vary between processes (the CPU) or lacks the entry point.
   */
  useAlgorithmFile(path: string | null): void;
}

/** Thread count from `TOPIARY_THREADS`, default all cores. */
export function threadsFromEnv(): number {
  const env = Deno.env.get("TOPIARY_THREADS");
  if (env === undefined || env === "") return navigator.hardwareConcurrency;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`TOPIARY_THREADS must be a positive integer, got "${env}"`);
  }
  return n;
}

/**
 * Whether to flush denormals to zero: `TOPIARY_FLUSH_DENORMAL` = 1 (default) or 0. Subnormal
 * values slow float math 10-100x; flushing them changes results only below 1.2e-38.
 */
export function flushDenormalFromEnv(): boolean {
  const env = Deno.env.get("TOPIARY_FLUSH_DENORMAL");
  if (env === undefined || env === "" || env === "1") return true;
  if (env === "0") return false;
  throw new Error(`TOPIARY_FLUSH_DENORMAL must be 0 or 1, got "${env}"`);
}

class NativeBackend implements Backend {
  readonly name: LibraryKind;
  readonly path: string;
  readonly sym: NativeSymbols;
  readonly threads: number;
  private readonly lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  private readonly out = new BigUint64Array(1);
  private readonly stats = new BigInt64Array(8);

  constructor(kind: LibraryKind, path: string, threads: number) {
    this.name = kind;
    this.path = path;
    this.lib = openLibrary(path);
    const sym = this.lib.symbols;
    // Profiling: each call timed; an asynchronous device is drained after each.
    const sync = sym.tp_synchronize;
    const drain = kind === "cuda" && sync ? () => this.check(sync(), "tp_synchronize") : null;
    this.sym = profilingFromEnv() ? profiledSymbols(sym, kind, drain) : sym;
    const abi = this.sym.tp_abi_version();
    if (abi !== 1) {
      throw new Error(
        `${path} implements ABI ${abi}, this code expects 1: run \`deno task build\``,
      );
    }
    this.check(
      this.sym.tp_set_flush_denormal(flushDenormalFromEnv() ? 1 : 0),
      "tp_set_flush_denormal",
    );
    this.check(this.sym.tp_set_num_threads(threads), "tp_set_num_threads");
    this.threads = threads;
    // The CUDA shim initialises the device lazily; asking for its facts reports a missing
    // driver (35), device (100) or vendor library (6) now rather than at the first op.
    if (kind === "cuda") this.info();
  }

  lastError(): string {
    const p = this.sym.tp_last_error();
    return p === null ? "" : Deno.UnsafePointerView.getCString(p);
  }

  check(status: number, op: string, detail?: string | (() => string)): void {
    if (status === 0) return;
    const d = typeof detail === "function" ? detail() : detail;
    throw nativeError(status, op, this.lastError(), d);
  }

  info(): BackendInfo {
    const buf = new Uint8Array(16384);
    this.check(this.sym.tp_backend_info(buf, BigInt(buf.length)), "tp_backend_info");
    const end = buf.indexOf(0);
    return JSON.parse(new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end)));
  }

  describe(): string {
    const i = this.info();
    if (this.name === "cpu") {
      return `cpu (oneDNN ${i.onednn}, ${i.isa}, ${this.threads} threads)`;
    }
    return `cuda (${i.device}, compute ${i.compute_capability}, cuBLAS ${i.cublas}, cuDNN ` +
      `${i.cudnn}, ${i.deterministic ? "deterministic" : "non-deterministic"} algorithms, TF32 ` +
      `${i.allow_tf32 ? "allowed" : "off"}${i.benchmark ? ", algorithms timed" : ""})`;
  }

  supportsOp(op: SymbolName): boolean {
    return op in SYMBOLS && typeof (this.sym as Record<string, unknown>)[op] === "function";
  }

  alloc(bytes: number): Deno.PointerObject {
    const s = this.sym.tp_alloc(BigInt(Math.max(1, bytes)), this.out);
    if (s !== 0) throw nativeError(s, "alloc", this.lastError(), `${bytes} bytes`);
    const p = Deno.UnsafePointer.create(this.out[0]);
    if (p === null) throw new TopiaryError(2, "alloc", "alloc: native allocator returned NULL");
    return p;
  }

  free(ptr: Deno.PointerObject): void {
    this.check(this.sym.tp_free(ptr), "free");
  }

  memoryStats(): MemoryStats {
    const s = this.stats;
    this.check(this.sym.tp_memory_stats(s), "tp_memory_stats");
    return {
      liveBuffers: Number(s[0]),
      liveBytes: Number(s[1]),
      cachedBuffers: Number(s[2]),
      cachedBytes: Number(s[3]),
      planEntries: Number(s[4]),
      peakBytes: Number(s[5]),
      allocCalls: Number(s[6]),
      allocHits: Number(s[7]),
    };
  }

  clearCaches(): void {
    this.check(this.sym.tp_cache_clear(), "tp_cache_clear");
  }

  useAlgorithmFile(path: string | null): void {
    const f = this.sym.tp_conv_algorithms_file;
    if (!f) return;
    const bytes = new TextEncoder().encode(`${path ?? ""}\0`);
    this.check(f(bytes), "tp_conv_algorithms_file", path ?? "(in memory)");
  }
}

const loaded = new Map<LibraryKind, Backend>();

/**
 * The backend of a device, loaded once per process. The thread count comes from
 * `TOPIARY_THREADS` (default: all cores).
 */
export function getBackend(kind: LibraryKind = "cpu"): Backend {
  let b = loaded.get(kind);
  if (!b) {
    b = new NativeBackend(kind, findLibrary(kind), threadsFromEnv());
    loaded.set(kind, b);
  }
  return b;
}

/** Backends that can be loaded on this machine (the CPU one always; CUDA when built). */
export function availableBackends(): LibraryKind[] {
  const kinds: LibraryKind[] = ["cpu"];
  try {
    getBackend("cuda");
    kinds.push("cuda");
  } catch {
    // No CUDA library or device: the CPU backend alone.
  }
  return kinds;
}
