/**
 * Score-based pruning (HYDRA's prune stage; later edge-popup): a learnable score next to each
 * prunable weight, mask = top-k of |scores| (per layer or globally), and a forward pass with
 * weight ⊙ mask whose gradient reaches the scores straight through the top-k:
 * ∂L/∂s = (∂L/∂W_eff ⊙ W) ⊙ sign(s). The weights never change; the mask is recomputed from
 * the scores once per optimizer step ({@link ScoreSet.refresh}) and reused by every forward
 * pass of that step, attack iterations included.
 * @module
 */

import {
  abs,
  clone,
  copyFromHost,
  detach,
  keptCount,
  mul,
  noGrad,
  record,
  type StateDict,
  type Tensor,
  tidy,
  topkMasks,
  uniform,
  zeros,
} from "@topiary/core";
import { MaskSet, type Scope } from "./masks.ts";
import type { PrunableLayer } from "./prunable.ts";

/**
 * `value` in the forward pass, the identity in the backward pass: the straight-through
 * estimator of a step function (top-k) applied to `x`.
 */
export function straightThrough(x: Tensor, value: Tensor): Tensor {
  if (x.shape.join(",") !== value.shape.join(",")) {
    throw new Error(`straightThrough: shapes [${x.shape}] and [${value.shape}] differ`);
  }
  // A view of `value` (no copy: masks are replaced, never written in place).
  const y = detach(value);
  return record(y, "straight_through", [x], [], (gy) => [gy]);
}

/** Fan-in of a weight [out, in, kh, kw] or [out, in]. */
function fanIn(w: Tensor): number {
  return w.shape.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * How scores start: `hydra` (sqrt(6/fan_in)·W/max|W|, so the first mask is layer-wise
 * magnitude pruning) or `kaiming_uniform` (edge-popup: PyTorch's kaiming_uniform_ with
 * a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from the seed and the stream
 * "scores:<weight name>").
 */
export type ScoreInit = "hydra" | "kaiming_uniform";

/** Options of {@link ScoreSet}. */
export interface ScoreOptions {
  /** Fraction of weights the mask removes. */
  sparsity: number;
  /** "layerwise" (HYDRA, edge-popup) or "global". */
  scope: Scope;
  /** Score initialisation (default `hydra`). */
  init?: ScoreInit;
  /** Seed of the `kaiming_uniform` draw (default 0). */
  seed?: number;
}

/** Initial scores of one layer (host values). */
function initialScores(l: PrunableLayer, o: ScoreOptions): Float32Array {
  const bound = 1 / Math.sqrt(fanIn(l.weight));
  if ((o.init ?? "hydra") === "kaiming_uniform") {
    const a = {
      seed: o.seed ?? 0,
      stream: `scores:${l.name}`,
      counter: 0,
      backend: l.weight.backend,
    };
    return tidy(() => uniform(l.weight.shape, a, -bound, bound).toArray() as Float32Array);
  }
  if (o.init !== undefined && o.init !== "hydra") {
    throw new Error(`score pruning: unknown init "${o.init}" (known: hydra, kaiming_uniform)`);
  }
  const w = l.weight.toArray() as Float32Array;
  let m = 0;
  for (const v of w) m = Math.max(m, Math.abs(v));
  const scale = Math.sqrt(6 / fanIn(l.weight)) / (m > 0 ? m : 1);
  return w.map((v) => v * scale);
}

/** Learnable scores of a model's prunable layers and the masks derived from them. */
export class ScoreSet {
  readonly layers: readonly PrunableLayer[];
  readonly sparsity: number;
  readonly scope: Scope;
  /** Scores by weight name: leaves that require gradients (give them to the optimizer). */
  readonly scores: Map<string, Tensor> = new Map();
  private readonly masks = new Map<string, Tensor>();
  private attached = false;

  /** Scores for `layers`, initialised as `o.init` says (HYDRA's by default). */
  constructor(layers: readonly PrunableLayer[], o: ScoreOptions) {
    if (!(o.sparsity >= 0 && o.sparsity <= 1)) {
      throw new Error(`score pruning: sparsity must be in [0, 1], got ${o.sparsity}`);
    }
    this.layers = layers;
    this.sparsity = o.sparsity;
    this.scope = o.scope;
    for (const l of layers) {
      const init = initialScores(l, o);
      const s = zeros(l.weight.shape, { backend: l.weight.backend, requiresGrad: true });
      copyFromHost(s, init);
      this.scores.set(l.name, s);
    }
    this.refresh();
  }

  /** Named scores for an optimizer (names "<weight name>_scores"). */
  namedScores(): [string, Tensor][] {
    return [...this.scores].map(([n, s]) => [`${n}_scores`, s]);
  }

  /** Recomputes the masks from the current scores (once per optimizer step). */
  refresh(): void {
    const layers = this.layers;
    const next = tidy(() => {
      // topkMasks ranks by |score|.
      const s = layers.map((l) => this.scores.get(l.name)!);
      if (this.scope === "global") {
        const total = layers.reduce((n, l) => n + l.weight.size, 0);
        return topkMasks(s, keptCount(total, this.sparsity));
      }
      return layers.map((l, i) => topkMasks([s[i]], keptCount(l.weight.size, this.sparsity))[0]);
    });
    layers.forEach((l, i) => {
      this.masks.get(l.name)?.dispose();
      this.masks.set(l.name, next[i]);
    });
  }

  /** The current mask of a weight. */
  mask(name: string): Tensor {
    const m = this.masks.get(name);
    if (!m) throw new Error(`no score mask for "${name}"`);
    return m;
  }

  /**
   * Makes the layers compute with W ⊙ top-k(|s|): the weight is a constant, the scores get the
   * straight-through gradient.
   */
  attach(): void {
    for (const l of this.layers) {
      const s = this.scores.get(l.name)!;
      l.layer.weightTransform = (w) => {
        const adj = straightThrough(abs(s), this.mask(l.name));
        return mul(detach(w), adj);
      };
    }
    this.attached = true;
  }

  /** Restores the plain forward pass. */
  detach(): void {
    for (const l of this.layers) l.layer.weightTransform = null;
    this.attached = false;
  }

  /** Whether the layers compute with the score masks. */
  get isAttached(): boolean {
    return this.attached;
  }

  /** A fixed mask set equal to the current score masks (the fine-tune stage's masks). */
  toMaskSet(): MaskSet {
    const ms = new MaskSet(this.layers);
    for (const l of this.layers) ms.setMask(l.name, noGrad(() => clone(this.mask(l.name))));
    return ms;
  }

  /** Scores as state-dict entries "<weight name>_scores" (views; do not dispose them). */
  stateDict(): StateDict {
    return new Map(this.namedScores());
  }

  /** Loads scores saved by {@link stateDict} and recomputes the masks. */
  loadStateDict(sd: StateDict): void {
    for (const [n, s] of this.namedScores()) {
      const src = sd.get(n);
      if (!src) throw new Error(`scores: "${n}" is missing from the checkpoint`);
      noGrad(() => copyFromHost(s, src.toArray() as Float32Array));
    }
    this.refresh();
  }

  /** Detaches and frees scores and masks. */
  dispose(): void {
    if (this.attached) this.detach();
    for (const t of [...this.scores.values(), ...this.masks.values()]) t.dispose();
    this.scores.clear();
    this.masks.clear();
  }
}
