/**
 * VGG for 32x32 inputs as in HYDRA's `models/vgg_cifar.py`.
 * @module
 */

import { Flatten, ReLU } from "../nn/activation.ts";
import { BatchNorm2d } from "../nn/batchnorm.ts";
import { Conv2d } from "../nn/conv.ts";
import { Linear } from "../nn/linear.ts";
import type { Module } from "../nn/module.ts";
import { AdaptiveAvgPool2d, MaxPool2d } from "../nn/pool.ts";
import { runChain, Sequential } from "../nn/sequential.ts";
import type { Tensor } from "../tensor.ts";
import { classes, deferred, initModel, type ModelOptions } from "./_common.ts";
import { Classifier } from "./classifier.ts";

/** Conv widths per depth; "M" is a 2x2 max-pool (HYDRA's cfgs). */
export const VGG_CONFIGS: Record<number, readonly (number | "M")[]> = {
  11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
  13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
  16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
};

/** Options of {@link VGG}. */
export interface VGGOptions extends ModelOptions {
  /** 11, 13 or 16 (default 16). */
  depth?: number;
  /** Batch norm after every conv (default true). */
  batchNorm?: boolean;
}

/**
 * HYDRA's CIFAR VGG: `features` = [conv 3x3 (padding 1, no bias), BN, ReLU]* with 2x2
 * max-pools per the config; `avgpool` = adaptive average pool to 2x2 (the identity on
 * 32x32 inputs, whose features are 2x2); `classifier` = Linear(512*2*2 -> 256), ReLU,
 * Linear(256 -> 256), ReLU, Linear(256 -> classes). VGG-16-BN: 15,311,818 parameters.
 * Names as nn.Sequential gives them: features.0.weight, features.1.running_mean, ...,
 * classifier.0.weight, classifier.2.weight, classifier.4.weight.
 */
export class VGG extends Classifier {
  readonly inputShape: readonly number[] = [3, 32, 32];
  readonly numClasses: number;
  /** Conv, BN, ReLU and max-pool layers. */
  readonly features: Sequential;
  /** Adaptive average pool to 2x2. */
  readonly avgpool: AdaptiveAvgPool2d;
  /** The three linear layers with ReLUs between them. */
  readonly classifier: Sequential;
  private readonly chain: Module[];

  constructor(opts: VGGOptions) {
    super();
    const depth = opts.depth ?? 16;
    const cfg = VGG_CONFIGS[depth];
    if (!cfg) {
      throw new Error(`VGG: depth must be one of ${Object.keys(VGG_CONFIGS)}, got ${depth}`);
    }
    this.numClasses = classes(opts);
    const lo = deferred(opts);
    const bn = opts.batchNorm ?? true;
    this.features = this.registerModule("features", new Sequential());
    let c = 3;
    for (const v of cfg) {
      if (v === "M") {
        this.features.push(new MaxPool2d(2));
        continue;
      }
      this.features.push(new Conv2d(c, v, 3, { ...lo, padding: 1, bias: false }));
      if (bn) this.features.push(new BatchNorm2d(v, { backend: opts.backend }));
      this.features.push(new ReLU());
      c = v;
    }
    this.avgpool = this.registerModule("avgpool", new AdaptiveAvgPool2d(2));
    this.classifier = this.registerModule(
      "classifier",
      new Sequential(
        new Linear(c * 2 * 2, 256, lo),
        new ReLU(),
        new Linear(256, 256, lo),
        new ReLU(),
        new Linear(256, this.numClasses, lo),
      ),
    );
    this.chain = [this.features, this.avgpool, new Flatten(), this.classifier];
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

/** VGG-16 with batch norm (HYDRA's `vgg16_bn`): 15,311,818 parameters for 10 classes. */
export function vgg16bn(opts: ModelOptions): VGG {
  return new VGG({ ...opts, depth: 16, batchNorm: true });
}
