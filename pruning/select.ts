/**
 * Mask selection by score: least-weight-magnitude (LWM) and random pruning, per layer or
 * globally, optionally only among the weights a current mask still keeps (iterative pruning:
 * pruned weights stay pruned). Keeps exactly n − floor(sparsity · n) weights per scope; ties
 * go to the lower index (core's `topkMasks`).
 * @module
 */

import {
  abs,
  add,
  keptCount,
  mul,
  sub,
  type Tensor,
  tidy,
  topkMasks,
  uniform,
} from "@topiary/core";
import type { MaskSet, Scope } from "./masks.ts";
import type { PrunableLayer } from "./prunable.ts";

/** How a selection scores weights. */
export type Criterion = "magnitude" | "random";

/** Options of {@link selectMasks}. */
export interface SelectOptions {
  /** Fraction of each scope's weights to remove, in [0, 1]. */
  sparsity: number;
  scope: Scope;
  /** "magnitude" (|w|, LWM) or "random". */
  criterion: Criterion;
  /** Seed of the random scores. */
  seed?: number;
  /** Select only among the weights this mask set keeps (they are the candidates). */
  within?: MaskSet;
  /**
   * Layer-wise only: a sparsity per weight name overriding `sparsity` (the lottery ticket
   * paper's per-layer rates).
   */
  perLayer?: Readonly<Record<string, number>>;
  /**
   * Exact kept counts instead of sparsities: one number (global scope) or one per weight name
   * (layerwise), e.g. open_lth's floor(rate · remaining) rounds.
   */
  keep?: number | Readonly<Record<string, number>>;
}

function checkSparsity(s: number, what: string): void {
  if (!(s >= 0 && s <= 1)) throw new Error(`${what} must be in [0, 1], got ${s}`);
}

/** Scores of a layer: higher is kept; excluded candidates score -1 (below any kept one). */
function scores(l: PrunableLayer, i: number, o: SelectOptions): Tensor {
  return tidy(() => {
    const s = o.criterion === "magnitude"
      ? abs(l.weight)
      : uniform(l.weight.shape, { seed: o.seed ?? 0, stream: `random-mask:${l.name}`, counter: i });
    if (!o.within) return s;
    const m = o.within.mask(l.name);
    // s ⊙ m + (m − 1): kept candidates keep s >= 0, already-pruned weights get -1.
    return add(mul(s, m), sub(m, 1));
  });
}

/**
 * New 0/1 masks (one per layer, owned by the caller) removing `sparsity` of the weights of
 * each scope (of all prunable weights, not of the remaining ones).
 */
export function selectMasks(layers: readonly PrunableLayer[], o: SelectOptions): Tensor[] {
  checkSparsity(o.sparsity, "sparsity");
  if (o.perLayer && o.scope !== "layerwise") {
    throw new Error("per-layer sparsities need the layerwise scope");
  }
  const s = layers.map((l, i) => scores(l, i, o));
  // Kept counts of the current masks, counted once (iterative pruning only shrinks them).
  const have = o.within ? new Map(o.within.report().layers.map((l) => [l.name, l.kept])) : null;
  try {
    if (o.scope === "global") {
      const total = layers.reduce((n, l) => n + l.weight.size, 0);
      const keep = typeof o.keep === "number" ? o.keep : keptCount(total, o.sparsity);
      checkWithin(layers, have, o.sparsity, keep, "all prunable layers");
      return topkMasks(s, keep, { useAbs: false });
    }
    return layers.map((l, i) => {
      const sp = o.perLayer?.[l.name] ?? o.sparsity;
      checkSparsity(sp, `sparsity of ${l.name}`);
      const given = typeof o.keep === "object" ? o.keep[l.name] : undefined;
      const keep = given ?? keptCount(l.weight.size, sp);
      checkWithin([l], have, sp, keep, l.name);
      return topkMasks([s[i]], keep, { useAbs: false })[0];
    });
  } finally {
    for (const t of s) t.dispose();
  }
}

/** Iterative pruning never revives a pruned weight: the target must keep at most the current. */
function checkWithin(
  layers: readonly PrunableLayer[],
  have: Map<string, number> | null,
  sparsity: number,
  keep: number,
  what: string,
) {
  if (!have) return;
  const left = layers.reduce((n, l) => n + (have.get(l.name) ?? 0), 0);
  if (keep > left) {
    throw new Error(
      `cannot prune ${what} to sparsity ${sparsity}: that keeps ${keep} weights but only ` +
        `${left} are left (masks only shrink)`,
    );
  }
}

/** Prunes a mask set in place: new masks from {@link selectMasks}, applied to the weights. */
export function prune(
  masks: MaskSet,
  o: Omit<SelectOptions, "within"> & { iterative?: boolean },
): void {
  const next = selectMasks(masks.layers, { ...o, within: o.iterative ? masks : undefined });
  masks.layers.forEach((l, i) => masks.setMask(l.name, next[i]));
  masks.apply();
}
