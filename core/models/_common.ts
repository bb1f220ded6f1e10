/**
 * Shared pieces of the model zoo: options, input checks, deferred initialisation.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import type { InitOptions } from "../nn/init.ts";
import { initParameters } from "../nn/init.ts";
import type { Module } from "../nn/module.ts";
import { fmtShape, type Tensor } from "../tensor.ts";

/** Options every model takes. */
export interface ModelOptions {
  /** The run's seed: parameter p is drawn from (seed, stream = p's dotted name, 0). */
  seed: number | bigint;
  /**
   * Initialisers of conv and linear weights (default PyTorch's), or false to skip the
   * initialisation (parameters zero, batch norm at its defaults), e.g. before loading a
   * checkpoint.
   */
  init?: Omit<InitOptions, "seed"> | false;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Device of the parameters (default: the default backend). */
  backend?: Backend;
}

/** Layer options for building a model's children (initialised once, by the model). */
export function deferred(opts: ModelOptions): { init: false; backend?: Backend } {
  return { init: false, backend: opts.backend };
}

/** Initialises a freshly built model from its seed. */
export function initModel(model: Module, opts: ModelOptions): void {
  if (opts.seed === undefined || opts.seed === null) {
    throw new Error(`${model.constructor.name}: options need a seed, e.g. { seed: 0 }`);
  }
  if (opts.init === false) return;
  initParameters(model, { seed: opts.seed, ...opts.init });
}

/** The number of classes, validated. */
export function classes(opts: ModelOptions): number {
  const n = opts.numClasses ?? 10;
  if (!Number.isInteger(n) || n < 1) throw new Error(`numClasses must be >= 1, got ${n}`);
  return n;
}

/** Throws a clear error unless x is [N, ...chw]. */
export function checkInput(model: string, x: Tensor, chw: readonly number[]): void {
  const s = x.shape;
  if (s.length === chw.length + 1 && chw.every((d, i) => s[i + 1] === d)) return;
  const got = s.length >= 1 ? `[N, ${s.slice(1).join(", ")}]` : fmtShape(s);
  throw new Error(
    `${model} expects input [N, ${chw.join(", ")}], got ${got} (${fmtShape(s)})`,
  );
}
