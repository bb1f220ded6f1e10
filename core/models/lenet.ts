/**
 * LeNet-5 and Caffe's LeNet for 28x28 inputs.
 * @module
 */

import { Flatten, ReLU } from "../nn/activation.ts";
import { Conv2d } from "../nn/conv.ts";
import { Linear } from "../nn/linear.ts";
import type { Module } from "../nn/module.ts";
import { MaxPool2d } from "../nn/pool.ts";
import { runChain } from "../nn/sequential.ts";
import type { Tensor } from "../tensor.ts";
import { classes, deferred, initModel, type ModelOptions } from "./_common.ts";
import { Classifier } from "./classifier.ts";

/**
 * LeNet-5 (61,706 parameters), the variant with 5x5 "same" padding on the first conv so a
 * 28x28 input gives the classic 32x32 geometry: conv1 (1 -> 6, 5x5, padding 2), ReLU, max-pool
 * 2 -> [6, 14, 14]; conv2 (6 -> 16, 5x5), ReLU, max-pool 2 -> [16, 5, 5]; fc1 (400 -> 120),
 * ReLU, fc2 (120 -> 84), ReLU, fc3 (84 -> 10). Names conv1, conv2, fc1, fc2, fc3.
 */
export class LeNet5 extends Classifier {
  readonly inputShape: readonly number[] = [1, 28, 28];
  readonly numClasses: number;
  private readonly chain: Module[];

  constructor(opts: ModelOptions) {
    super();
    this.numClasses = classes(opts);
    const lo = deferred(opts);
    const conv1 = this.registerModule("conv1", new Conv2d(1, 6, 5, { ...lo, padding: 2 }));
    const conv2 = this.registerModule("conv2", new Conv2d(6, 16, 5, lo));
    const fc1 = this.registerModule("fc1", new Linear(16 * 5 * 5, 120, lo));
    const fc2 = this.registerModule("fc2", new Linear(120, 84, lo));
    const fc3 = this.registerModule("fc3", new Linear(84, this.numClasses, lo));
    const relu = new ReLU(), pool = new MaxPool2d(2);
    this.chain = [conv1, relu, pool, conv2, relu, pool, new Flatten(), fc1, relu, fc2, relu, fc3];
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

/**
 * Caffe's LeNet (`lenet_train_test.prototxt`, used by Han et al. and later pruning work;
 * 431,080 parameters): conv1 (1 -> 20, 5x5), max-pool 2, conv2 (20 -> 50, 5x5), max-pool 2,
 * fc1 (800 -> 500), ReLU, fc2 (500 -> 10). As in Caffe, the only non-linearity is the ReLU
 * after fc1. Names conv1, conv2, fc1, fc2.
 */
export class CaffeLeNet extends Classifier {
  readonly inputShape: readonly number[] = [1, 28, 28];
  readonly numClasses: number;
  private readonly chain: Module[];

  constructor(opts: ModelOptions) {
    super();
    this.numClasses = classes(opts);
    const lo = deferred(opts);
    const conv1 = this.registerModule("conv1", new Conv2d(1, 20, 5, lo));
    const conv2 = this.registerModule("conv2", new Conv2d(20, 50, 5, lo));
    const fc1 = this.registerModule("fc1", new Linear(50 * 4 * 4, 500, lo));
    const fc2 = this.registerModule("fc2", new Linear(500, this.numClasses, lo));
    const pool = new MaxPool2d(2);
    this.chain = [conv1, pool, conv2, pool, new Flatten(), fc1, new ReLU(), fc2];
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
