/**
 * Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
 * ensemble of diverse parameter-free attacks"): APGD with the cross-entropy or DLR loss, and
 * the targeted APGD-DLR (APGD-T) of AutoAttack. Linf and L2.
 *
 * Implemented from the paper and the behaviour of the reference code (fra31/auto-attack):
 * start x0 + eps t / ||t|| (Linf: t ~ U(-1, 1) normalised by max |t|; L2: t ~ N(0, I)),
 * initial step size 2 eps, momentum 0.75 (none on the first step), checkpoints from
 * {@link apgdCheckpoints}; at a checkpoint the step size of an example is halved, and it
 * restarts from its best point (with the gradient there), when
 * - condition 1: fewer than rho = 0.75 of the steps since the last checkpoint increased the
 *   loss (the paper's strict "<"; the reference code uses "<="), or
 * - condition 2: its step size was not reduced at the last checkpoint and its best loss has
 *   not increased since.
 * Each example keeps its worst point over all iterates, restarts and targets (misclassified
 * first, then highest loss). Restarts and targets run only on examples that are still
 * correctly classified, and examples misclassified on clean inputs are not attacked (their
 * output is the clean input), as in AutoAttack.
 * @module
 */

import { type Module, type Tensor, tensor, tidy } from "@topiary/core";
import { apgdCheckpoints, type ApgdConfig, apgdRun } from "./_apgd_core.ts";
import { BestTracker, bindLoss, score } from "./_engine.ts";
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
import { cwLoss, lossByName, targetedDlrLoss } from "./losses.ts";
import { type Attack, type AttackContext, checkThreat, type ThreatModel } from "./types.ts";

export { apgdCheckpoints };

/** Options shared by {@link Apgd} and {@link ApgdTargeted}. */
export interface ApgdCommonOptions {
  /** Threat model (norm and eps). */
  threat: ThreatModel;
  /** Iterations per run (default 100). */
  steps?: number;
  /** Random restarts (default 1; per target for APGD-T). */
  restarts?: number;
  /** Condition-1 threshold (default 0.75). */
  rho?: number;
  /** Momentum (default 0.75). */
  momentum?: number;
  /** Initial step size as a multiple of eps (default 2). */
  initialStep?: number;
  /** Smooth-gradient variant: the gradient through softplus_β instead of each ReLU (as PGD's). */
  reluSurrogate?: number;
}

/** Options of {@link Apgd}. */
export interface ApgdOptions extends ApgdCommonOptions {
  /** "ce" (default) or "dlr". */
  loss?: "ce" | "dlr";
}

/** Options of {@link ApgdTargeted}. */
export interface ApgdTargetedOptions extends ApgdCommonOptions {
  /** Target classes: the 2nd, 3rd, ... largest clean logits (default 9, AutoAttack's). */
  targets?: number;
}

function config(op: string, o: ApgdCommonOptions): ApgdConfig & { restarts: number } {
  const threat = checkThreat(o?.threat, op);
  return {
    norm: threat.norm,
    eps: threat.eps,
    steps: checkInt(op, "steps", o.steps ?? 100, 1),
    restarts: checkInt(op, "restarts", o.restarts ?? 1, 1),
    rho: checkNum(op, "rho", o.rho ?? 0.75, 0, 1),
    momentum: checkNum(op, "momentum", o.momentum ?? 0.75, 0, 1),
    initialStep: checkNum(op, "initialStep", o.initialStep ?? 2, 0),
    reluSurrogate: o.reluSurrogate === undefined ? null : positive(op, o.reluSurrogate),
  };
}

function positive(op: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new Error(`${op}: reluSurrogate must be a positive number, got ${v}`);
  }
  return v;
}

/** "-smoothβ" (e.g. "-smooth10") for the smooth-gradient variant. */
function smoothSuffix(cfg: ApgdConfig): string {
  return cfg.reluSurrogate === null ? "" : `-smooth${cfg.reluSurrogate}`;
}

abstract class ApgdBase implements Attack {
  abstract readonly name: string;
  readonly threat: ThreatModel;
  protected readonly cfg: ApgdConfig & { restarts: number };

  constructor(op: string, o: ApgdCommonOptions) {
    this.cfg = config(op, o);
    this.threat = { norm: this.cfg.norm, eps: this.cfg.eps };
  }

  abstract settings(): Record<string, unknown>;

  protected common(): Record<string, unknown> {
    const { norm, eps, steps, restarts, rho, momentum, initialStep, reluSurrogate } = this.cfg;
    return {
      norm,
      eps,
      steps,
      restarts,
      rho,
      momentum,
      initialStep,
      checkpoints: apgdCheckpoints(steps),
      ...(reluSurrogate === null ? {} : { reluSurrogate }),
    };
  }

  /** Adversarial examples for x (see the module comment). */
  run(model: Module, x: Tensor, y: Tensor, ctx: AttackContext): Tensor {
    const n = checkBatch(this.name, x, y, ctx);
    if (n === 0) return copyOf(x);
    return tidy(() => {
      const x0 = copyOf(x), yd = copyOf(y);
      return this.attack(model, x0, yd, y.toArray() as Int32Array, ctx);
    });
  }

  protected abstract attack(
    model: Module,
    x0: Tensor,
    y: Tensor,
    labels: Int32Array,
    ctx: AttackContext,
  ): Tensor;

