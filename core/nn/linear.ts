/**
 * `Linear`: PyTorch's nn.Linear (parameters `weight` [out, in] and `bias` [out]).
 * @module
 */

import { fill } from "../ops/create.ts";
import { linear } from "../ops/linalg.ts";
import { fmtShape, getDefaultBackend, Tensor } from "../tensor.ts";
import {
  DEFAULT_INIT,
  initBias,
  type Initializable,
  type InitOptions,
  initWeight,
  joinName,
  type LayerOptions,
} from "./init.ts";
import { Module } from "./module.ts";
import { checkIndices, selectAlong } from "./_select.ts";

/** Options of {@link Linear}. */
export interface LinearOptions extends LayerOptions {
  /** Learnable bias (default true). */
  bias?: boolean;
}

/** Fully connected layer y = x W^T + b on inputs [N, inFeatures]. */
export class Linear extends Module implements Initializable {
  /** Input features. */
  readonly inFeatures: number;
  /** Output features. */
  readonly outFeatures: number;
  /** Whether the layer has a bias. */
  readonly hasBias: boolean;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    for (const [n, v] of [["inFeatures", inFeatures], ["outFeatures", outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 1) {
        throw new Error(`Linear: ${n} must be an integer >= 1, got ${v}`);
      }
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.hasBias = opts.bias ?? true;
    const backend = opts.backend ?? getDefaultBackend();
    const w = Tensor.empty([outFeatures, inFeatures], "f32", backend);
    fill(w, 0);
    this.registerParameter("weight", w);
    if (this.hasBias) {
      const b = Tensor.empty([outFeatures], "f32", backend);
      fill(b, 0);
      this.registerParameter("bias", b);
    }
    if (opts.init !== false) {
      this.resetParameters("", { seed: opts.seed ?? 0, linear: opts.init ?? DEFAULT_INIT });
    }
  }

  /** The weight [out, in]. */
  get weight(): Tensor {
    return this.tensor("weight");
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
    const spec = opts.linear ?? DEFAULT_INIT;
    initWeight(this.weight, spec, opts.seed, joinName(prefix, "weight"));
    const b = this.bias;
    if (b) initBias(b, this.inFeatures, spec, opts.seed, joinName(prefix, "bias"));
  }

  /**
   * Keeps only the output features `out` and input features `in` (increasing indices), in
   * place (structured pruning). Optimizers holding the old tensors must be rebuilt.
   */
  selectFeatures(o: { out?: readonly number[]; in?: readonly number[] }): void {
    const self = this as { inFeatures: number; outFeatures: number };
    if (o.out) {
      checkIndices("Linear.selectFeatures out", o.out, this.outFeatures);
      this.replaceTensor("weight", selectAlong(this.weight, 0, o.out));
      if (this.bias) this.replaceTensor("bias", selectAlong(this.bias, 0, o.out));
      self.outFeatures = o.out.length;
    }
    if (o.in) {
      checkIndices("Linear.selectFeatures in", o.in, this.inFeatures);
      this.replaceTensor("weight", selectAlong(this.weight, 1, o.in));
      self.inFeatures = o.in.length;
    }
  }

  /** Applies the layer to x [N, inFeatures]. */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 2 || x.shape[1] !== this.inFeatures) {
      throw new Error(
        `Linear(${this.inFeatures}, ${this.outFeatures}) expects input [N, ${this.inFeatures}], ` +
          `got ${fmtShape(x.shape)}`,
      );
    }
    if (this.inferenceKernel) return this.inferenceKernel(x);
    return linear(x, this.effectiveWeight(), this.bias);
  }

  override toString(): string {
    return `Linear(${this.inFeatures}, ${this.outFeatures}${this.hasBias ? "" : ", no bias"})`;
  }
}
