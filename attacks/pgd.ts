/**
 * Projected gradient descent (Madry et al. 2018), Linf and L2, with cross-entropy or the CW
 * margin, random starts and restarts.
 * @module
 */

import {
  attackStep,
  type Module,
  softmaxCrossEntropy,
  sum,
  type Tensor,
  tidy,
  withReluSurrogate,
} from "@topiary/core";
import { BestTracker, bindLoss, lossGrad, score } from "./_engine.ts";
import { cleanStart, uniformStart, vertexStart } from "./_start.ts";
import {
  checkBatch,
  checkChoice,
  checkInt,
  checkNum,
  copyOf,
  gatherRows,
  iota,
  subContext,
} from "./_util.ts";
import { cwLoss, lossByName } from "./losses.ts";
import { type Attack, type AttackContext, checkThreat, type ThreatModel } from "./types.ts";

/** Options of {@link Pgd}. */
export interface PgdOptions {
  /** Threat model (norm and eps). */
  threat: ThreatModel;
  /** Gradient steps per restart (default 10). */
  steps?: number;
  /** Step size alpha (default 2.5 * eps / steps, Madry et al.'s rule). */
  stepSize?: number;
  /** Random restarts (default 1). */
  restarts?: number;
  /** Loss maximised: "ce" (cross-entropy, default) or "cw" (margin). */
  loss?: "ce" | "cw";
  /** Start from a random point of the ball (default true); else from x. */
  randomStart?: boolean;
  /**
   * Where random starts are drawn (Linf only): "uniform" in the ball (default) or "vertex",
   * x + eps · s with random signs s, a corner of the ball as the Square attack's
   * initialisation uses (a diagnostic for gradient masking by input thresholds).
   */
  start?: "uniform" | "vertex";
  /**
   * Evaluation mode (default true): every iterate is scored and each example keeps its worst
   * point (misclassified first, then highest loss); examples already misclassified (clean or
   * by an earlier restart) are not attacked again, as in AutoAttack. False: plain Madry PGD
   * for training; each restart returns its last iterate and, with several restarts, the one
   * of highest final loss (misclassified first) is kept.
   */
  keepBest?: boolean;
  /**
   * Smooth-gradient PGD (an adaptive attack on gradient masking by ReLU thresholds): the
   * input gradient flows through softplus_β instead of each ReLU (forward pass exact, so the
   * iterates are scored on the real network). Default: the exact gradient.
   */
  reluSurrogate?: number;
}

/**
 * PGD: from a start in the ball (Linf: U(-eps, eps) per coordinate; L2: uniform direction
 * and radius eps * U(0, 1)), `steps` fused steps x = clamp(proj(x + alpha * sign(g))) (L2:
 * alpha * g / ||g||). Each iteration computes only the input gradient. Random starts come
 * from (ctx.seed, "pgd-start:<restart>", drawCounter(ctx, i)). In train mode batch norm uses
 * batch statistics and updates its running statistics at every forward pass, as PyTorch does.
 */
export class Pgd implements Attack {
  readonly name: string;
  readonly threat: ThreatModel;
  readonly steps: number;
  readonly stepSize: number;
  readonly restarts: number;
  readonly loss: "ce" | "cw";
  readonly randomStart: boolean;
  readonly startKind: "uniform" | "vertex";
  readonly keepBest: boolean;
  readonly reluSurrogate: number | null;

  constructor(o: PgdOptions) {
    const op = "pgd";
    this.threat = { ...checkThreat(o?.threat, op) };
    this.steps = checkInt(op, "steps", o.steps ?? 10, 1);
    this.stepSize = checkNum(op, "stepSize", o.stepSize ?? 2.5 * this.threat.eps / this.steps, 0);
    this.restarts = checkInt(op, "restarts", o.restarts ?? 1, 1);
    this.loss = checkChoice(op, "loss", o.loss ?? "ce", ["ce", "cw"] as const);
    this.randomStart = o.randomStart ?? true;
    this.startKind = checkChoice(op, "start", o.start ?? "uniform", ["uniform", "vertex"] as const);
    if (this.startKind === "vertex" && this.threat.norm !== "linf") {
      throw new Error(`pgd: start "vertex" needs the linf norm, got ${this.threat.norm}`);
    }
    this.keepBest = o.keepBest ?? true;
    this.reluSurrogate = o.reluSurrogate === undefined
      ? null
      : checkNum(op, "reluSurrogate", o.reluSurrogate, 0);
    if (this.reluSurrogate === 0) throw new Error("pgd: reluSurrogate must be > 0");
    this.name = (this.startKind === "vertex" ? `pgd-${this.loss}-vertex` : `pgd-${this.loss}`) +
      (this.reluSurrogate === null ? "" : `-smooth${this.reluSurrogate}`);
  }

