/**
 * Madry et al.'s MNIST CNN with Ye et al.'s width multiplier.
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

/** Options of {@link MadryCNN}. */
export interface MadryCNNOptions extends ModelOptions {
  /** Width multiplier w (default 16, Madry's network): channels 2w, 4w, hidden units 64w. */
  width?: number;
}

/**
 * conv1 (1 -> 2w, 5x5, padding 2), ReLU, max-pool 2, conv2 (2w -> 4w, 5x5, padding 2), ReLU,
 * max-pool 2, fc1 (7*7*4w -> 64w), ReLU, fc2 (64w -> 10). Width w scales every layer as in
 * Ye et al. (ICCV 2019) and Madry et al.'s capacity study; w = 16 is Madry's network (32, 64
 * channels, 1024 units; 3,274,634 parameters), w = 1 has 2, 4 channels and 64 units.
 * Names conv1, conv2, fc1, fc2.
 */
export class MadryCNN extends Classifier {
  readonly inputShape: readonly number[] = [1, 28, 28];
  readonly numClasses: number;
  /** The width multiplier. */
  readonly width: number;
  private readonly chain: Module[];

  constructor(opts: MadryCNNOptions) {
    super();
    const w = opts.width ?? 16;
    if (!Number.isInteger(w) || w < 1) {
      throw new Error(`MadryCNN: width must be an integer >= 1, got ${w}`);
    }
    this.width = w;
    this.numClasses = classes(opts);
    const lo = deferred(opts);
    const conv1 = this.registerModule("conv1", new Conv2d(1, 2 * w, 5, { ...lo, padding: 2 }));
    const conv2 = this.registerModule(
      "conv2",
      new Conv2d(2 * w, 4 * w, 5, { ...lo, padding: 2 }),
    );
    const fc1 = this.registerModule("fc1", new Linear(7 * 7 * 4 * w, 64 * w, lo));
    const fc2 = this.registerModule("fc2", new Linear(64 * w, this.numClasses, lo));
    const relu = new ReLU(), pool = new MaxPool2d(2);
    this.chain = [conv1, relu, pool, conv2, relu, pool, new Flatten(), fc1, relu, fc2];
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
