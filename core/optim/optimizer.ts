/**
 * `Optimizer`: the base of SGD and Adam. Holds named parameters, optional pruning masks, the
 * learning rate (set by the caller before each step, usually from a schedule) and per-parameter
 * state, which it exposes as a state dict with PyTorch-like names for checkpoints.
 * @module
 */

import type { StateDict } from "../nn/module.ts";
import { copyInto } from "../nn/module.ts";
import { denseRaw } from "../ops/_raw.ts";
import { fill } from "../ops/create.ts";
import { fmtShape, Tensor } from "../tensor.ts";

/** Parameters to optimize: `[name, tensor]` pairs (`module.namedParameters()`) or tensors. */
export type ParamList = readonly (readonly [string, Tensor])[] | readonly Tensor[];

/** A JSON scalar of optimizer state. */
export type StateScalar = number | boolean | string;

/** Masks by parameter name: 0/1 f32 tensors of the parameter's shape. */
export type MaskMap = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

/**
 * Optimizer state for checkpoints. `tensors` holds per-parameter buffers named
 * `state.<param name>.<key>` (keys as PyTorch: `momentum_buffer`, `exp_avg`, `exp_avg_sq`);
 * `scalars` holds the kind (`type`), hyperparameters, `lr`, `steps` and per-parameter counters
 * (`state.<param name>.step`).
 */
export interface OptimizerState {
  tensors: StateDict;
  scalars: Record<string, StateScalar>;
}

/** Options shared by all optimizers. */
export interface OptimizerOptions {
  /** Learning rate of the first step; set `opt.lr` before each step to schedule it. */
  lr: number;
  /** Pruning masks by parameter name (see {@link Optimizer.setMask}). */
  masks?: MaskMap;
}

function normalize(params: ParamList): [string[], Tensor[]] {
  const names: string[] = [], tensors: Tensor[] = [];
  params.forEach((p, i) => {
    const [n, t] = p instanceof Tensor ? [String(i), p] : p;
    names.push(n);
    tensors.push(t);
  });
  return [names, tensors];
}

/** Throws unless `v` is a finite number >= 0 (or > 0 when `positive`). */
export function checkHyper(op: string, name: string, v: number, positive = false): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
    throw new Error(
      `${op}: ${name} must be a finite number ${positive ? "> 0" : ">= 0"}, got ${v}`,
    );
  }
}

/**
 * Base class of optimizers. `step(grads)` takes gradients aligned with the parameter list (as
 * `grad(loss, params)` returns them); a `null` gradient skips its parameter, as PyTorch skips a
 * parameter whose `.grad` is None. State tensors are owned by the optimizer until `dispose()`.
 */
export abstract class Optimizer {
  /** Parameter names, in the order of the parameter list. */
  readonly names: readonly string[];
  /** The parameters (owned by the caller), updated in place by `step`. */
  readonly params: readonly Tensor[];
  /** Learning rate of the next step. */
  lr: number;
  /** Number of `step` calls (restored by `loadStateDict`; a fresh optimizer starts at 0). */
  steps = 0;
  /** The state keys per parameter that this optimizer keeps (PyTorch's names). */
  protected abstract readonly stateKeys: readonly string[];
  /** Per-parameter state tensors, by key. */
  protected readonly state: Map<string, Tensor>[];
  private readonly masks: (Tensor | null)[];
  private readonly index = new Map<string, number>();

  constructor(params: ParamList, opts: OptimizerOptions) {
    const op = this.constructor.name;
    [this.names, this.params] = normalize(params) as [string[], Tensor[]];
    if (this.params.length === 0) throw new Error(`${op}: no parameters to optimize`);
    const seen = new Set<Tensor>();
    this.params.forEach((t, i) => {
      const n = this.names[i];
      if (this.index.has(n)) throw new Error(`${op}: parameter name "${n}" appears twice`);
      if (seen.has(t)) throw new Error(`${op}: parameter "${n}" is listed twice`);
      this.index.set(n, i);
      seen.add(t);
      t.assertAlive(`${op}: parameter "${n}"`);
      if (t.dtype !== "f32" || !t.isContiguous || t.offset !== 0) {
        throw new Error(`${op}: parameter "${n}" ${t} must be a dense f32 tensor`);
      }
    });
    checkHyper(op, "lr", opts.lr);
    this.lr = opts.lr;
    this.state = this.params.map(() => new Map());
    this.masks = this.params.map(() => null);
    const masks = opts.masks instanceof Map
      ? opts.masks
      : new Map(Object.entries(opts.masks ?? {}));
    for (const [n, m] of masks) this.setMask(n, m);
  }

