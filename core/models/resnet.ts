/**
 * ResNet for 32x32 inputs as in HYDRA's `models/resnet_cifar.py` (kuangliu's CIFAR ResNet).
 * @module
 */

import { Flatten, ReLU } from "../nn/activation.ts";
import { BatchNorm2d } from "../nn/batchnorm.ts";
import { Conv2d } from "../nn/conv.ts";
import { Linear } from "../nn/linear.ts";
import type { Module } from "../nn/module.ts";
import { AvgPool2d } from "../nn/pool.ts";
import { BasicBlock } from "../nn/residual.ts";
import { runChain, Sequential } from "../nn/sequential.ts";
import type { Tensor } from "../tensor.ts";
import { classes, deferred, initModel, type ModelOptions } from "./_common.ts";
import { Classifier } from "./classifier.ts";

/** Options of {@link ResNet}. */
export interface ResNetOptions extends ModelOptions {
  /** Basic blocks per stage (default [2, 2, 2, 2]: ResNet-18; [3, 4, 6, 3]: ResNet-34). */
  blocks?: [number, number, number, number];
}

/**
 * CIFAR ResNet with basic blocks: conv1 (3 -> 64, 3x3, stride 1, padding 1, no bias), bn1,
 * ReLU; layer1..layer4 with 64, 128, 256, 512 channels (strides 1, 2, 2, 2; shortcut 1x1
 * conv + BN where the shape changes); average pool 4x4 (global on 32x32 inputs); linear
 * (512 -> classes). ResNet-18: 11,173,962 parameters. Names conv1.weight, bn1.*,
 * layer1.0.conv1.weight, layer2.0.shortcut.0.weight, linear.weight, ...
 */
export class ResNet extends Classifier {
  readonly inputShape: readonly number[] = [3, 32, 32];
  readonly numClasses: number;
  /** Stem convolution 3 -> 64. */
  readonly conv1: Conv2d;
  /** Stem batch norm. */
  readonly bn1: BatchNorm2d;
  /** The four stages (layer1..layer4). */
  readonly layers: Sequential[];
  /** Classifier 512 -> classes. */
  readonly linear: Linear;
  private readonly chain: Module[];

  constructor(opts: ResNetOptions) {
    super();
    this.numClasses = classes(opts);
    const blocks = opts.blocks ?? [2, 2, 2, 2];
    const lo = deferred(opts);
    const backend = opts.backend;
    this.conv1 = this.registerModule(
      "conv1",
      new Conv2d(3, 64, 3, { ...lo, padding: 1, bias: false }),
    );
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(64, { backend }));
    this.layers = [];
    let inPlanes = 64;
    [64, 128, 256, 512].forEach((planes, i) => {
      const layer = new Sequential();
      for (let b = 0; b < blocks[i]; b++) {
        const stride = b === 0 && i > 0 ? 2 : 1;
        layer.push(new BasicBlock(inPlanes, planes, stride, lo));
        inPlanes = planes;
      }
      this.layers.push(this.registerModule(`layer${i + 1}`, layer));
    });
    this.linear = this.registerModule("linear", new Linear(512, this.numClasses, lo));
    this.chain = [
      this.conv1,
      this.bn1,
      new ReLU(),
      ...this.layers,
      new AvgPool2d(4),
      new Flatten(),
      this.linear,
    ];
    initModel(this, opts);
  }

  protected logits(x: Tensor): Tensor {
    return runChain(x, this.chain);
  }
}

/** ResNet-18 for 32x32 inputs (HYDRA's `resnet18`): 11,173,962 parameters for 10 classes. */
export function resnet18(opts: ModelOptions): ResNet {
  return new ResNet({ ...opts, blocks: [2, 2, 2, 2] });
}
