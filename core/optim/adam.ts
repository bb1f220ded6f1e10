/**
 * Adam and AdamW, as PyTorch's `torch.optim.Adam` and `torch.optim.AdamW` (amsgrad off), on
 * the fused native update kernel.
 * @module
 */

import { adamUpdate } from "../ops/fused.ts";
import type { Tensor } from "../tensor.ts";
import {
  checkHyper,
  Optimizer,
  type OptimizerOptions,
  type ParamList,
  type StateScalar,
} from "./optimizer.ts";

/** Options of {@link Adam} and {@link AdamW} (defaults as PyTorch). */
export interface AdamOptions extends Partial<OptimizerOptions> {
  /** Coefficients of the moment averages (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Term added to the denominator (default 1e-8). */
  eps?: number;
  /** Weight decay: an L2 term in the gradient (Adam, default 0) or decoupled (AdamW, 1e-2). */
  weightDecay?: number;
  /** Decoupled weight decay, w = w·(1 − lr·wd) before the update (AdamW's rule). */
  decoupled?: boolean;
}

/**
 * Adam, step for step as torch.optim.Adam (foreach=False, amsgrad=False). Each parameter
 * counts its own steps t (from 1, as PyTorch's per-parameter `step`): with g = g + wd·w (or
 * w = w·(1 − lr·wd) when decoupled), m = β1·m + (1 − β1)·g, v = β2·v + (1 − β2)·g²,
 * w = w − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps). With a mask, masked weights and moments
 * are written as exactly 0. State: `state.<name>.exp_avg`, `state.<name>.exp_avg_sq` and the
 * scalar `state.<name>.step`.
 */
export class Adam extends Optimizer {
  /** Coefficient of the first moment. */
  readonly beta1: number;
  /** Coefficient of the second moment. */
  readonly beta2: number;
  /** Denominator term. */
  readonly eps: number;
  /** Weight decay. */
  readonly weightDecay: number;
  /** Whether weight decay is decoupled (AdamW). */
  readonly decoupled: boolean;
  protected readonly stateKeys = ["exp_avg", "exp_avg_sq"] as const;
  protected override readonly paramScalarKeys = ["step"] as const;
  private readonly counts: number[];

  constructor(params: ParamList, opts: AdamOptions = {}) {
    const decoupled = opts.decoupled ?? false;
    super(params, { lr: opts.lr ?? 1e-3, masks: opts.masks });
    const op = this.constructor.name;
    const [beta1, beta2] = opts.betas ?? [0.9, 0.999];
    const { eps = 1e-8, weightDecay = decoupled ? 1e-2 : 0 } = opts;
    for (const [k, b] of [["beta1", beta1], ["beta2", beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`${op}: ${k} must be in [0, 1), got ${b}`);
    }
    checkHyper(op, "eps", eps);
    checkHyper(op, "weightDecay", weightDecay);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.decoupled = decoupled;
    this.counts = this.params.map(() => 0);
  }

  /** Steps taken by a parameter (PyTorch's per-parameter `step`). */
  stepOf(param: string | number): number {
    return this.counts[this.indexOf(param)];
  }

  protected update(i: number, p: Tensor, g: Tensor, mask: Tensor | null): void {
    const m = this.state[i].get("exp_avg") ?? this.newState(i, "exp_avg");
    const v = this.state[i].get("exp_avg_sq") ?? this.newState(i, "exp_avg_sq");
    adamUpdate(p, g, m, v, {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      step: this.counts[i] + 1,
      mask,
    });
    this.counts[i]++;
  }

  protected hyperparameters(): Record<string, StateScalar> {
    return {
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
    };
  }

  protected override paramScalars(): Record<string, StateScalar> {
    const out: Record<string, StateScalar> = {};
    this.counts.forEach((c, i) => {
      if (c > 0) out[`state.${this.names[i]}.step`] = c;
    });
    return out;
  }

  protected override loadParamScalars(
    op: string,
    sc: Record<string, StateScalar>,
    hasState: readonly boolean[],
    apply: boolean,
  ): void {
    const counts = this.names.map((n, i) => {
      const key = `state.${n}.step`, c = sc[key];
      if (!hasState[i]) {
        if (c !== undefined) throw new Error(`${op}: "${key}" is set but "${n}" has no moments`);
        return 0;
      }
      if (typeof c !== "number" || !Number.isSafeInteger(c) || c < 1) {
        throw new Error(`${op}: "${key}" must be an integer >= 1, got ${c}`);
      }
      return c;
    });
    if (apply) counts.forEach((c, i) => this.counts[i] = c);
  }
}

/** AdamW: Adam with decoupled weight decay (default 1e-2), as torch.optim.AdamW. */
export class AdamW extends Adam {
  constructor(params: ParamList, opts: Omit<AdamOptions, "decoupled"> = {}) {
    super(params, { ...opts, decoupled: true });
  }
}
