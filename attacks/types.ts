/**
 * The shared vocabulary of attacks: threat models, the Attack interface, and the addressing
 * of their random draws.
 * @module
 */

import type { Module, Tensor } from "@topiary/core";

/** Norm of a threat model. */
export type Norm = "linf" | "l2";

/** A threat model: perturbations d with ||d||_norm <= eps, and x + d in [0, 1]. */
export interface ThreatModel {
  norm: Norm;
  eps: number;
}

/** Validates a threat model, with errors naming the bad field. */
export function checkThreat(t: ThreatModel, op = "attack"): ThreatModel {
  if (t === null || typeof t !== "object") {
    throw new Error(`${op}: threat model must be { norm, eps }`);
  }
  if (t.norm !== "linf" && t.norm !== "l2") {
    throw new Error(`${op}: unknown norm "${t.norm}" (expected "linf" or "l2")`);
  }
  if (typeof t.eps !== "number" || !Number.isFinite(t.eps) || t.eps < 0) {
    throw new Error(`${op}: eps must be a finite number >= 0, got ${t.eps}`);
  }
  return t;
}

/** Where an attack's random draws come from: the run's seed and the examples' indices. */
export interface AttackContext {
  /** The run's seed. */
  seed: number | bigint;
  /**
   * Dataset indices of the batch's examples (one per row of x), so that an example's random
   * starts do not depend on which batch it lands in.
   */
  indices: Int32Array;
  /**
   * An extra address word that separates repeated attacks on the same examples, e.g. the
   * training step of an adversarial training objective (default 0; an integer in
   * [0, 2^32)).
   */
  round?: number;
}

/**
 * Validates an attack context for a batch of n examples: indices are n non-negative
 * integers, the seed is a u64 and the round a u32.
 */
export function checkContext(ctx: AttackContext, n: number, op = "attack"): AttackContext {
  if (ctx === null || typeof ctx !== "object") {
    throw new Error(`${op}: the context must be { seed, indices }`);
  }
  const seed = ctx.seed;
  if (
    !(typeof seed === "bigint" && seed >= 0n && seed < 1n << 64n) &&
    !(typeof seed === "number" && Number.isSafeInteger(seed) && seed >= 0)
  ) {
    throw new Error(`${op}: ctx.seed must be a non-negative integer, got ${seed}`);
  }
  if (!(ctx.indices instanceof Int32Array)) {
    throw new Error(`${op}: ctx.indices must be an Int32Array of dataset indices`);
  }
  if (ctx.indices.length !== n) {
    throw new Error(
      `${op}: ctx.indices has ${ctx.indices.length} entries for a batch of ${n} examples`,
    );
  }
  for (const i of ctx.indices) {
    if (i < 0) throw new Error(`${op}: ctx.indices must be non-negative, got ${i}`);
  }
  const r = ctx.round ?? 0;
  if (!Number.isInteger(r) || r < 0 || r > 0xffffffff) {
    throw new Error(`${op}: ctx.round must be an integer in [0, 2^32), got ${r}`);
  }
  return ctx;
}

/**
 * The Philox counter of example `row`'s draws: round * 2^32 + indices[row]. Attacks put
 * the restart or iteration number into the stream name (e.g. "pgd-start:2"), so a draw is
 * addressed by (seed, "<attack>-<purpose>:<k>", round * 2^32 + dataset index) and an
 * example's draws do not depend on the batch it is in.
 */
export function drawCounter(ctx: AttackContext, row: number): bigint {
  return (BigInt(ctx.round ?? 0) << 32n) | BigInt(ctx.indices[row]);
}

/**
 * An attack: adversarial inputs for a batch. It leaves the model's parameters, their
 * gradients and its train/eval mode as they were (it uses the mode the caller set).
 */
export interface Attack {
  /** Short name, e.g. "pgd-ce", "apgd-t", "square". */
  readonly name: string;
  /** The threat model. */
  readonly threat: ThreatModel;
  /** Every setting that determines the result (steps, step size, restarts, loss, ...). */
  settings(): Record<string, unknown>;
  /**
   * Adversarial examples for x [N, ...] in [0, 1] with labels y [N] (i32): a new tensor of
   * x's shape within the threat model's ball around x and inside [0, 1].
   */
  run(model: Module, x: Tensor, y: Tensor, ctx: AttackContext): Tensor;
}
