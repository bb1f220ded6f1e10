/**
 * `Conv2d`: PyTorch's nn.Conv2d (parameters `weight` [out, in, kh, kw] and `bias` [out]).
 * @module
 */

import { conv2d, type Conv2dOptions } from "../ops/conv.ts";
import { fill } from "../ops/create.ts";
import { getDefaultBackend, Tensor } from "../tensor.ts";
import {
  DEFAULT_INIT,
  fans,
  initBias,
  type Initializable,
  type InitOptions,
  initWeight,
  joinName,
  type LayerOptions,
} from "./init.ts";
import { Module } from "./module.ts";
import { checkIndices, selectAlong } from "./_select.ts";

/** Options of {@link Conv2d}, as in PyTorch. */
export interface Conv2dLayerOptions extends LayerOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  /** Learnable bias (default true). */
  bias?: boolean;
}

function pairOf(name: string, v: number | [number, number], min: number): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (!p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new Error(`Conv2d: ${name} must be an integer >= ${min} or a pair of them, got ${v}`);
  }
  return p;
}

/** 2-D convolution layer with PyTorch's parameter names and default initialisation. */
export class Conv2d extends Module implements Initializable {
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels (filters). */
  readonly outChannels: number;
  /** Kernel height and width. */
  readonly kernelSize: [number, number];
  /** Stride, padding and dilation as passed to the op (fixed at construction). */
  readonly options: Readonly<Conv2dOptions>;
  /** Whether the layer has a bias. */
  readonly hasBias: boolean;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    opts: Conv2dLayerOptions = {},
  ) {
    super();
    if (!Number.isInteger(inChannels) || inChannels < 1) {
      throw new Error(`Conv2d: inChannels must be an integer >= 1, got ${inChannels}`);
    }
    if (!Number.isInteger(outChannels) || outChannels < 1) {
      throw new Error(`Conv2d: outChannels must be an integer >= 1, got ${outChannels}`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pairOf("kernelSize", kernelSize, 1);
    this.options = {
      stride: pairOf("stride", opts.stride ?? 1, 1),
      padding: pairOf("padding", opts.padding ?? 0, 0),
      dilation: pairOf("dilation", opts.dilation ?? 1, 1),
    };
    const backend = opts.backend ?? getDefaultBackend();
    const [kh, kw] = this.kernelSize;
    const w = Tensor.empty([outChannels, inChannels, kh, kw], "f32", backend);
    fill(w, 0);
    this.registerParameter("weight", w);
    this.hasBias = opts.bias ?? true;
    if (this.hasBias) {
      const b = Tensor.empty([outChannels], "f32", backend);
      fill(b, 0);
      this.registerParameter("bias", b);
    }
    if (opts.init !== false) {
      this.resetParameters("", { seed: opts.seed ?? 0, conv: opts.init ?? DEFAULT_INIT });
    }
  }

  /**
   * Maps the stored weight to the one the forward pass uses (e.g. weight ⊙ mask with a
   * straight-through gradient to pruning scores); null: the weight itself.
   */
  weightTransform: ((w: Tensor) => Tensor) | null = null;

  /**
   * Replaces the forward pass (e.g. by a sparse inference kernel on the masked weight, set by
   * `toSparseInference`); null: the dense forward.
   */
  inferenceKernel: ((x: Tensor) => Tensor) | null = null;

  /** The weight [out, in, kh, kw]. */
  get weight(): Tensor {
    return this.tensor("weight");
  }

  /** The weight the forward pass uses (see {@link weightTransform}). */
  effectiveWeight(): Tensor {
    return this.weightTransform ? this.weightTransform(this.weight) : this.weight;
  }

  /** The bias [out], or null. */
  get bias(): Tensor | null {
    return this.hasBias ? this.tensor("bias") : null;
  }

  /** Re-draws weight and bias from (seed, "<prefix>.weight"), (seed, "<prefix>.bias"). */
  resetParameters(prefix: string, opts: InitOptions): void {
    const spec = opts.conv ?? DEFAULT_INIT;
    const w = this.weight;
    initWeight(w, spec, opts.seed, joinName(prefix, "weight"));
    const b = this.bias;
    if (b) initBias(b, fans(w.shape).fanIn, spec, opts.seed, joinName(prefix, "bias"));
  }

  /**
   * Keeps only the filters `out` and the input channels `in` (increasing indices), in place:
   * weight and bias become the selected slices, so a filter-pruned layer is physically
   * smaller. Optimizers holding the old tensors must be rebuilt.
   */
  selectChannels(o: { out?: readonly number[]; in?: readonly number[] }): void {
    const self = this as { inChannels: number; outChannels: number };
    if (o.out) {
      checkIndices("Conv2d.selectChannels out", o.out, this.outChannels);
      this.replaceTensor("weight", selectAlong(this.weight, 0, o.out));
      if (this.bias) this.replaceTensor("bias", selectAlong(this.bias, 0, o.out));
      self.outChannels = o.out.length;
    }
    if (o.in) {
      checkIndices("Conv2d.selectChannels in", o.in, this.inChannels);
      this.replaceTensor("weight", selectAlong(this.weight, 1, o.in));
      self.inChannels = o.in.length;
    }
  }

  /** Convolves x [N, inChannels, H, W]. */
  forward(x: Tensor): Tensor {
    if (this.inferenceKernel) return this.inferenceKernel(x);
    return conv2d(x, this.effectiveWeight(), this.bias, this.options);
  }

  override toString(): string {
    const o = this.options;
    return `Conv2d(${this.inChannels}, ${this.outChannels}, kernel ${this.kernelSize.join("x")}, ` +
      `stride ${o.stride}, padding ${o.padding}${this.bias ? "" : ", no bias"})`;
  }
}
