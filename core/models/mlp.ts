/**
 * MLP 784-300-100-10 ("LeNet-300-100" of the lottery-ticket papers): flatten, fc1 (784 ->
 * 300), ReLU, fc2 (300 -> 100), ReLU, fc3 (100 -> 10). 266,610 parameters.
 * @module
 */

import { Flatten, ReLU } from "../nn/activation.ts";
import { Linear } from "../nn/linear.ts";
import type { Module } from "../nn/module.ts";
import { runChain } from "../nn/sequential.ts";
import type { Tensor } from "../tensor.ts";
import { classes, deferred, initModel, type ModelOptions } from "./_common.ts";
import { Classifier } from "./classifier.ts";

/** Options of {@link MLP}. */
export interface MLPOptions extends ModelOptions {
  /** Hidden layer sizes (default [300, 100]). */
  hidden?: number[];
  /** Input shape (default [1, 28, 28]). */
  inputShape?: number[];
}

/**
 * Fully connected ReLU network on flattened images; layers fc1, fc2, ... (PyTorch names
 * `fc1.weight`, `fc1.bias`, ...). Default 784-300-100-10: 266,610 parameters.
 */
export class MLP extends Classifier {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  private readonly chain: Module[];

  constructor(opts: MLPOptions) {
    super();
    this.inputShape = opts.inputShape ?? [1, 28, 28];
    this.numClasses = classes(opts);
    const sizes = [this.inputShape.reduce((a, b) => a * b, 1), ...(opts.hidden ?? [300, 100])];
    const lo = deferred(opts);
    this.chain = [new Flatten()];
    for (let i = 0; i < sizes.length; i++) {
      const out = i + 1 < sizes.length ? sizes[i + 1] : this.numClasses;
      this.chain.push(this.registerModule(`fc${i + 1}`, new Linear(sizes[i], out, lo)));
      if (i + 1 < sizes.length) this.chain.push(new ReLU());
    }
    initModel(this, opts);
  }

  /** The chain the forward pass runs. */
  override sequence(): readonly Module[] {
    return this.chain;
  }

  protected logits(x: Tensor): Tensor {
    return runChain(x, this.chain);
  }
}
