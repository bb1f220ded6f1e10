/**
 * `Sequential`: children named "0", "1", ... like nn.Sequential, applied in order.
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { identity } from "./_identity.ts";
import { Module } from "./module.ts";

/**
 * Applies `modules` in order to x. Intermediate handles are disposed as soon as the next
 * module has consumed them (autograd keeps what it saved), so the native allocator can reuse
 * their buffers within the same pass; x itself is never disposed.
 */
export function runChain(x: Tensor, modules: readonly Module[]): Tensor {
  if (modules.length === 0) return identity(x);
  let h = x;
  for (let i = 0; i < modules.length; i++) {
    const next = modules[i].forward(h);
    if (h !== x && next !== h) h.dispose();
    h = next;
  }
  return h;
}

/** A chain of modules; children are named by their index, as in PyTorch. */
export class Sequential extends Module {
  private readonly layers: Module[] = [];

  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.push(m);
  }

  /** Appends a module (named by its index). */
  push(m: Module): this {
    this.registerModule(String(this.layers.length), m);
    this.layers.push(m);
    return this;
  }

  /** Number of children. */
  get length(): number {
    return this.layers.length;
  }

  /** The child at index i. */
  at(i: number): Module {
    const m = this.layers[i];
    if (!m) throw new Error(`Sequential: no child ${i} (it has ${this.layers.length})`);
    return m;
  }

  /** The children in order. */
  modules(): readonly Module[] {
    return this.layers;
  }

  /** Applies the children in order (the identity when empty). */
  forward(x: Tensor): Tensor {
    return runChain(x, this.layers);
  }

  override toString(): string {
    return `Sequential(${this.layers.map(String).join(", ")})`;
  }
}