  /** Every setting that determines the result. */
  settings(): Record<string, unknown> {
    return {
      attack: "pgd",
      norm: this.threat.norm,
      eps: this.threat.eps,
      steps: this.steps,
      stepSize: this.stepSize,
      restarts: this.restarts,
      loss: this.loss,
      randomStart: this.randomStart,
      ...(this.startKind === "vertex" ? { start: "vertex" } : {}),
      keepBest: this.keepBest,
      ...(this.reluSurrogate === null ? {} : { reluSurrogate: this.reluSurrogate }),
    };
  }

  /** Adversarial examples for x (see the class comment). */
  run(model: Module, x: Tensor, y: Tensor, ctx: AttackContext): Tensor {
    const n = checkBatch(this.name, x, y, ctx);
    if (n === 0) return copyOf(x);
    return tidy(() => {
      const x0 = copyOf(x), yd = copyOf(y);
      if (!this.keepBest && this.restarts === 1) return this.plain(model, x0, yd, ctx);
      return this.tracked(model, x0, yd, y.toArray() as Int32Array, ctx);
    });
  }

  private start(x0: Tensor, ctx: AttackContext, restart: number): Tensor {
    const { norm, eps } = this.threat;
    if (!this.randomStart) return cleanStart(x0);
    return this.startKind === "vertex"
      ? vertexStart(eps, x0, ctx, "pgd-vertex", restart)
      : uniformStart(norm, eps, x0, ctx, "pgd", restart);
  }

  /** Runs the steps in place on xAdv (a leaf the caller owns). */
  private iterate(
    model: Module,
    xAdv: Tensor,
    x0: Tensor,
    y: Tensor,
    onIterate?: (loss: Float32Array, logits: Float32Array) => void,
  ): void {
    const { norm, eps } = this.threat;
    const lossOf = bindLoss(lossByName(this.loss, this.name), y);
    const total = this.loss === "ce"
      ? (z: Tensor) => softmaxCrossEntropy(z, y, "sum")
      : (z: Tensor) => sum(cwLoss(z, y));
    xAdv.requiresGrad = true;
    for (let t = 0; t < this.steps; t++) {
      const pass = () => lossGrad(model, xAdv, lossOf, onIterate !== undefined, total);
      const p = this.reluSurrogate === null ? pass() : withReluSurrogate(this.reluSurrogate, pass);
      try {
        if (onIterate) onIterate(p.loss!, p.logits!);
        attackStep(norm, xAdv, x0, p.g, this.stepSize, eps);
      } finally {
        p.g.dispose();
      }
    }
    xAdv.requiresGrad = false;
  }

  private plain(model: Module, x0: Tensor, y: Tensor, ctx: AttackContext): Tensor {
    const xAdv = this.start(x0, ctx, 0);
    this.iterate(model, xAdv, x0, y);
    return xAdv;
  }

  private tracked(
    model: Module,
    x0: Tensor,
    y: Tensor,
    labels: Int32Array,
    ctx: AttackContext,
  ): Tensor {
    const n = labels.length;
    const lossFn = lossByName(this.loss, this.name);
    const clean = score(model, x0, bindLoss(lossFn, y));
    const tracker = new BestTracker(x0, labels, clean.logits.length / n);
    if (this.keepBest) tracker.offer(x0, iota(n), clean.loss, clean.logits);
    for (let r = 0; r < this.restarts; r++) {
      const rows = this.keepBest ? tracker.robustRows() : iota(n);
      if (rows.length === 0) break;
      tidy(() => {
        const all = rows.length === n;
        const xs0 = all ? x0 : gatherRows(x0, rows);
        const ys = all ? y : gatherRows(y, rows);
        const xAdv = this.start(xs0, all ? ctx : subContext(ctx, rows), r);
        const offer = (loss: Float32Array, logits: Float32Array) =>
          tracker.offer(xAdv, rows, loss, logits);
        this.iterate(model, xAdv, xs0, ys, this.keepBest ? offer : undefined);
        const f = score(model, xAdv, bindLoss(lossFn, ys));
        offer(f.loss, f.logits);
      });
    }
    return tracker.best;
  }
}

/** A PGD attack (see {@link Pgd}). */
export function pgd(o: PgdOptions): Pgd {
  return new Pgd(o);
}
