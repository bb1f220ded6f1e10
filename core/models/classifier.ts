/**
 * `Classifier`: the base of the model zoo. Inputs are images in [0, 1], NCHW; any input
 * normalisation belongs inside the model.
 * @module
 */

import { Module } from "../nn/module.ts";
import type { Tensor } from "../tensor.ts";
import { checkInput } from "./_common.ts";

/** A model mapping images [N, ...inputShape] to logits [N, numClasses]. */
export abstract class Classifier extends Module {
  /** The per-example input shape [C, H, W] (or [features]). */
  abstract readonly inputShape: readonly number[];
  /** Number of classes (logits per example). */
  abstract readonly numClasses: number;

  /** Logits of x [N, ...inputShape]; a wrong shape is an error naming both shapes. */
  forward(x: Tensor): Tensor {
    checkInput(this.constructor.name, x, this.inputShape);
    return this.logits(x);
  }

  /**
   * The modules the forward pass applies in order, for sequential networks (null for others,
   * e.g. residual ones): what filter pruning walks to shrink consecutive layers together.
   */
  sequence(): readonly Module[] | null {
    return null;
  }

  /** The computation on a checked input. */
  protected abstract logits(x: Tensor): Tensor;
}
