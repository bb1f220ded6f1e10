/**
 * `Dropout` and the `StochasticContext` it draws from.
 *
 * A dropout mask is a Bernoulli draw at an explicit address (seed, stream, counter):
 * - seed: the run's seed, held by a {@link StochasticContext};
 * - stream: `dropout:<dotted module name>` (e.g. "dropout:block1.layer.0.dropout"), so each
 *   layer has its own stream;
 * - counter: step * 2^20 + k, where step is the context's training step and k counts this
 *   layer's draws within the step (several forward passes per step, as in TRADES or
 *   train-mode attacks, each get a fresh mask).
 *
 * The training loop owns the context and calls `ctx.setStep(globalStep)` before each step;
 * a run resumed at step s then draws exactly the masks of the uninterrupted run, since the
 * masks depend only on (seed, name, step, k). Checkpoints store the seed and the step.
 * @module
 */

import { mul } from "../ops/elementwise.ts";
import { bernoulli } from "../ops/random.ts";
import type { Tensor } from "../tensor.ts";
import { identity } from "./_identity.ts";
import { Module } from "./module.ts";

const CALLS_PER_STEP = 1 << 20;

/** Seed and training step for stochastic layers; counts draws per stream within a step. */
export class StochasticContext {
  /** The run's seed. */
  readonly seed: number | bigint;
  private currentStep = 0;
  private readonly calls = new Map<string, number>();

  constructor(seed: number | bigint, step = 0) {
    if (typeof seed === "number" && !(Number.isSafeInteger(seed) && seed >= 0)) {
      throw new Error(`StochasticContext: seed must be a non-negative integer, got ${seed}`);
    }
    this.seed = seed;
    this.setStep(step);
  }

  /** The current training step. */
  get step(): number {
    return this.currentStep;
  }

  /** Moves to training step `step` (restarting the per-step draw counts). */
  setStep(step: number): void {
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new Error(`StochasticContext: step must be a non-negative integer, got ${step}`);
    }
    this.currentStep = step;
    this.calls.clear();
  }

  /** The counter of the next draw from `stream` in this step: step * 2^20 + k. */
  nextCounter(stream: string): bigint {
    const k = this.calls.get(stream) ?? 0;
    if (k >= CALLS_PER_STEP) {
      throw new Error(
        `StochasticContext: more than ${CALLS_PER_STEP} draws from "${stream}" in step ` +
          `${this.currentStep}; call setStep() once per training step`,
      );
    }
    this.calls.set(stream, k + 1);
    return BigInt(this.currentStep) * BigInt(CALLS_PER_STEP) + BigInt(k);
  }
}

/** A module that draws random numbers and needs a context and a stream name. */
export interface Stochastic {
  /** Attaches the context; `name` is the module's dotted name. */
  setStochasticContext(ctx: StochasticContext, name: string): void;
}

function isStochastic(m: unknown): m is Stochastic {
  return typeof (m as Stochastic).setStochasticContext === "function";
}

/** Attaches `ctx` to every stochastic module of `model` (each with its dotted name). */
export function setStochasticContext(model: Module, ctx: StochasticContext): void {
  for (const [name, m] of model.namedModules()) {
    if (isStochastic(m)) m.setStochasticContext(ctx, name);
  }
}

/** Options of {@link Dropout}. */
export interface DropoutOptions {
  /** The context to draw from (or attach one later with `setStochasticContext`). */
  context?: StochasticContext;
  /** Stream name (default `dropout:<name>`, or "dropout" for a root module). */
  stream?: string;
}

/**
 * Zeroes each element with probability p in training mode and scales the others by
 * 1/(1-p); the identity in evaluation mode.
 */
export class Dropout extends Module implements Stochastic {
  /** Drop probability. */
  readonly p: number;
  private ctx: StochasticContext | null;
  private stream: string;

  constructor(p = 0.5, opts: DropoutOptions = {}) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
    this.p = p;
    this.ctx = opts.context ?? null;
    this.stream = opts.stream ?? "dropout";
  }

  /** Attaches the context; the stream becomes `dropout:<name>`. */
  setStochasticContext(ctx: StochasticContext, name: string): void {
    this.ctx = ctx;
    this.stream = name ? `dropout:${name}` : "dropout";
  }

  /** The stream the masks are drawn from. */
  get streamName(): string {
    return this.stream;
  }

  /** Applies dropout (training) or the identity (evaluation, or p = 0). */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return identity(x);
    if (this.p === 1) return mul(x, 0);
    const ctx = this.ctx;
    if (!ctx) {
      throw new Error(
        `Dropout (stream "${this.stream}"): no StochasticContext; call ` +
          `setStochasticContext(model, ctx) before training`,
      );
    }
    const counter = ctx.nextCounter(this.stream);
    const keep = bernoulli(x.shape, {
      seed: ctx.seed,
      stream: this.stream,
      counter,
      backend: x.backend,
    }, 1 - this.p);
    try {
      // The mask is 1/(1-p) where kept: one scaled mask, one product.
      const scaled = mul(keep, 1 / (1 - this.p));
      try {
        return mul(x, scaled);
      } finally {
        scaled.dispose();
      }
    } finally {
      keep.dispose();
    }
  }

  override toString(): string {
    return `Dropout(p ${this.p})`;
  }
}
