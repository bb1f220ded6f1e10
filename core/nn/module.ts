/**
 * `Module`: named parameters, buffers and sub-modules with PyTorch's naming and state-dict
 * order, train/eval modes, and explicit disposal.
 * @module
 */

import { DTYPE_BYTES } from "../dtype.ts";
import { checkStatus } from "../ops/_util.ts";
import { fmtShape, type Tensor } from "../tensor.ts";

/** A state dict: names (as PyTorch names them) to tensors. */
export type StateDict = Map<string, Tensor>;

/** Options of {@link Module.loadStateDict}. */
export interface LoadOptions {
  /** Every key must match exactly (default true). */
  strict?: boolean;
}

/**
 * Base class of layers and models. Subclasses register parameters, buffers and children in
 * the order PyTorch's equivalent module does, so names and state-dict order match it.
 * Registered tensors are owned by the module (kept out of `tidy` scopes) until `dispose()`.
 */
export abstract class Module {
  /** Training mode (batch statistics, dropout on) or evaluation mode. */
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** The module's computation. */
  abstract forward(x: Tensor): Tensor;

  /** Registers a learnable parameter (marks it as requiring gradients). */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.checkName(name);
    t.requiresGrad = true;
    this.params.set(name, t.keep());
    return t;
  }

  /** Registers a non-learnable state tensor (running statistics, masks, ...). */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    this.buffers.set(name, t.keep());
    return t;
  }

  /** Registers a child module under `name`. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  /** This module's own registered parameter or buffer `name` (not a descendant's). */
  protected tensor(name: string): Tensor {
    const t = this.params.get(name) ?? this.buffers.get(name);
    if (!t) throw new Error(`${this.constructor.name}: no tensor named "${name}"`);
    return t;
  }

  /** Replaces a registered parameter or buffer tensor (the old one is disposed). */
  protected replaceTensor(name: string, t: Tensor): Tensor {
    const isParam = this.params.has(name);
    const old = isParam ? this.params.get(name) : this.buffers.get(name);
    if (!old) throw new Error(`${this.constructor.name}: no tensor named "${name}" to replace`);
    if (isParam) t.requiresGrad = true;
    (isParam ? this.params : this.buffers).set(name, t.keep());
    if (old !== t) old.dispose();
    return t;
  }

  private checkName(name: string): void {
    if (!name || name.includes(".")) throw new Error(`invalid module member name "${name}"`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new Error(`${this.constructor.name}: "${name}" is already registered`);
    }
  }

  /** Direct children in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** This module and all descendants, pre-order, with dotted names ("" for this one). */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** All parameters with dotted names, in PyTorch's order. */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [p, m] of this.namedModules()) {
      for (const [n, t] of m.params) out.push([p ? `${p}.${n}` : n, t]);
    }
    return out;
  }

  /** All buffers with dotted names, in PyTorch's order. */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [p, m] of this.namedModules()) {
      for (const [n, t] of m.buffers) out.push([p ? `${p}.${n}` : n, t]);
    }
    return out;
  }

  /** All parameters, in order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Number of learnable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /**
   * Parameters and buffers by name, in PyTorch's state_dict order (per module, pre-order:
   * its parameters, then its buffers). The tensors are the module's own: do not dispose.
   */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const [p, m] of this.namedModules()) {
      const key = (n: string) => (p ? `${p}.${n}` : n);
      for (const [n, t] of m.params) sd.set(key(n), t);
      for (const [n, t] of m.buffers) sd.set(key(n), t);
    }
    return sd;
  }

  /**
   * Copies values from `sd` into this module's tensors. Missing, unexpected or mismatched
   * entries are an error naming them (only mismatches when `strict` is false).
   */
  loadStateDict(sd: StateDict, opts: LoadOptions = {}): void {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      throw new Error(
        `loadStateDict: ${this.constructor.name} ` +
          (missing.length ? `is missing ${missing.join(", ")}` : "") +
          (missing.length && unexpected.length ? "; " : "") +
          (unexpected.length ? `does not have ${unexpected.join(", ")}` : ""),
      );
    }
    for (const [k, dst] of own) {
      const src = sd.get(k);
      if (!src) continue;
      if (src.shape.join() !== dst.shape.join() || src.dtype !== dst.dtype) {
        throw new Error(
          `loadStateDict: "${k}" is ${fmtShape(src.shape)} ${src.dtype}, the module has ` +
            `${fmtShape(dst.shape)} ${dst.dtype}`,
        );
      }
    }
    for (const [k, dst] of own) {
      const src = sd.get(k);
      if (src && src !== dst) copyInto(dst, src);
    }
  }

  /** Sets training mode on this module and all descendants. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Sets evaluation mode on this module and all descendants. */
  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter and buffer of this module and its descendants. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const t of m.params.values()) t.dispose();
      for (const t of m.buffers.values()) t.dispose();
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Copies the values of `src` into the dense tensor `dst` (same shape and dtype), in place;
 * across devices the copy goes through host memory (so a CPU checkpoint loads into a CUDA
 * model and back).
 */
export function copyInto(dst: Tensor, src: Tensor): void {
  dst.assertAlive("copyInto");
  src.assertAlive("copyInto");
  if (!dst.isContiguous || !src.isContiguous || dst.size !== src.size || dst.dtype !== src.dtype) {
    throw new Error(`copyInto: cannot copy ${src} into ${dst}`);
  }
  const b = dst.backend;
  const es = DTYPE_BYTES[dst.dtype];
  if (src.backend !== b) {
    const host = src.toArray();
    checkStatus(
      b,
      b.sym.tp_copy_from_host(
        dst.storage.ptr,
        BigInt(dst.offset * es),
        host,
        BigInt(host.byteLength),
      ),
      "copyInto",
      () => `${src} into ${dst}`,
    );
    dst.storage.version++;
    return;
  }
  checkStatus(
    b,
    b.sym.tp_copy(
      dst.storage.ptr,
      BigInt(dst.offset * es),
      src.storage.ptr,
      BigInt(src.offset * es),
      BigInt(dst.size * es),
    ),
    "copyInto",
    () => `${src} into ${dst}`,
  );
  dst.storage.version++;
}
