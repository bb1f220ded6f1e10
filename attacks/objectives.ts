/**
 * Adversarial training objectives for core's `fit`: PGD adversarial training (Madry et al.
 * 2018), TRADES (Zhang et al. 2019), fast FGSM with a random start (Wong et al. 2020) and a
 * mixed clean/adversarial loss, with batch-norm mode control, eps warm-up and detection of
 * catastrophic overfitting. Clean training is core's `cleanObjective`.
 *
 * Random draws: the attack of step s draws from (seed, "<attack>-start:<k>", s * 2^32 + j)
 * for the example at position j of the batch (AttackContext { indices: 0..B-1, round: s }),
 * so a run resumed at step s draws exactly what the uninterrupted run drew.
 * @module
 */

import {
  add,
  cleanObjective,
  type Module,
  mul,
  type Objective,
  type Position,
  softmaxCrossEntropy,
  type Tensor,
} from "@topiary/core";
import { checkChoice, checkInt, checkNum, inMode, iota } from "./_util.ts";
import { Fgsm } from "./fgsm.ts";
import { OverfittingMonitor, type OverfittingOptions } from "./overfitting.ts";
import { Pgd } from "./pgd.ts";
import { TradesAttack, tradesLoss } from "./trades.ts";
import { type Attack, checkThreat, type ThreatModel } from "./types.ts";

export { cleanObjective };

/** Batch-norm mode while the training attack is generated. */
export type BnMode = "eval" | "train";

/** A linear eps ramp over the first `epochs` epochs of `stepsPerEpoch` optimizer steps. */
export interface EpsWarmup {
  epochs: number;
  stepsPerEpoch: number;
}

/**
 * The eps of optimizer step `step` (from 0) under a linear warm-up over `warmupSteps` steps:
 * eps * min(1, (step + 1) / warmupSteps), so step 0 trains at eps / warmupSteps and step
 * warmupSteps - 1 onwards at the full eps; no warm-up when warmupSteps is 0.
 */
export function warmupEps(eps: number, step: number, warmupSteps: number): number {
  if (warmupSteps <= 0) return eps;
  return eps * Math.min(1, (step + 1) / warmupSteps);
}

/** Options of every adversarial objective. */
export interface AdversarialObjectiveOptions {
  /** Training threat model (the full eps, reached after the warm-up). */
  threat: ThreatModel;
  /** The run's seed, for the attack's random draws. */
  seed: number | bigint;
  /** "eval" (default, as HYDRA and TRADES) or "train" (batch statistics, running stats updated). */
  bnMode?: BnMode;
  /** Linear eps warm-up; step sizes scale with eps (default: none). */
  warmup?: EpsWarmup;
  /** Catastrophic-overfitting checks on a held-out batch (default: none). */
  overfitting?: OverfittingOptions;
}

/** Options of {@link pgdTraining}. */
export interface PgdTrainingOptions extends AdversarialObjectiveOptions {
  /** PGD steps (default 10). */
  steps?: number;
  /** Step size at the full eps (default 2.5 * eps / steps). */
  stepSize?: number;
  /** Restarts; the highest-loss final point is kept (default 1). */
  restarts?: number;
  /** Attack loss (default "ce"). */
  loss?: "ce" | "cw";
}

/** Options of {@link fgsmTraining}. */
export interface FgsmTrainingOptions extends AdversarialObjectiveOptions {
  /** Step size at the full eps (default 1.25 * eps). */
  stepSize?: number;
  /** Random start U(-eps, eps) (default true). */
  randomStart?: boolean;
  /** PGD used after a catastrophic-overfitting switch (default 10 steps, 2.5 eps / steps). */
  switchTo?: { steps?: number; stepSize?: number };
}

/** Options of {@link tradesTraining}. */
export interface TradesTrainingOptions extends AdversarialObjectiveOptions {
  /** Weight of the KL term (default 6). */
  beta?: number;
  /** Inner steps (default 10). */
  steps?: number;
  /** Step size at the full eps (default 2.5 * eps / steps). */
  stepSize?: number;
}

/** Options of {@link mixedTraining}. */
export interface MixedTrainingOptions extends AdversarialObjectiveOptions {
  /** Weight w of the adversarial term: w CE(adv) + (1 - w) CE(clean). */
  weight: number;
  /** The attack: "pgd" (default) or "fgsm" (with random start). */
  attack?: "pgd" | "fgsm";
  /** PGD steps (default 10). */
  steps?: number;
  /** Step size at the full eps (PGD: 2.5 * eps / steps; FGSM: 1.25 * eps). */
  stepSize?: number;
}

