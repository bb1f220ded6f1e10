/**
 * The `nm` stage: N:M structured masks (2:4 by default; `pruneNm`): in every group of M
 * consecutive weights along a layer's input dimension (C·R·S, or the input features), the N
 * largest by magnitude are kept. Layers whose input size M does not divide stay dense and are
 * listed in the summary. The masks stay in the pipeline: a following `train` stage fine-tunes
 * with them fixed, and the linear layers can run in the compressed 2:4 layout at inference.
 * @module
 */

import { MaskSet, pruneNm } from "@topiary/pruning";
import { ConfigError, int, keyOf, opt, type Raw } from "../config/_check.ts";
import { LAYER_KEYS, type LayerSettings, stageLayers, validateLayers } from "./_layers.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";

/** Settings of an nm stage. */
export interface NmSettings extends LayerSettings {
  n: number;
  m: number;
}

function validate(raw: Raw, path: string): Record<string, unknown> {
  const s: NmSettings = {
    n: opt(raw, path, "n", (x, p) => int(x, p, 1), 2),
    m: opt(raw, path, "m", (x, p) => int(x, p, 1), 4),
    ...validateLayers(raw, path),
  };
  if (s.n >= s.m) throw new ConfigError(keyOf(path, "n"), `must be below m (${s.m}), got ${s.n}`);
  return s as unknown as Record<string, unknown>;
}

function runNm(ctx: StageContext): StageOutcome {
  const s = ctx.stage.settings as unknown as NmSettings;
  if (ctx.pruning.masks) {
    throw new Error(`${ctx.stage.name}: N:M masks start from a dense model; it is already pruned`);
  }
  const t0 = performance.now();
  const masks = new MaskSet(stageLayers(ctx, s));
  ctx.pruning.masks = masks;
  const r = pruneNm(masks, { n: s.n, m: s.m });
  return {
    seconds: (performance.now() - t0) / 1000,
    summary: {
      method: `${s.n}:${s.m}`,
      pruned: r.pruned,
      leftDense: r.dense.map((d) => ({ name: d.name, inputSize: d.inputSize })),
      sparsity: masks.report() as never,
    },
  };
}

/** The nm stage's definition. */
export const nmStage: StageDefinition = {
  kind: "nm",
  summary: "N:M masks (`n` of every `m` weights along the input dimension, default 2:4); " +
    "layers m does not divide stay dense and are listed",
  keys: ["n", "m", ...LAYER_KEYS],
  validate,
  run: runNm,
  prunes: () => true,
};
