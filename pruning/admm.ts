/**
 * ADMM for constrained training (Ye et al. 2019, robust ADMM pruning; ATMC's quantization):
 * minimise L(W) subject to W ∈ S by training W on L(W) + ρ/2 Σ‖W − Z + U‖² and updating, every
 * so often, Z ← Π_S(W + U) (the Euclidean projection onto S) and U ← U + W − Z. Z starts as
 * Π_S(W) and U as 0 (the reference's `admm_initialization`). S is a sparsity set
 * ({@link sparsityProjection}: irregular, filter or column, per layer) or a quantization
 * codebook ({@link quantizeProjection}). Z and U live next to the weights on their device; the
 * projections run on host copies. U is the scaled dual (Λ/ρ) and, as in the reference code, is
 * not rescaled when a stage grows ρ (textbook ADMM would multiply it by ρ_old/ρ_new).
 * @module
 */

import {
  add,
  copyFromHost,
  mul,
  noGrad,
  square,
  type StateDict,
  sub,
  sum,
  type Tensor,
  tidy,
  zeros,
} from "@topiary/core";
import { fromHost, MaskSet } from "./masks.ts";
import type { PrunableLayer } from "./prunable.ts";
import { projectionMask, type ProjectionOptions, projectSparse } from "./projection.ts";
import { quantizeKmeans } from "./quantize.ts";

/** A projection onto the constraint set of one layer (host values in, host values out). */
export type Projection = (values: Float32Array, layer: PrunableLayer) => Float32Array;

/** Projection onto "sparsity of each layer's groups" (Ye et al.'s irregular/filter/column). */
export function sparsityProjection(o: ProjectionOptions): Projection {
  return (v, l) => projectSparse(v, l.weight.shape, o);
}

/** Projection onto a codebook of 2^bits k-means centres plus a fixed zero (ATMC). */
export function quantizeProjection(bits: number): Projection {
  return (v) => quantizeKmeans(v, bits).values;
}

/** Distances after an update: how far the weights are from the constraint set. */
export interface AdmmResidual {
  /** Σ‖W − Z‖² / Σ‖W‖² (primal residual, relative). */
  primal: number;
  /** Σ‖Z − Z_prev‖² / Σ‖W‖² (dual residual up to ρ, relative); 0 before the first update. */
  dual: number;
}

/** ADMM's auxiliary variables Z and U of each layer (owned: dispose when done). */
export class Admm {
  readonly layers: readonly PrunableLayer[];
  private readonly project: Projection;
  private readonly z = new Map<string, Tensor>();
  private readonly u = new Map<string, Tensor>();

  /** Z = Π(W), U = 0 for every layer. */
  constructor(layers: readonly PrunableLayer[], project: Projection) {
    this.layers = layers;
    this.project = project;
    try {
      for (const l of layers) {
        const w = l.weight.toArray() as Float32Array;
        this.z.set(l.name, fromHost(l.weight, this.project(w, l)));
        this.u.set(l.name, zeros(l.weight.shape, { backend: l.weight.backend }));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** ρ/2 Σ‖W − Z + U‖²: differentiable in the weights (add it to the training loss). */
  penalty(rho: number): Tensor {
    if (!(rho >= 0) || !Number.isFinite(rho)) throw new Error(`admm: rho must be >= 0, got ${rho}`);
    const parts = this.layers.map((l) =>
      sum(square(add(sub(l.weight, this.z.get(l.name)!), this.u.get(l.name)!)))
    );
    return mul(parts.reduce((a, b) => add(a, b)), rho / 2);
  }

  /** Z ← Π(W + U), U ← U + W − Z; returns the residuals. */
  update(): AdmmResidual {
    let wn = 0, primal = 0, dual = 0;
    noGrad(() => {
      for (const l of this.layers) {
        const w = l.weight.toArray() as Float32Array;
        const u = this.u.get(l.name)!.toArray() as Float32Array;
        const zOld = this.z.get(l.name)!.toArray() as Float32Array;
        const z = this.project(w.map((x, i) => x + u[i]), l);
        for (let i = 0; i < w.length; i++) {
          u[i] += w[i] - z[i];
          wn += w[i] * w[i];
          primal += (w[i] - z[i]) ** 2;
          dual += (z[i] - zOld[i]) ** 2;
        }
        copyFromHost(this.z.get(l.name)!, z);
        copyFromHost(this.u.get(l.name)!, u);
      }
    });
    const d = wn > 0 ? wn : 1;
    return { primal: primal / d, dual: dual / d };
  }

  /** Σ‖W − Z‖² / Σ‖W‖² now. */
  primalResidual(): number {
    return tidy(() => {
      let wn = 0, r = 0;
      for (const l of this.layers) {
        wn += sum(square(l.weight)).item();
        r += sum(square(sub(l.weight, this.z.get(l.name)!))).item();
      }
      return r / (wn > 0 ? wn : 1);
    });
  }

  /** Z of a layer (a view; do not dispose). */
  zOf(name: string): Tensor {
    const t = this.z.get(name);
    if (!t) throw new Error(`admm: no layer "${name}"`);
    return t;
  }

  /** U of a layer (a view; do not dispose). */
  uOf(name: string): Tensor {
    const t = this.u.get(name);
    if (!t) throw new Error(`admm: no layer "${name}"`);
    return t;
  }

  /** Z and U as state-dict entries "<weight name>_admm_z" / "_admm_u" (views). */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const l of this.layers) {
      sd.set(`${l.name}_admm_z`, this.z.get(l.name)!);
      sd.set(`${l.name}_admm_u`, this.u.get(l.name)!);
    }
    return sd;
  }

  /** Loads Z and U saved by {@link stateDict}. */
  loadStateDict(sd: StateDict): void {
    for (const [k, t] of this.stateDict()) {
      const src = sd.get(k);
      if (!src) throw new Error(`admm: "${k}" is missing from the checkpoint`);
      noGrad(() => copyFromHost(t, src.toArray() as Float32Array));
    }
  }

  /** Frees Z and U. */
  dispose(): void {
    for (const t of [...this.z.values(), ...this.u.values()]) t.dispose();
    this.z.clear();
    this.u.clear();
  }
}

/**
 * Hard pruning after the ADMM stage (the reference's `masking`): masks from the projection of
 * the current weights, applied (pruned weights become exactly zero).
 */
export function hardPrune(layers: readonly PrunableLayer[], o: ProjectionOptions): MaskSet {
  const masks = new MaskSet(layers);
  for (const l of layers) {
    const m = projectionMask(l.weight.toArray() as Float32Array, l.weight.shape, o);
    masks.setMask(l.name, fromHost(l.weight, m));
  }
  masks.apply();
  return masks;
}