type Make = (eps: number, scale: number) => Attack;
type Combine = (model: Module, x: Tensor, y: Tensor, adv: Tensor) => {
  loss: Tensor;
  logits: Tensor;
};

/**
 * An adversarial training objective: before each step it may run the overfitting check;
 * then it generates the attack at the step's eps (in the chosen batch-norm mode, restoring
 * the caller's mode) and returns the training loss in the model's own mode.
 */
export class AdversarialObjective implements Objective {
  readonly name: string;
  /** Every setting; `switchedToPgdAtStep` appears after a catastrophic-overfitting switch. */
  readonly settings: Record<string, unknown>;
  /** The overfitting monitor, when configured. */
  readonly monitor: OverfittingMonitor | null;
  private readonly threat: ThreatModel;
  private readonly seed: number | bigint;
  private readonly bnMode: BnMode;
  private readonly warmupSteps: number;
  private make: Make;
  private readonly fallback: Make | null;
  private readonly combine: Combine;
  private switchedAt: number | null = null;

  constructor(
    name: string,
    o: AdversarialObjectiveOptions,
    specific: Record<string, unknown>,
    make: Make,
    combine: Combine,
    fallback: Make | null = null,
  ) {
    this.name = name;
    this.threat = { ...checkThreat(o?.threat, name) };
    if (o.seed === undefined || o.seed === null) throw new Error(`${name}: options need a seed`);
    this.seed = o.seed;
    this.bnMode = checkChoice(name, "bnMode", o.bnMode ?? "eval", ["eval", "train"] as const);
    const w = o.warmup;
    this.warmupSteps = w
      ? checkInt(name, "warmup.epochs", w.epochs, 0) *
        checkInt(name, "warmup.stepsPerEpoch", w.stepsPerEpoch, 1)
      : 0;
    this.monitor = o.overfitting ? new OverfittingMonitor(this.threat, o.overfitting) : null;
    if (this.monitor?.action === "switch" && !fallback) {
      throw new Error(`${name}: overfitting action "switch" needs an FGSM-based objective`);
    }
    this.make = make;
    this.fallback = fallback;
    this.combine = combine;
    this.settings = {
      objective: name,
      norm: this.threat.norm,
      eps: this.threat.eps,
      ...specific,
      attack: make(this.threat.eps, 1).settings(),
      bnMode: this.bnMode,
      warmup: w ? { ...w, steps: this.warmupSteps } : null,
      seed: String(this.seed),
      overfitting: this.monitor?.settings() ?? null,
    };
  }

  /** The eps used at optimizer step `step`. */
  epsAt(step: number): number {
    return warmupEps(this.threat.eps, step, this.warmupSteps);
  }

  /** The training loss of a batch at position `pos`. */
  loss(model: Module, x: Tensor, y: Tensor, pos: Position): { loss: Tensor; logits: Tensor } {
    if (this.monitor?.due(pos.step)) this.checkOverfitting(model, pos.step);
    const eps = this.epsAt(pos.step);
    const attack = this.make(eps, this.threat.eps > 0 ? eps / this.threat.eps : 1);
    const ctx = { seed: this.seed, indices: iota(x.shape[0]), round: pos.step };
    const adv = inMode(model, this.bnMode, () => attack.run(model, x, y, ctx));
    return this.combine(model, x, y, adv);
  }

  /** Runs the overfitting check now (e.g. from fit's afterEpoch) and acts on it. */
  checkOverfitting(model: Module, step: number): void {
    if (!this.monitor) throw new Error(`${this.name}: no overfitting check is configured`);
    const rec = this.monitor.check(model, step);
    if (rec.triggered && this.monitor.action === "switch" && this.switchedAt === null) {
      this.switchTo(step);
    }
  }

  private switchTo(step: number): void {
    this.switchedAt = step;
    this.make = this.fallback!;
    this.settings.switchedToPgdAtStep = step;
    this.settings.switchAttack = this.make(this.threat.eps, 1).settings();
  }

