/**
 * The fast gradient sign method (Goodfellow et al. 2015) and its random-start variant
 * FGSM-RS (Wong et al. 2020); for L2 the normalised-gradient step (FGM).
 * @module
 */

import {
  attackStep,
  type Module,
  softmaxCrossEntropy,
  sum,
  type Tensor,
  tidy,
} from "@topiary/core";
import { lossGrad } from "./_engine.ts";
import { cleanStart, uniformStart } from "./_start.ts";
import { checkBatch, checkChoice, checkNum, copyOf } from "./_util.ts";
import { cwLoss } from "./losses.ts";
import { type Attack, type AttackContext, checkThreat, type ThreatModel } from "./types.ts";

/** Options of {@link Fgsm}. */
export interface FgsmOptions {
  /** Threat model (norm and eps). */
  threat: ThreatModel;
  /**
   * Start from a random point of the ball (FGSM-RS, default false): Linf U(-eps, eps) per
   * coordinate, L2 a uniform direction with radius eps * U(0, 1).
   */
  randomStart?: boolean;
  /** Step size (default eps, or 1.25 * eps with a random start as Wong et al.). */
  stepSize?: number;
  /** Loss: "ce" (default) or "cw". */
  loss?: "ce" | "cw";
}

/**
 * One fused step x' = clamp(proj(x_s + alpha * sign(g))) from x_s = x or a random start
 * (stream "fgsm-start:0", counter drawCounter(ctx, i)); L2 steps along g / ||g||.
 */
export class Fgsm implements Attack {
  readonly name: string;
  readonly threat: ThreatModel;
  readonly randomStart: boolean;
  readonly stepSize: number;
  readonly loss: "ce" | "cw";

  constructor(o: FgsmOptions) {
    const op = "fgsm";
    this.threat = { ...checkThreat(o?.threat, op) };
    this.randomStart = o.randomStart ?? false;
    const alpha = o.stepSize ?? (this.randomStart ? 1.25 : 1) * this.threat.eps;
    this.stepSize = checkNum(op, "stepSize", alpha, 0);
    this.loss = checkChoice(op, "loss", o.loss ?? "ce", ["ce", "cw"] as const);
    this.name = this.randomStart ? "fgsm-rs" : "fgsm";
  }

  /** Every setting that determines the result. */
  settings(): Record<string, unknown> {
    return {
      attack: "fgsm",
      norm: this.threat.norm,
      eps: this.threat.eps,
      randomStart: this.randomStart,
      stepSize: this.stepSize,
      loss: this.loss,
    };
  }

  /** Adversarial examples for x (see the class comment). */
  run(model: Module, x: Tensor, y: Tensor, ctx: AttackContext): Tensor {
    const n = checkBatch(this.name, x, y, ctx);
    if (n === 0) return copyOf(x);
    const { norm, eps } = this.threat;
    return tidy(() => {
      const x0 = copyOf(x), yd = copyOf(y);
      const xAdv = this.randomStart ? uniformStart(norm, eps, x0, ctx, "fgsm", 0) : cleanStart(x0);
      const total = this.loss === "ce"
        ? (z: Tensor) => softmaxCrossEntropy(z, yd, "sum")
        : (z: Tensor) => sum(cwLoss(z, yd));
      xAdv.requiresGrad = true;
      const { g } = lossGrad(model, xAdv, total, false, total);
      xAdv.requiresGrad = false;
      attackStep(norm, xAdv, x0, g, this.stepSize, eps);
      return xAdv;
    });
  }
}

/** An FGSM attack (see {@link Fgsm}). */
export function fgsm(o: FgsmOptions): Fgsm {
  return new Fgsm(o);
}
