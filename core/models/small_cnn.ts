/**
 * SmallCNN: the MNIST network of HYDRA (`models/basic.py: mnist_model`) and of fast
 * adversarial training. 166,406 parameters.
 * @module
 */

import { Flatten, ReLU } from "../nn/activation.ts";
import { Conv2d } from "../nn/conv.ts";
import { Linear } from "../nn/linear.ts";
import type { Module } from "../nn/module.ts";
import { runChain } from "../nn/sequential.ts";
import type { Tensor } from "../tensor.ts";
import { classes, deferred, initModel, type ModelOptions } from "./_common.ts";
import { Classifier } from "./classifier.ts";

/**
 * conv (1 -> 16, 4x4, stride 2, padding 1), ReLU, conv (16 -> 32, 4x4, stride 2, padding 1),
 * ReLU, flatten, fc (32*7*7 -> 100), ReLU, fc (100 -> 10): 166,406 parameters. Built like
 * the reference nn.Sequential, so the children are named by index and the parameters are
 * `0.weight`, `0.bias`, `2.*`, `5.*`, `7.*` (indices 1, 3, 4, 6 are ReLU/Flatten).
 */
export class SmallCNN extends Classifier {
  readonly inputShape: readonly number[] = [1, 28, 28];
  readonly numClasses: number;
  private readonly chain: Module[];

  constructor(opts: ModelOptions) {
    super();
    this.numClasses = classes(opts);
    const lo = deferred(opts);
    const conv = { ...lo, stride: 2, padding: 1 };
    this.chain = [
      new Conv2d(1, 16, 4, conv),
      new ReLU(),
      new Conv2d(16, 32, 4, conv),
      new ReLU(),
      new Flatten(),
      new Linear(32 * 7 * 7, 100, lo),
      new ReLU(),
      new Linear(100, this.numClasses, lo),
    ];
    this.chain.forEach((m, i) => this.registerModule(String(i), m));
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