  /** Runs `body` on the still-robust rows (gathered); returns false when none are left. */
  protected onRobust(
    tracker: BestTracker,
    x0: Tensor,
    y: Tensor,
    ctx: AttackContext,
    body: (rows: Int32Array, xs: Tensor, ys: Tensor, sctx: AttackContext) => void,
  ): boolean {
    const rows = tracker.robustRows();
    if (rows.length === 0) return false;
    tidy(() => {
      const all = rows.length === x0.shape[0];
      body(
        rows,
        all ? x0 : gatherRows(x0, rows),
        all ? y : gatherRows(y, rows),
        all ? ctx : subContext(ctx, rows),
      );
    });
    return true;
  }
}

/** APGD with the cross-entropy ("apgd-ce") or DLR ("apgd-dlr") loss. */
export class Apgd extends ApgdBase {
  readonly name: string;
  readonly loss: "ce" | "dlr";

  constructor(o: ApgdOptions) {
    super("apgd", o);
    this.loss = checkChoice("apgd", "loss", o.loss ?? "ce", ["ce", "dlr"] as const);
    this.name = `apgd-${this.loss}${smoothSuffix(this.cfg)}`;
  }

  /** Every setting that determines the result. */
  settings(): Record<string, unknown> {
    return { attack: "apgd", loss: this.loss, ...this.common() };
  }

  protected attack(
    model: Module,
    x0: Tensor,
    y: Tensor,
    labels: Int32Array,
    ctx: AttackContext,
  ): Tensor {
    const lossFn = lossByName(this.loss, this.name);
    const clean = score(model, x0, bindLoss(lossFn, y));
    const tracker = new BestTracker(x0, labels, clean.logits.length / labels.length);
    tracker.offer(x0, iota(labels.length), clean.loss, clean.logits);
    for (let r = 0; r < this.cfg.restarts; r++) {
      const more = this.onRobust(tracker, x0, y, ctx, (rows, xs, ys, sctx) => {
        apgdRun(model, this.cfg, xs, bindLoss(lossFn, ys), rows, tracker, sctx, this.name, r);
      });
      if (!more) break;
    }
    return tracker.best;
  }
}

/**
 * Targeted APGD on the targeted DLR loss ("apgd-t"): for target rank t = 2, ..., targets + 1
 * the target of an example is the class of its t-th largest clean logit, with `restarts`
 * runs per target (start streams "apgd-t-start:<(t - 2) * restarts + r>"). The tracker ranks
 * points by the CW margin, which does not depend on the target.
 */
export class ApgdTargeted extends ApgdBase {
  readonly name: string;
  readonly targets: number;

  constructor(o: ApgdTargetedOptions) {
    super("apgd-t", o);
    this.name = `apgd-t${smoothSuffix(this.cfg)}`;
    this.targets = checkInt("apgd-t", "targets", o.targets ?? 9, 1);
  }

  /** Every setting that determines the result. */
  settings(): Record<string, unknown> {
    return { attack: "apgd-t", loss: "dlr-targeted", targets: this.targets, ...this.common() };
  }

  protected attack(
    model: Module,
    x0: Tensor,
    y: Tensor,
    labels: Int32Array,
    ctx: AttackContext,
  ): Tensor {
    const n = labels.length;
    const clean = score(model, x0, bindLoss(cwLoss, y));
    const c = clean.logits.length / n;
    if (c < 4) throw new Error(`apgd-t: the targeted DLR loss needs >= 4 classes, got ${c}`);
    if (this.targets > c - 1) {
      throw new Error(
        `apgd-t: targets (${this.targets}) must be at most the number of classes - 1 (${c - 1})`,
      );
    }
    const order = rankOrder(clean.logits, n, c);
    const tracker = new BestTracker(x0, labels, c);
    tracker.offer(x0, iota(n), clean.loss, clean.logits);
    const margin = (labelsOf: Int32Array) => (_l: Float32Array, logits: Float32Array) =>
      hostMargin(logits, labelsOf, c);
    for (let t = 2; t <= this.targets + 1; t++) {
      for (let r = 0; r < this.cfg.restarts; r++) {
        const k = (t - 2) * this.cfg.restarts + r;
        const more = this.onRobust(tracker, x0, y, ctx, (rows, xs, ys, sctx) => {
          const tgt = Int32Array.from(rows, (row) => order[row * c + t - 1]);
          const tgtT = tensor(tgt, [rows.length], { dtype: "i32", backend: x0.backend });
          const lossOf = (z: Tensor) => targetedDlrLoss(z, ys, tgtT);
          const key = margin(rows.map((row) => labels[row]));
          apgdRun(model, this.cfg, xs, lossOf, rows, tracker, sctx, this.name, k, key);
        });
        if (!more) return tracker.best;
      }
    }
    return tracker.best;
  }
}

/** Class indices of each row sorted by decreasing logit (ties: lower index first). */
function rankOrder(logits: Float32Array, n: number, c: number): Int32Array {
  const out = new Int32Array(n * c);
  for (let i = 0; i < n; i++) {
    const idx = Array.from({ length: c }, (_, j) => j);
    idx.sort((a, b) => logits[i * c + b] - logits[i * c + a] || a - b);
    out.set(idx, i * c);
  }
  return out;
}

/** max_{j != y} z_j - z_y per row of host logits. */
function hostMargin(logits: Float32Array, labels: Int32Array, c: number): Float64Array {
  const out = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    let other = -Infinity;
    for (let j = 0; j < c; j++) if (j !== labels[i]) other = Math.max(other, logits[i * c + j]);
    out[i] = other - logits[i * c + labels[i]];
  }
  return out;
}

/** An APGD attack (see {@link Apgd}). */
export function apgd(o: ApgdOptions): Apgd {
  return new Apgd(o);
}

/** A targeted APGD-DLR attack (see {@link ApgdTargeted}). */
export function apgdTargeted(o: ApgdTargetedOptions): ApgdTargeted {
  return new ApgdTargeted(o);
}
