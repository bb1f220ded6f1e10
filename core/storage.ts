/**
 * Reference-counted native storage behind tensors.
 * @module
 */

import type { Backend } from "@topiary/ffi";

/** Counts tensor handles that were garbage-collected without `dispose()` (leaks). */
export const leakStats = { collected: 0 };

/**
 * A native buffer shared by tensor views. Each tensor handle holds one reference; the buffer
 * is freed when the last handle is disposed. `version` counts in-place writes, so autograd
 * can refuse a backward pass through a tensor that was modified after it was saved.
 */
export class Storage {
  /** The backend that owns the buffer. */
  readonly backend: Backend;
  /** Native pointer (fetched once). */
  readonly ptr: Deno.PointerObject;
  /** Bytes requested. */
  readonly bytes: number;
  /** In-place write counter. */
  version = 0;
  private refs = 1;

  constructor(backend: Backend, bytes: number) {
    this.backend = backend;
    this.bytes = bytes;
    this.ptr = backend.alloc(bytes);
  }

  /** Whether the buffer has been freed. */
  get freed(): boolean {
    return this.refs <= 0;
  }

  /** Adds a reference (a new handle on the same buffer). */
  retain(): void {
    if (this.refs <= 0) throw new Error("internal: retain of freed storage");
    this.refs++;
  }

  /** Drops a reference; frees the buffer with the last one. */
  release(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0) this.backend.free(this.ptr);
  }
}
