/**
 * WideResNet-d-k for 32x32 inputs as in HYDRA's `models/wrn_cifar.py`.
 * @module
 */

import { Flatten, ReLU } from "../nn/activation.ts";
import { BatchNorm2d } from "../nn/batchnorm.ts";
import { Conv2d } from "../nn/conv.ts";
import { Linear } from "../nn/linear.ts";
import { Module } from "../nn/module.ts";
import { AvgPool2d } from "../nn/pool.ts";
import { WideBasicBlock } from "../nn/residual.ts";
import { runChain, Sequential } from "../nn/sequential.ts";
import type { Tensor } from "../tensor.ts";
import { classes, deferred, initModel, type ModelOptions } from "./_common.ts";
import { Classifier } from "./classifier.ts";

/** Options of {@link WideResNet}. */
export interface WideResNetOptions extends ModelOptions {
  /** Depth d, with (d - 4) divisible by 6 (default 28). */
  depth?: number;
  /** Widen factor k (default 10). */
  widen?: number;
  /** Dropout rate inside the blocks (default 0). */
  dropRate?: number;
  /**
   * Also build HYDRA's `sub_block1`: a copy of block1 that HYDRA constructs but never runs
   * (default false). Its parameters appear in HYDRA's checkpoints; turn this on to load them
   * with strict names.
   */
  hydraSubBlock?: boolean;
}

/** HYDRA's NetworkBlock: a Sequential of blocks under the member name `layer`. */
class NetworkBlock extends Module {
  /** The blocks. */
  readonly layer: Sequential;

  constructor(
    n: number,
    inPlanes: number,
    outPlanes: number,
    stride: number,
    dropRate: number,
    lo: ReturnType<typeof deferred>,
  ) {
    super();
    this.layer = this.registerModule("layer", new Sequential());
    for (let i = 0; i < n; i++) {
      this.layer.push(
        new WideBasicBlock(
          i === 0 ? inPlanes : outPlanes,
          outPlanes,
          i === 0 ? stride : 1,
          dropRate,
          lo,
        ),
      );
    }
  }

  /** Applies the blocks. */
  forward(x: Tensor): Tensor {
    return this.layer.forward(x);
  }
}

/**
 * conv1 (3 -> 16, 3x3, no bias); block1, block2, block3 (NetworkBlocks of n = (d - 4) / 6
 * pre-activation blocks with 16k, 32k, 64k channels, strides 1, 2, 2); bn1, ReLU, average
 * pool 8x8 (global on 32x32 inputs), fc (64k -> classes). WRN-28-10: 36,479,194 parameters
 * (HYDRA's checkpoints add 1,640,672 for the unused sub_block1, see `hydraSubBlock`);
 * WRN-28-4: 5,849,050; WRN-28-1: 369,498. Names conv1.weight, block1.layer.0.bn1.weight,
 * block1.layer.0.convShortcut.weight, ..., bn1.*, fc.weight, fc.bias.
 */
export class WideResNet extends Classifier {
  readonly inputShape: readonly number[] = [3, 32, 32];
  readonly numClasses: number;
  /** Depth d. */
  readonly depth: number;
  /** Widen factor k. */
  readonly widen: number;
  private readonly chain: Module[];

  constructor(opts: WideResNetOptions) {
    super();
    const depth = opts.depth ?? 28, k = opts.widen ?? 10, drop = opts.dropRate ?? 0;
    if (!Number.isInteger(depth) || depth < 10 || (depth - 4) % 6 !== 0) {
      throw new Error(`WideResNet: depth must be 6n + 4 (10, 16, 22, 28, ...), got ${depth}`);
    }
    if (!Number.isInteger(k) || k < 1) {
      throw new Error(`WideResNet: widen must be an integer >= 1, got ${k}`);
    }
    this.depth = depth;
    this.widen = k;
    this.numClasses = classes(opts);
    const n = (depth - 4) / 6, ch = [16, 16 * k, 32 * k, 64 * k];
    const lo = deferred(opts);
    const conv1 = this.registerModule(
      "conv1",
      new Conv2d(3, ch[0], 3, { ...lo, padding: 1, bias: false }),
    );
    const block1 = this.registerModule("block1", new NetworkBlock(n, ch[0], ch[1], 1, drop, lo));
    if (opts.hydraSubBlock) {
      this.registerModule("sub_block1", new NetworkBlock(n, ch[0], ch[1], 1, drop, lo));
    }
    const block2 = this.registerModule("block2", new NetworkBlock(n, ch[1], ch[2], 2, drop, lo));
    const block3 = this.registerModule("block3", new NetworkBlock(n, ch[2], ch[3], 2, drop, lo));
    const bn1 = this.registerModule("bn1", new BatchNorm2d(ch[3], { backend: opts.backend }));
    const relu = this.registerModule("relu", new ReLU());
    const fc = this.registerModule("fc", new Linear(ch[3], this.numClasses, lo));
    this.chain = [conv1, block1, block2, block3, bn1, relu, new AvgPool2d(8), new Flatten(), fc];
    initModel(this, opts);
  }

  protected logits(x: Tensor): Tensor {
    return runChain(x, this.chain);
  }
}
