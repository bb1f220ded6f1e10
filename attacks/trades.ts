/**
 * TRADES (Zhang et al. 2019): the inner maximisation of KL(f(x) || f(x')) and the loss
 * CE(f(x), y) + beta * KL(f(x) || f(x')).
 * @module
 */

import {
  add,
  attackStep,
  mean,
  type Module,
  mul,
  noGrad,
  projectToBall,
  softmaxCrossEntropy,
  sum,
  type Tensor,
  tidy,
} from "@topiary/core";
import { lossGrad } from "./_engine.ts";
import { checkBatch, checkInt, checkNum, copyOf, exampleNormal } from "./_util.ts";
import { klDivergence } from "./losses.ts";
import { type Attack, type AttackContext, checkThreat, type ThreatModel } from "./types.ts";

/** Options of {@link TradesAttack}. */
export interface TradesAttackOptions {
  /** Threat model (norm and eps). */
  threat: ThreatModel;
  /** Gradient steps (default 10). */
  steps?: number;
  /** Step size (default 2.5 * eps / steps). */
  stepSize?: number;
  /** Standard deviation of the Gaussian start around x (default 0.001, as TRADES). */
  startStd?: number;
}

/**
 * TRADES's inner maximisation: from x + 0.001 N(0, I) (stream "trades-start:0", per
 * example; projected onto the ball and [0, 1], where the reference only clamps after the
 * first step), `steps` fused sign steps (L2: normalised-gradient steps) on
 * sum_i KL(f(x_i) || f(x'_i)), where f(x) is computed once, without gradient, in the
 * model's current mode. Labels are not used.
 */
export class TradesAttack implements Attack {
  readonly name = "trades-kl";
  readonly threat: ThreatModel;
  readonly steps: number;
  readonly stepSize: number;
  readonly startStd: number;

  constructor(o: TradesAttackOptions) {
    const op = "trades";
    this.threat = { ...checkThreat(o?.threat, op) };
    this.steps = checkInt(op, "steps", o.steps ?? 10, 1);
    this.stepSize = checkNum(op, "stepSize", o.stepSize ?? 2.5 * this.threat.eps / this.steps, 0);
    this.startStd = checkNum(op, "startStd", o.startStd ?? 0.001, 0);
  }

  /** Every setting that determines the result. */
  settings(): Record<string, unknown> {
    return {
      attack: "trades-kl",
      norm: this.threat.norm,
      eps: this.threat.eps,
      steps: this.steps,
      stepSize: this.stepSize,
      startStd: this.startStd,
    };
  }

  /** Adversarial examples maximising the KL divergence from f(x). */
  run(model: Module, x: Tensor, y: Tensor, ctx: AttackContext): Tensor {
    const n = checkBatch(this.name, x, y, ctx);
    if (n === 0) return copyOf(x);
    const { norm, eps } = this.threat;
    return tidy(() => {
      const x0 = copyOf(x);
      const clean = noGrad(() => model.forward(x0));
      const noise = exampleNormal(x0.shape.slice(1), ctx, "trades-start:0", x0, this.startStd);
      const xAdv = noGrad(() => add(x0, noise));
      projectToBall(norm, xAdv, x0, eps);
      const total = (z: Tensor) => sum(klDivergence(clean, z));
      xAdv.requiresGrad = true;
      for (let t = 0; t < this.steps; t++) {
        const { g } = lossGrad(model, xAdv, total, false, total);
        attackStep(norm, xAdv, x0, g, this.stepSize, eps);
        g.dispose();
      }
      xAdv.requiresGrad = false;
      return xAdv;
    });
  }
}

/**
 * The TRADES loss of a batch: mean_i CE(f(x_i), y_i) + beta * mean_i KL(f(x_i) || f(x'_i)),
 * differentiable in both logits (the reference's `KLDivLoss(reduction="sum") / batch`).
 */
export function tradesLoss(
  cleanLogits: Tensor,
  advLogits: Tensor,
  y: Tensor,
  beta: number,
): Tensor {
  checkNum("tradesLoss", "beta", beta, 0);
  const kl = mean(klDivergence(cleanLogits, advLogits));
  return add(softmaxCrossEntropy(cleanLogits, y), mul(kl, beta));
}