  /** Index of a parameter by name (or the index itself, checked). */
  protected indexOf(param: string | number): number {
    const i = typeof param === "number" ? param : this.index.get(param);
    if (i === undefined || !Number.isInteger(i) || i < 0 || i >= this.params.length) {
      throw new Error(`${this.constructor.name}: no parameter ${JSON.stringify(param)}`);
    }
    return i;
  }

  /**
   * Sets (or clears with `null`) the pruning mask of a parameter: a 0/1 f32 tensor of its shape.
   * Where the mask is 0 the update writes the weight and its state as exactly 0. The mask is
   * read at every step, not copied: the caller owns it and may change its values in place.
   */
  setMask(param: string | number, mask: Tensor | null): void {
    const i = this.indexOf(param);
    const op = `${this.constructor.name}.setMask`, n = this.names[i], p = this.params[i];
    if (mask) {
      mask.assertAlive(`${op}("${n}")`);
      if (mask.dtype !== "f32") {
        throw new Error(
          `${op}: the mask of "${n}" must be f32 (0/1), got ${mask.dtype}; convert it with ` +
            `cast(mask, "f32")`,
        );
      }
      if (mask.shape.join() !== p.shape.join()) {
        throw new Error(
          `${op}: the mask of "${n}" is ${fmtShape(mask.shape)}, the parameter is ` +
            fmtShape(p.shape),
        );
      }
      if (!mask.isContiguous || mask.offset !== 0) {
        throw new Error(`${op}: the mask of "${n}" must be dense (offset 0, row-major)`);
      }
      if (mask.backend !== p.backend) {
        throw new Error(
          `${op}: the mask of "${n}" is on ${mask.device}, the parameter on ${p.device}`,
        );
      }
    }
    this.masks[i] = mask;
  }

  /** The mask of a parameter, or null. */
  mask(param: string | number): Tensor | null {
    return this.masks[this.indexOf(param)];
  }

  /** Applies one update to every parameter with a (non-null) gradient, using `this.lr`. */
  step(grads: readonly (Tensor | null | undefined)[]): void {
    const op = `${this.constructor.name}.step`;
    if (grads.length !== this.params.length) {
      throw new Error(
        `${op}: ${grads.length} gradients for ${this.params.length} parameters ` +
          `(pass grad(loss, params) in the parameter order)`,
      );
    }
    checkHyper(op, "lr", this.lr);
    grads.forEach((g, i) => {
      if (!g) return;
      const p = this.params[i], n = this.names[i];
      g.assertAlive(`${op}: gradient of "${n}"`);
      if (g.shape.join() !== p.shape.join() || g.dtype !== "f32") {
        throw new Error(`${op}: gradient of "${n}" is ${g}, the parameter is ${p}`);
      }
      const d = denseRaw(g);
      try {
        this.update(i, p, d, this.masks[i]);
      } finally {
        if (d !== g) d.dispose();
      }
    });
    this.steps++;
  }

  /** One update of parameter `i` (gradient dense and of its shape). */
  protected abstract update(i: number, p: Tensor, g: Tensor, mask: Tensor | null): void;

  /** A new zero state tensor of parameter i's shape under `key`, kept out of `tidy` scopes. */
  protected newState(i: number, key: string): Tensor {
    const p = this.params[i];
    const t = Tensor.empty(p.shape, "f32", p.backend).keep();
    fill(t, 0);
    const old = this.state[i].get(key);
    this.state[i].set(key, t);
    old?.dispose();
    return t;
  }

  /** Hyperparameters that a loaded state must match exactly (besides `type`). */
  protected abstract hyperparameters(): Record<string, StateScalar>;

  /** Per-parameter scalars of the state dict, named `state.<param name>.<key>`. */
  protected paramScalars(): Record<string, StateScalar> {
    return {};
  }

  /** Keys of per-parameter scalars (e.g. `step`). */
  protected readonly paramScalarKeys: readonly string[] = [];

  /**
   * Validates per-parameter scalars against which parameters have state tensors, and loads
   * them when `apply` (called once to check, then once to apply).
   */
  protected loadParamScalars(
    _op: string,
    _scalars: Record<string, StateScalar>,
    _hasState: readonly boolean[],
    _apply: boolean,
  ): void {}

