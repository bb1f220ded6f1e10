/**
 * SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as PyTorch's
 * `torch.optim.SGD`, on the fused native update kernel.
 * @module
 */

import { sgdUpdate } from "../ops/fused.ts";
import type { Tensor } from "../tensor.ts";
import {
  checkHyper,
  Optimizer,
  type OptimizerOptions,
  type ParamList,
  type StateScalar,
} from "./optimizer.ts";

/** Options of {@link SGD} (defaults as torch.optim.SGD). */
export interface SGDOptions extends OptimizerOptions {
  /** Momentum factor (default 0: no buffer is kept). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0; default false). */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent, step for step as torch.optim.SGD (foreach=False):
 * d = g + wd·w; buf = d on a parameter's first step, else momentum·buf + (1 − dampening)·d;
 * d = d + momentum·buf (Nesterov) or buf; w = w − lr·d. With a mask, masked weights and their
 * momentum buffer entries are written as exactly 0. State: `state.<name>.momentum_buffer`.
 */
export class SGD extends Optimizer {
  /** Momentum factor. */
  readonly momentum: number;
  /** Momentum dampening. */
  readonly dampening: number;
  /** L2 weight decay. */
  readonly weightDecay: number;
  /** Whether Nesterov momentum is used. */
  readonly nesterov: boolean;
  protected readonly stateKeys = ["momentum_buffer"] as const;

  constructor(params: ParamList, opts: SGDOptions) {
    super(params, opts);
    const { momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = opts;
    checkHyper("SGD", "momentum", momentum);
    checkHyper("SGD", "dampening", dampening);
    checkHyper("SGD", "weightDecay", weightDecay);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new Error("SGD: Nesterov momentum requires momentum > 0 and zero dampening");
    }
    this.momentum = momentum;
    this.dampening = dampening;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
  }

  protected update(i: number, p: Tensor, g: Tensor, mask: Tensor | null): void {
    let buf: Tensor | null = null, firstStep = false;
    if (this.momentum !== 0) {
      buf = this.state[i].get("momentum_buffer") ?? null;
      if (!buf) {
        buf = this.newState(i, "momentum_buffer");
        firstStep = true;
      }
    }
    sgdUpdate(p, g, {
      lr: this.lr,
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
      buf,
      firstStep,
      mask,
    });
  }

  protected hyperparameters(): Record<string, StateScalar> {
    return {
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    };
  }
}