  /** Plain-data state for checkpoints: the monitor's history and any switch. */
  state(): Record<string, unknown> {
    return { switchedAt: this.switchedAt, monitor: this.monitor?.state() ?? null };
  }

  /** Restores a state from {@link AdversarialObjective.state}. */
  restore(s: Record<string, unknown>): void {
    const st = s as { switchedAt: number | null; monitor: ReturnType<OverfittingMonitor["state"]> };
    if (st.monitor && this.monitor) this.monitor.restore(st.monitor);
    if (st.switchedAt !== null && st.switchedAt !== undefined && this.fallback) {
      this.switchTo(st.switchedAt);
    }
  }
}

const ce: Combine = (model, _x, y, adv) => {
  const logits = model.forward(adv);
  return { loss: softmaxCrossEntropy(logits, y), logits };
};

function pgdMaker(threat: ThreatModel, o: { steps?: number; stepSize?: number }, rest = {}) {
  const steps = o.steps ?? 10, alpha = o.stepSize ?? 2.5 * threat.eps / steps;
  return (eps: number, scale: number) =>
    new Pgd({
      threat: { norm: threat.norm, eps },
      steps,
      stepSize: alpha * scale,
      keepBest: false,
      ...rest,
    });
}

/** PGD adversarial training (Madry et al.): CE on PGD examples (last iterate). */
export function pgdTraining(o: PgdTrainingOptions): AdversarialObjective {
  checkThreat(o?.threat, "pgd-at");
  const make = pgdMaker(o.threat, o, { restarts: o.restarts ?? 1, loss: o.loss ?? "ce" });
  return new AdversarialObjective("pgd-at", o, {}, make, ce);
}

/** Fast adversarial training (Wong et al.): CE on FGSM-RS examples, step 1.25 eps. */
export function fgsmTraining(o: FgsmTrainingOptions): AdversarialObjective {
  checkThreat(o?.threat, "fgsm-rs");
  const rs = o.randomStart ?? true;
  const alpha = o.stepSize ?? (rs ? 1.25 : 1) * o.threat?.eps;
  const make = (eps: number, scale: number) =>
    new Fgsm({ threat: { norm: o.threat.norm, eps }, randomStart: rs, stepSize: alpha * scale });
  return new AdversarialObjective("fgsm-rs", o, {}, make, ce, pgdMaker(o.threat, o.switchTo ?? {}));
}

/** TRADES: CE(f(x), y) + beta KL(f(x) || f(x')); `logits` are the clean ones. */
export function tradesTraining(o: TradesTrainingOptions): AdversarialObjective {
  checkThreat(o?.threat, "trades");
  const beta = checkNum("trades", "beta", o.beta ?? 6, 0);
  const steps = o.steps ?? 10, alpha = o.stepSize ?? 2.5 * o.threat?.eps / steps;
  const make = (eps: number, scale: number) =>
    new TradesAttack({ threat: { norm: o.threat.norm, eps }, steps, stepSize: alpha * scale });
  return new AdversarialObjective("trades", o, { beta }, make, (model, x, y, adv) => {
    const logits = model.forward(x);
    return { loss: tradesLoss(logits, model.forward(adv), y, beta), logits };
  });
}

/** Mixed training: w CE(f(x'), y) + (1 - w) CE(f(x), y); `logits` are the adversarial ones. */
export function mixedTraining(o: MixedTrainingOptions): AdversarialObjective {
  checkThreat(o?.threat, "mixed");
  const w = checkNum("mixed", "weight", o.weight, 0, 1);
  const kind = checkChoice("mixed", "attack", o.attack ?? "pgd", ["pgd", "fgsm"] as const);
  const make: Make = kind === "pgd" ? pgdMaker(o.threat, o) : (eps, scale) =>
    new Fgsm({
      threat: { norm: o.threat.norm, eps },
      randomStart: true,
      stepSize: (o.stepSize ?? 1.25 * o.threat.eps) * scale,
    });
  const fallback = kind === "fgsm" ? pgdMaker(o.threat, {}) : null;
  return new AdversarialObjective(
    "mixed",
    o,
    { weight: w, inner: kind },
    make,
    (model, x, y, adv) => {
      const logits = model.forward(adv);
      const clean = softmaxCrossEntropy(model.forward(x), y);
      return { loss: add(mul(softmaxCrossEntropy(logits, y), w), mul(clean, 1 - w)), logits };
    },
    fallback,
  );
}
