/**
 * The prunable-layer settings every pruning stage shares: `excludeOutput` (leave the
 * classifier dense) and `dense` (weight names or module prefixes left dense), and the dense
 * weights recorded before the first pruning stage (the dense side of the histograms).
 * @module
 */

import { type PrunableLayer, prunableLayers } from "@topiary/pruning";
import { bool, keyOf, list, opt, type Raw, str } from "../config/_check.ts";
import type { StageContext } from "./stage.ts";

/** Which layers a pruning stage prunes. */
export interface LayerSettings {
  excludeOutput: boolean;
  /** Weight names (or module prefixes) left dense. */
  dense: string[];
}

/** The config keys of {@link LayerSettings}. */
export const LAYER_KEYS = ["excludeOutput", "dense"] as const;

/** Reads `excludeOutput` and `dense` of a stage. */
export function validateLayers(raw: Raw, path: string): LayerSettings {
  return {
    excludeOutput: opt(raw, path, "excludeOutput", bool, false),
    dense: opt(
      raw,
      path,
      "dense",
      (x, p) => list(x, p).map((e, i) => str(e, keyOf(p, i))),
      [] as string[],
    ),
  };
}

/** The stage's prunable layers; records the dense weights if no stage pruned before. */
export function stageLayers(ctx: StageContext, s: LayerSettings): PrunableLayer[] {
  const layers = prunableLayers(ctx.model, { excludeOutput: s.excludeOutput, exclude: s.dense });
  if (!ctx.pruning.denseWeights) {
    ctx.pruning.denseWeights = new Map(
      layers.map((l) => [l.name, l.weight.toArray() as Float32Array]),
    );
  }
  return layers;
}
