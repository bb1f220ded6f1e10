/**
 * Pooling layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d` (PyTorch semantics; blocked
 * layouts pass through).
 * @module
 */

import { avgPool2d, globalAvgPool2d, maxPool2d, type Pool2dOptions } from "../ops/pool.ts";
import { fmtShape, type Tensor } from "../tensor.ts";
import { identity } from "./_identity.ts";
import { Module } from "./module.ts";

type Pair = number | [number, number];

/** Pooling options of the layers (stride defaults to the kernel size). */
export interface PoolLayerOptions {
  stride?: Pair;
  padding?: Pair;
}

function poolOptions(kernel: Pair, opts: PoolLayerOptions): Pool2dOptions {
  return { kernel, stride: opts.stride ?? kernel, padding: opts.padding ?? 0 };
}

/** Max pooling over windows of [N, C, H, W]. */
export class MaxPool2d extends Module {
  /** Kernel, stride and padding (fixed at construction). */
  readonly options: Readonly<Pool2dOptions>;

  constructor(kernel: Pair, opts: PoolLayerOptions = {}) {
    super();
    this.options = poolOptions(kernel, opts);
  }

  /** Pools x. */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.options);
  }

  override toString(): string {
    const o = this.options;
    return `MaxPool2d(kernel ${o.kernel}, stride ${o.stride}, padding ${o.padding})`;
  }
}

/** Average pooling over windows of [N, C, H, W]. */
export class AvgPool2d extends Module {
  /** Kernel, stride, padding and padding rule (fixed at construction). */
  readonly options: Readonly<Pool2dOptions & { countIncludePad: boolean }>;

  constructor(kernel: Pair, opts: PoolLayerOptions & { countIncludePad?: boolean } = {}) {
    super();
    this.options = { ...poolOptions(kernel, opts), countIncludePad: opts.countIncludePad ?? true };
  }

  /** Pools x. */
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.options);
  }

  override toString(): string {
    const o = this.options;
    return `AvgPool2d(kernel ${o.kernel}, stride ${o.stride}, padding ${o.padding})`;
  }
}

/**
 * Adaptive average pooling to a fixed output size. Supported where PyTorch's windows are
 * uniform: output 1x1 (global mean), or input sizes that are multiples of the output size
 * (windows of H/oh x W/ow with the same stride); equal sizes are the identity.
 */
export class AdaptiveAvgPool2d extends Module {
  /** Output height and width. */
  readonly outputSize: [number, number];

  constructor(outputSize: Pair) {
    super();
    const o: [number, number] = typeof outputSize === "number"
      ? [outputSize, outputSize]
      : [outputSize[0], outputSize[1]];
    if (!o.every((v) => Number.isInteger(v) && v >= 1)) {
      throw new Error(`AdaptiveAvgPool2d: output size must be integers >= 1, got ${outputSize}`);
    }
    this.outputSize = o;
  }

  /** Pools x [N, C, H, W] to [N, C, oh, ow]. */
  forward(x: Tensor): Tensor {
    const [oh, ow] = this.outputSize;
    if (x.ndim !== 4) {
      throw new Error(`AdaptiveAvgPool2d: expected input [N, C, H, W], got ${fmtShape(x.shape)}`);
    }
    const h = x.shape[2], w = x.shape[3];
    if (oh === 1 && ow === 1) return globalAvgPool2d(x);
    if (h === oh && w === ow) return identity(x);
    if (h % oh !== 0 || w % ow !== 0) {
      throw new Error(
        `AdaptiveAvgPool2d(${oh}x${ow}): input ${fmtShape(x.shape)} has a size that is not a ` +
          `multiple of the output size (non-uniform windows are not supported)`,
      );
    }
    const k: [number, number] = [h / oh, w / ow];
    return avgPool2d(x, { kernel: k, stride: k });
  }

  override toString(): string {
    return `AdaptiveAvgPool2d(${this.outputSize.join("x")})`;
  }
}