  /**
   * The state for checkpoints. The tensors are the optimizer's own: do not dispose them (the
   * checkpoint writer copies them to host).
   */
  stateDict(): OptimizerState {
    const tensors: StateDict = new Map();
    this.state.forEach((m, i) => {
      for (const key of this.stateKeys) {
        const t = m.get(key);
        if (t) tensors.set(`state.${this.names[i]}.${key}`, t);
      }
    });
    return {
      tensors,
      scalars: {
        type: this.constructor.name,
        ...this.hyperparameters(),
        lr: this.lr,
        steps: this.steps,
        ...this.paramScalars(),
      },
    };
  }

  /**
   * Restores a state saved by {@link stateDict}: buffers are copied (the caller keeps
   * ownership of `s`), `lr` and `steps` are restored. Unlike PyTorch, whose
   * `load_state_dict` silently overwrites the hyperparameters, a state whose kind or
   * hyperparameters differ from this optimizer's is refused. Nothing changes on error.
   */
  loadStateDict(s: OptimizerState): void {
    const op = `${this.constructor.name}.loadStateDict`;
    const sc = s.scalars;
    if (sc.type !== this.constructor.name) {
      throw new Error(
        `${op}: the state is of a ${sc.type} optimizer, not ${this.constructor.name}`,
      );
    }
    for (const [k, v] of Object.entries(this.hyperparameters())) {
      if (sc[k] !== v) {
        throw new Error(
          `${op}: the state has ${k} = ${sc[k]}, this optimizer ${v}; create the optimizer ` +
            `with the checkpoint's settings`,
        );
      }
    }
    const lr = sc.lr, steps = sc.steps;
    if (typeof lr !== "number") throw new Error(`${op}: the state has no numeric lr`);
    checkHyper(op, "lr", lr);
    if (typeof steps !== "number" || !Number.isSafeInteger(steps) || steps < 0) {
      throw new Error(`${op}: the state's steps must be an integer >= 0, got ${steps}`);
    }
    const incoming = this.params.map(() => new Map<string, Tensor>());
    for (const [name, t] of s.tensors) {
      const [i, key] = this.parseKey(op, name);
      const p = this.params[i];
      t.assertAlive(`${op}: "${name}"`);
      if (t.dtype !== "f32" || t.shape.join() !== p.shape.join()) {
        throw new Error(`${op}: "${name}" is ${t}, the parameter "${this.names[i]}" is ${p}`);
      }
      if (t.backend !== p.backend) {
        throw new Error(`${op}: "${name}" is on ${t.device}, the parameter on ${p.device}`);
      }
      incoming[i].set(key, t);
    }
    incoming.forEach((m, i) => {
      if (m.size > 0 && m.size < this.stateKeys.length) {
        const missing = this.stateKeys.filter((k) => !m.has(k)).map((k) => `"${k}"`);
        throw new Error(`${op}: the state of "${this.names[i]}" lacks ${missing.join(", ")}`);
      }
    });
    const fixed = new Set(["type", "lr", "steps", ...Object.keys(this.hyperparameters())]);
    for (const k of Object.keys(sc)) {
      if (fixed.has(k)) continue;
      const ok = this.paramScalarKeys.some((key) =>
        k.startsWith("state.") && k.endsWith(`.${key}`) &&
        this.index.has(k.slice(6, -key.length - 1))
      );
      if (!ok) throw new Error(`${op}: unexpected scalar "${k}" in the state`);
    }
    const hasState = incoming.map((m) => m.size > 0);
    this.loadParamScalars(op, sc, hasState, false);
    // Everything is valid: apply.
    incoming.forEach((m, i) => {
      for (const t of this.state[i].values()) t.dispose();
      this.state[i].clear();
      for (const [key, src] of m) {
        const dense = denseRaw(src);
        copyInto(this.newState(i, key), dense);
        if (dense !== src) dense.dispose();
      }
    });
    this.loadParamScalars(op, sc, hasState, true);
    this.lr = lr;
    this.steps = steps;
  }

  /** Splits `state.<param name>.<key>` into the parameter index and key. */
  protected parseKey(op: string, name: string): [number, string] {
    for (const key of this.stateKeys) {
      const suffix = `.${key}`;
      if (name.startsWith("state.") && name.endsWith(suffix)) {
        const i = this.index.get(name.slice(6, -suffix.length));
        if (i !== undefined) return [i, key];
      }
    }
    throw new Error(
      `${op}: unexpected state tensor "${name}" (expected state.<parameter name>.` +
        `{${this.stateKeys.join(",")}} for this optimizer's parameters)`,
    );
  }

  /** Frees the optimizer's state tensors (not the parameters or masks). */
  dispose(): void {
    for (const m of this.state) {
      for (const t of m.values()) t.dispose();
      m.clear();
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
