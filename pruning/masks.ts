/**
 * Masks as first-class objects: one 0/1 f32 mask next to each prunable weight, effective
 * weight = weight ⊙ mask. A fixed-mask method applies the mask to the weights (pruned weights
 * become exactly 0) and hands it to the optimizer, whose fused update keeps them exactly 0.
 * Sparsity is accounted per layer and in total; masks convert both ways with dense weights.
 * @module
 */

import {
  copyFromHost,
  copyInto,
  mul,
  noGrad,
  ones,
  type Optimizer,
  type StateDict,
  sum,
  type Tensor,
  tidy,
} from "@topiary/core";
import type { PrunableLayer } from "./prunable.ts";

/** Which weights compete for the kept slots: all prunable weights together, or each layer. */
export type Scope = "global" | "layerwise";

/** One layer's kept count. */
export interface LayerSparsity {
  name: string;
  kept: number;
  total: number;
  /** kept / total. */
  density: number;
}

/** Sparsity of a mask set. */
export interface SparsityReport {
  layers: LayerSparsity[];
  kept: number;
  total: number;
  /** 1 - kept / total over the prunable weights. */
  sparsity: number;
  /** Layers with no weight left (possible under global scope); the network is cut there. */
  emptyLayers: string[];
}

/** Masks of a model's prunable layers (owned: dispose when done). */
export class MaskSet {
  /** The prunable layers, in model order. */
  readonly layers: readonly PrunableLayer[];
  private readonly masks = new Map<string, Tensor>();

  /** A mask set keeping every weight. */
  constructor(layers: readonly PrunableLayer[]) {
    this.layers = layers;
    for (const l of layers) {
      this.masks.set(l.name, ones(l.weight.shape, { backend: l.weight.backend }));
    }
  }

  /** A mask set from a dense model whose pruned weights are exactly zero (dense -> masked). */
  static fromWeights(layers: readonly PrunableLayer[]): MaskSet {
    const s = new MaskSet(layers);
    for (const l of layers) {
      const host = l.weight.toArray() as Float32Array;
      const m = new Float32Array(host.length);
      for (let i = 0; i < host.length; i++) m[i] = host[i] !== 0 ? 1 : 0;
      s.mask(l.name).dispose();
      s.masks.set(l.name, fromHost(l.weight, m));
    }
    return s;
  }

  /** The mask of a weight (by parameter name). */
  mask(name: string): Tensor {
    const m = this.masks.get(name);
    if (!m) {
      throw new Error(
        `no mask for "${name}" (masked weights: ${[...this.masks.keys()].join(", ")})`,
      );
    }
    return m;
  }

  /** Replaces a mask (the set takes ownership of `m`; the old one is disposed). */
  setMask(name: string, m: Tensor): void {
    const old = this.mask(name);
    const w = this.layers.find((l) => l.name === name)!.weight;
    if (m.shape.join(",") !== w.shape.join(",") || m.dtype !== "f32") {
      throw new Error(
        `mask of "${name}" must be f32 [${w.shape}], got ${m.dtype} [${m.shape}]`,
      );
    }
    if (old !== m) old.dispose();
    this.masks.set(name, m);
  }

  /** Zeroes the pruned weights in place (weight ← weight ⊙ mask). */
  apply(): void {
    noGrad(() =>
      tidy(() => {
        for (const l of this.layers) copyInto(l.weight, mul(l.weight, this.mask(l.name)));
      })
    );
  }

  /** Hands the masks to an optimizer over the model's named parameters. */
  attach(optimizer: Optimizer): void {
    for (const l of this.layers) optimizer.setMask(l.name, this.mask(l.name));
  }

  /** Removes the masks from an optimizer. */
  detach(optimizer: Optimizer): void {
    for (const l of this.layers) optimizer.setMask(l.name, null);
  }

  /** Kept counts per layer and in total. */
  report(): SparsityReport {
    const layers = this.layers.map((l) => {
      const kept = Math.round(tidy(() => sum(this.mask(l.name)).item()));
      const total = l.weight.size;
      return { name: l.name, kept, total, density: kept / total };
    });
    const kept = layers.reduce((a, l) => a + l.kept, 0);
    const total = layers.reduce((a, l) => a + l.total, 0);
    return {
      layers,
      kept,
      total,
      sparsity: 1 - kept / total,
      emptyLayers: layers.filter((l) => l.kept === 0).map((l) => l.name),
    };
  }

  /** The masks as state-dict entries "<weight name>_mask" (views; do not dispose them). */
  stateDict(): StateDict {
    return new Map([...this.masks].map(([n, m]) => [`${n}_mask`, m]));
  }

  /** Loads masks saved by {@link stateDict} (values are copied). */
  loadStateDict(sd: StateDict): void {
    for (const l of this.layers) {
      const src = sd.get(`${l.name}_mask`);
      if (!src) throw new Error(`masks: "${l.name}_mask" is missing from the checkpoint`);
      copyInto(this.mask(l.name), src);
    }
  }

  /** Model weights as dense tensors with zeros where pruned (masked -> dense export). */
  denseWeights(): Map<string, Float32Array> {
    return new Map(
      this.layers.map((l) => [
        l.name,
        tidy(() => mul(l.weight, this.mask(l.name)).toArray() as Float32Array),
      ]),
    );
  }

  /** Frees the masks. */
  dispose(): void {
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}

/** A tensor on `like`'s device holding host values. */
export function fromHost(like: Tensor, data: Float32Array): Tensor {
  const t = ones(like.shape, { backend: like.backend });
  copyFromHost(t, data);
  return t;
}
