/**
 * Detection of catastrophic overfitting (Wong et al. 2020): on a fixed held-out batch, PGD
 * accuracy collapses while FGSM accuracy does not fall (it usually rises), the sign that the
 * model has learnt to mask the single-step attack.
 * @module
 */

import { countCorrect, type Module, noGrad, type Tensor, tidy } from "@topiary/core";
import { checkChoice, checkInt, checkNum, inMode, iota } from "./_util.ts";
import { Fgsm } from "./fgsm.ts";
import { Pgd } from "./pgd.ts";
import type { Attack, ThreatModel } from "./types.ts";

/** What to do when catastrophic overfitting is detected. */
export type OverfittingAction = "warn" | "stop" | "switch";

/** Options of {@link OverfittingMonitor}. */
export interface OverfittingOptions {
  /** Held-out images [n, ...] in [0, 1]; the caller keeps them alive during training. */
  x: Tensor;
  /** Their labels [n] (i32). */
  y: Tensor;
  /** Check every this many optimizer steps, from step 0 (default 0: only on check()). */
  every?: number;
  /** Percentage points PGD accuracy must fall below its peak to count (default 20). */
  drop?: number;
  /** Percentage points FGSM accuracy may fall meanwhile and still count (default 2). */
  fgsmTolerance?: number;
  /**
   * "warn" (default: a warning on stderr), "stop" (throw an error that ends training) or
   * "switch" (an FGSM-based objective switches its attack to PGD from the next step).
   */
  action?: OverfittingAction;
  /** Steps of the check's PGD (default 10; step size eps / 4, one random start). */
  pgdSteps?: number;
  /** Seed of the check's random starts (default 0; the same starts at every check). */
  seed?: number | bigint;
}

/** One check. Accuracies are fractions in [0, 1]. */
export interface OverfittingRecord {
  step: number;
  pgdAccuracy: number;
  fgsmAccuracy: number;
  /** Whether this check detected catastrophic overfitting. */
  triggered: boolean;
}

/**
 * Checks PGD and FGSM accuracy (eval mode, full eps) on a fixed held-out batch. A check
 * triggers when PGD accuracy is more than `drop` points below the highest PGD accuracy of
 * the earlier checks while FGSM accuracy is at most `fgsmTolerance` points below its value
 * at that peak. Its state (history, first trigger) is plain data for checkpoints.
 */
export class OverfittingMonitor {
  readonly threat: ThreatModel;
  readonly every: number;
  readonly drop: number;
  readonly fgsmTolerance: number;
  readonly action: OverfittingAction;
  readonly pgdSteps: number;
  readonly seed: number | bigint;
  /** Every check so far. */
  history: OverfittingRecord[] = [];
  /** Step of the first triggering check, or null. */
  triggeredAt: number | null = null;
  private readonly x: Tensor;
  private readonly y: Tensor;

  constructor(threat: ThreatModel, o: OverfittingOptions) {
    const op = "overfitting";
    if (!o || !o.x || !o.y) throw new Error(`${op}: needs a held-out batch { x, y }`);
    if (o.x.shape[0] !== o.y.shape[0] || o.y.dtype !== "i32" || o.x.shape[0] < 1) {
      throw new Error(`${op}: x ${o.x} and y ${o.y} must be a non-empty batch with i32 labels`);
    }
    this.threat = threat;
    this.x = o.x;
    this.y = o.y;
    this.every = checkInt(op, "every", o.every ?? 0, 0);
    this.drop = checkNum(op, "drop", o.drop ?? 20, 0, 100);
    this.fgsmTolerance = checkNum(op, "fgsmTolerance", o.fgsmTolerance ?? 2, 0, 100);
    this.action = checkChoice(op, "action", o.action ?? "warn", ["warn", "stop", "switch"]);
    this.pgdSteps = checkInt(op, "pgdSteps", o.pgdSteps ?? 10, 1);
    this.seed = o.seed ?? 0;
  }

  /** The settings recorded with the run. */
  settings(): Record<string, unknown> {
    return {
      heldOut: this.x.shape[0],
      every: this.every,
      drop: this.drop,
      fgsmTolerance: this.fgsmTolerance,
      action: this.action,
      pgd: this.pgd().settings(),
      fgsm: this.fgsm().settings(),
      seed: String(this.seed),
    };
  }

  private pgd(): Attack {
    const eps = this.threat.eps;
    return new Pgd({
      threat: this.threat,
      steps: this.pgdSteps,
      stepSize: eps / 4,
      keepBest: false,
    });
  }

  private fgsm(): Attack {
    return new Fgsm({ threat: this.threat });
  }

  /** Whether a check is due before optimizer step `step`. */
  due(step: number): boolean {
    return this.every > 0 && step % this.every === 0;
  }

  /** Runs a check now (eval mode, restored afterwards) and acts on its outcome. */
  check(model: Module, step: number): OverfittingRecord {
    const ctx = { seed: this.seed, indices: iota(this.x.shape[0]) };
    const acc = (a: Attack) =>
      tidy(() => {
        const adv = a.run(model, this.x, this.y, ctx);
        return noGrad(() => countCorrect(model.forward(adv), this.y)) / this.x.shape[0];
      });
    const [pgdAccuracy, fgsmAccuracy] = inMode(model, "eval", () => [
      acc(this.pgd()),
      acc(this.fgsm()),
    ]);
    let peak: OverfittingRecord | null = null;
    for (const r of this.history) if (!peak || r.pgdAccuracy > peak.pgdAccuracy) peak = r;
    const triggered = peak !== null &&
      (peak.pgdAccuracy - pgdAccuracy) * 100 > this.drop &&
      (peak.fgsmAccuracy - fgsmAccuracy) * 100 <= this.fgsmTolerance;
    const rec: OverfittingRecord = { step, pgdAccuracy, fgsmAccuracy, triggered };
    this.history.push(rec);
    if (triggered && peak) {
      this.triggeredAt ??= step;
      const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
      const msg = `catastrophic overfitting at step ${step}: PGD-${this.pgdSteps} accuracy on ` +
        `the held-out batch (${this.x.shape[0]} examples, ${this.threat.norm} eps ` +
        `${this.threat.eps}) fell from ${pct(peak.pgdAccuracy)} (step ${peak.step}) to ` +
        `${pct(pgdAccuracy)}, while FGSM accuracy is ${pct(fgsmAccuracy)} (was ` +
        `${pct(peak.fgsmAccuracy)})`;
      if (this.action === "stop") {
        throw new Error(`${msg}; training stopped (overfitting action "stop")`);
      }
      console.warn(
        `warning: ${msg}` +
          (this.action === "switch" ? "; switching the training attack to PGD" : ""),
      );
    }
    return rec;
  }

  /** The monitor's state as plain data (for checkpoints). */
  state(): { history: OverfittingRecord[]; triggeredAt: number | null } {
    return { history: this.history.map((r) => ({ ...r })), triggeredAt: this.triggeredAt };
  }

  /** Restores a state from {@link OverfittingMonitor.state}. */
  restore(s: { history: OverfittingRecord[]; triggeredAt: number | null }): void {
    this.history = s.history.map((r) => ({ ...r }));
    this.triggeredAt = s.triggeredAt;
  }
}
