/**
 * The shared machinery of the gradient attacks: one forward/backward pass that computes only
 * the input gradient, forward-only scoring, and the per-example best-point tracker.
 * @module
 */

import { grad, type Module, noGrad, sum, type Tensor, tidy, withGrad } from "@topiary/core";
import { copyOf, copyRows, hostWrong } from "./_util.ts";
import type { LossFn } from "./losses.ts";

/** What one pass returns: the input gradient and, when asked, host losses and logits. */
export interface PassResult {
  /** d(sum of per-example losses)/dx, dense, same shape as x (caller disposes). */
  g: Tensor;
  /** Per-example losses (when stats were requested). */
  loss?: Float32Array;
  /** Logits [n, C] in host memory (when stats were requested). */
  logits?: Float32Array;
}

/**
 * Forward and backward at x (a leaf with requiresGrad), differentiating the summed
 * per-example loss with respect to x only: parameters are not requested, so no weight
 * gradients run. Intermediates are freed before returning.
 */
export function lossGrad(
  model: Module,
  x: Tensor,
  lossOf: (logits: Tensor) => Tensor,
  stats: boolean,
  total?: (logits: Tensor) => Tensor,
): PassResult {
  return tidy(() =>
    withGrad(() => {
      const logits = model.forward(x);
      if (!stats && total) return { g: grad(total(logits), [x])[0] };
      const per = lossOf(logits);
      if (!stats) return { g: grad(sum(per), [x])[0] };
      const loss = per.toArray() as Float32Array;
      const host = logits.toArray() as Float32Array;
      return { g: grad(sum(per), [x])[0], loss, logits: host };
    })
  );
}

/** Per-example losses and host logits at x, without gradients. */
export function score(
  model: Module,
  x: Tensor,
  lossOf: (logits: Tensor) => Tensor,
): { loss: Float32Array; logits: Float32Array } {
  return tidy(() =>
    noGrad(() => {
      const logits = model.forward(x);
      return {
        loss: lossOf(logits).toArray() as Float32Array,
        logits: logits.toArray() as Float32Array,
      };
    })
  );
}

/** Binds labels (and optional targets) to a loss. */
export function bindLoss(fn: LossFn, y: Tensor): (logits: Tensor) => Tensor {
  return (logits) => fn(logits, y);
}

/**
 * The worst point found so far for every example of a batch: a misclassified point beats a
 * correctly classified one, and between two of the same kind the higher loss wins. Starts
 * from the clean inputs with loss -Infinity.
 */
export class BestTracker {
  /** Best points [N, ...] (dense). */
  readonly best: Tensor;
  /** Whether the best point of each example is misclassified. */
  readonly wrong: Uint8Array;
  /** Loss at the best point of each example. */
  readonly loss: Float64Array;
  private readonly labels: Int32Array;
  private readonly classes: number;

  constructor(x0: Tensor, labels: Int32Array, classes: number) {
    this.best = copyOf(x0);
    this.labels = labels;
    this.classes = classes;
    this.wrong = new Uint8Array(labels.length);
    this.loss = new Float64Array(labels.length).fill(-Infinity);
  }

  /**
   * Offers candidate points cand [n, ...] for batch rows `rows`, with their losses and host
   * logits; replaces the examples it beats. Returns whether each candidate is misclassified.
   */
  offer(
    cand: Tensor,
    rows: Int32Array,
    loss: ArrayLike<number>,
    logits: Float32Array,
  ): Uint8Array {
    const labels = rows.map((r) => this.labels[r]);
    const wrong = hostWrong(logits, labels, this.classes);
    const dst: number[] = [], src: number[] = [];
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k], w = wrong[k], l = loss[k];
      if ((w && !this.wrong[r]) || (w === this.wrong[r] && l > this.loss[r])) {
        this.wrong[r] = w;
        this.loss[r] = l;
        dst.push(r);
        src.push(k);
      }
    }
    if (dst.length) copyRows(this.best, dst, cand, src);
    return wrong;
  }

  /** Batch rows whose best point is still correctly classified. */
  robustRows(): Int32Array {
    const out: number[] = [];
    for (let r = 0; r < this.wrong.length; r++) if (!this.wrong[r]) out.push(r);
    return Int32Array.from(out);
  }
}
