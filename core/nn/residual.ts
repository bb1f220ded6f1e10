/**
 * Residual blocks: ResNet's `BasicBlock` (post-activation, 1x1 conv + BN shortcut when the
 * shape changes) and WideResNet's pre-activation `WideBasicBlock`, with the member names of
 * the reference PyTorch code (kuangliu/HYDRA `resnet_cifar.py`, HYDRA `wrn_cifar.py`).
 * @module
 */

import { add, relu } from "../ops/elementwise.ts";
import type { Tensor } from "../tensor.ts";
import { ReLU } from "./activation.ts";
import { BatchNorm2d } from "./batchnorm.ts";
import { Conv2d } from "./conv.ts";
import { Dropout } from "./dropout.ts";
import { type BlockOptions, initComposite } from "./init.ts";
import { Module } from "./module.ts";
import { runChain, Sequential } from "./sequential.ts";

/** relu(a + b), disposing the sum's handle. */
function addRelu(a: Tensor, b: Tensor): Tensor {
  const s = add(a, b);
  const y = relu(s);
  s.dispose();
  return y;
}

/**
 * ResNet basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). The shortcut is
 * empty (identity) or, when the stride is not 1 or the channels change, Sequential(1x1 conv
 * with the stride, BN). Members: conv1, bn1, conv2, bn2, shortcut (shortcut.0, shortcut.1).
 */
export class BasicBlock extends Module {
  /** Input channels. */
  readonly inPlanes: number;
  /** Output channels. */
  readonly planes: number;
  /** Stride of conv1 and of the shortcut. */
  readonly stride: number;
  /** First 3x3 convolution (with the block's stride). */
  readonly conv1: Conv2d;
  /** Batch norm after conv1. */
  readonly bn1: BatchNorm2d;
  /** Second 3x3 convolution. */
  readonly conv2: Conv2d;
  /** Batch norm after conv2. */
  readonly bn2: BatchNorm2d;
  /** The shortcut: empty, or [1x1 conv, BN]. */
  readonly shortcut: Sequential;
  private readonly first: Module[];
  private readonly second: Module[];

  constructor(inPlanes: number, planes: number, stride = 1, opts: BlockOptions = {}) {
    super();
    this.inPlanes = inPlanes;
    this.planes = planes;
    this.stride = stride;
    const backend = opts.backend;
    const conv = { bias: false, init: false as const, backend };
    this.conv1 = this.registerModule(
      "conv1",
      new Conv2d(inPlanes, planes, 3, { ...conv, stride, padding: 1 }),
    );
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes, { backend }));
    this.conv2 = this.registerModule(
      "conv2",
      new Conv2d(planes, planes, 3, { ...conv, padding: 1 }),
    );
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes, { backend }));
    this.shortcut = this.registerModule("shortcut", new Sequential());
    if (stride !== 1 || inPlanes !== planes) {
      this.shortcut.push(new Conv2d(inPlanes, planes, 1, { ...conv, stride }));
      this.shortcut.push(new BatchNorm2d(planes, { backend }));
    }
    const r = new ReLU();
    this.first = [this.conv1, this.bn1, r, this.conv2, this.bn2];
    this.second = this.shortcut.modules().slice();
    initComposite(this, opts);
  }

  /** Applies the block to x [N, inPlanes, H, W]. */
  forward(x: Tensor): Tensor {
    const out = runChain(x, this.first);
    if (this.second.length === 0) {
      const y = addRelu(out, x);
      out.dispose();
      return y;
    }
    const sc = runChain(x, this.second);
    const y = addRelu(out, sc);
    out.dispose();
    sc.dispose();
    return y;
  }
}

/**
 * WideResNet pre-activation block (HYDRA's `wrn_cifar.BasicBlock`):
 * - same channels: x + conv2(drop(relu2(bn2(conv1(relu1(bn1(x)))))));
 * - else, with a = relu1(bn1(x)): convShortcut(a) + conv2(drop(relu2(bn2(conv1(a))))).
 * Members: bn1, relu1, conv1, bn2, relu2, conv2, convShortcut (1x1, only when the channels
 * change). Dropout (rate `dropRate`, a child named "dropout" when > 0) has no state.
 */
export class WideBasicBlock extends Module {
  /** Input channels. */
  readonly inPlanes: number;
  /** Output channels. */
  readonly outPlanes: number;
  /** Whether input and output channels are equal (identity shortcut). */
  readonly equalInOut: boolean;
  /** Pre-activation batch norm of the input. */
  readonly bn1: BatchNorm2d;
  /** First 3x3 convolution (with the block's stride). */
  readonly conv1: Conv2d;
  /** Batch norm after conv1. */
  readonly bn2: BatchNorm2d;
  /** Second 3x3 convolution. */
  readonly conv2: Conv2d;
  /** 1x1 shortcut convolution (null when the channels are equal). */
  readonly convShortcut: Conv2d | null;
  private readonly pre: Module[];
  private readonly body: Module[];

  constructor(
    inPlanes: number,
    outPlanes: number,
    stride = 1,
    dropRate = 0,
    opts: BlockOptions = {},
  ) {
    super();
    this.inPlanes = inPlanes;
    this.outPlanes = outPlanes;
    this.equalInOut = inPlanes === outPlanes;
    const backend = opts.backend;
    const conv = { bias: false, init: false as const, backend };
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(inPlanes, { backend }));
    const relu1 = this.registerModule("relu1", new ReLU());
    this.conv1 = this.registerModule(
      "conv1",
      new Conv2d(inPlanes, outPlanes, 3, { ...conv, stride, padding: 1 }),
    );
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(outPlanes, { backend }));
    const relu2 = this.registerModule("relu2", new ReLU());
    this.conv2 = this.registerModule(
      "conv2",
      new Conv2d(outPlanes, outPlanes, 3, { ...conv, padding: 1 }),
    );
    this.convShortcut = this.equalInOut ? null : this.registerModule(
      "convShortcut",
      new Conv2d(inPlanes, outPlanes, 1, { ...conv, stride }),
    );
    const drop = dropRate > 0 ? [this.registerModule("dropout", new Dropout(dropRate))] : [];
    this.pre = [this.bn1, relu1];
    this.body = [this.conv1, this.bn2, relu2, ...drop, this.conv2];
    initComposite(this, opts);
  }

  /** Applies the block to x [N, inPlanes, H, W]. */
  forward(x: Tensor): Tensor {
    const a = runChain(x, this.pre);
    const out = runChain(a, this.body);
    const sc = this.convShortcut ? this.convShortcut.forward(a) : x;
    a.dispose();
    const y = add(sc, out);
    out.dispose();
    if (sc !== x) sc.dispose();
    return y;
  }
}
