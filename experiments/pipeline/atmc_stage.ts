/**
 * The `atmc` stage: ATMC (Gui et al. 2019, "Model compression with adversarial robustness: a
 * unified optimization framework"; VITA-Group/ATMC). The weights train with the config's
 * objective (ATMC's own is `mixed` with weight 0.5: half clean, half adversarial
 * cross-entropy); after every optimizer step they are projected onto the global l0 ball (the
 * `keptCount` largest |w| over all pruned layers survive, the rest become exactly zero; pruned
 * weights may come back at the next step, as in the reference). With `bits`, quantization is
 * enforced by ADMM: the loss gains ρ/2 Σ‖W − Z + U‖² (constant ρ) and every `quantEvery`
 * steps Z ← Q(W + U), U ← U + W − Z, Q being per-layer k-means onto 2^bits centres plus a
 * fixed zero. At the end the weights are projected once more and quantized with Q, so the
 * model the stage leaves is both sparse and quantized (the reference deploys Z, which is not
 * l0-projected: a listed deviation). The summary gives the model size in bits.
 * @module
 */

import type { Position } from "@topiary/core";
import {
  Admm,
  MaskSet,
  modelSizeBits,
  prune,
  quantizeKmeans,
  quantizeProjection,
} from "@topiary/pruning";
import { copyFromHost, noGrad } from "@topiary/core";
import { ConfigError, fractionBelowOne, int, keyOf, num, opt, type Raw } from "../config/_check.ts";
import { buildOptimizer } from "./build.ts";
import { LAYER_KEYS, type LayerSettings, stageLayers, validateLayers } from "./_layers.ts";
import { runTraining } from "./_train_loop.ts";
import { fineTuneObjective, withAdmmPenalty } from "./_penalty.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";

/** Settings of an atmc stage. */
export interface AtmcSettings extends LayerSettings {
  /** Fraction of all pruned layers' weights removed (one global budget). */
  sparsity: number;
  /** Quantization bits (null: l0 projection only, ATMC's pruning stage). */
  bits: number | null;
  rho: number;
  /** Steps between Z/U updates (the reference's `quant_interval`). */
  quantEvery: number;
  epochs: number | null;
  lr: number | null;
}

const KEYS = ["sparsity", "bits", "rho", "quantEvery", "epochs", "lr", ...LAYER_KEYS];

function validate(raw: Raw, path: string): Record<string, unknown> {
  if (raw.sparsity === undefined) throw new ConfigError(keyOf(path, "sparsity"), "is required");
  const s: AtmcSettings = {
    sparsity: fractionBelowOne(raw.sparsity, keyOf(path, "sparsity")),
    bits: opt(raw, path, "bits", (x, p) => int(x, p, 1, 16), null as number | null),
    // The reference: ρ = 0.1 (constant), quantization every 10 batches (README).
    rho: opt(raw, path, "rho", (x, p) => num(x, p, 0), 0.1),
    quantEvery: opt(raw, path, "quantEvery", (x, p) => int(x, p, 1), 10),
    epochs: opt(raw, path, "epochs", (x, p) => int(x, p, 1), null as number | null),
    lr: opt(raw, path, "lr", (x, p) => num(x, p, 0), null as number | null),
    ...validateLayers(raw, path),
  };
  if (s.bits === null) {
    for (const k of ["rho", "quantEvery"]) {
      if (raw[k] !== undefined) throw new ConfigError(keyOf(path, k), "applies with `bits` only");
    }
  }
  return s as unknown as Record<string, unknown>;
}

function runAtmc(ctx: StageContext): StageOutcome {
  const s = ctx.stage.settings as unknown as AtmcSettings;
  const { config: cfg, model } = ctx;
  const t = cfg.training;
  const layers = stageLayers(ctx, s);
  const epochs = s.epochs ?? t.epochs;
  const spe = Math.ceil(ctx.data.train.length / t.batchSize);
  // The l0 projection's workspace: masks recomputed from |W| after every step, never handed
  // to the optimizer (ATMC lets pruned weights return).
  const optimizerConfig = { ...t.optimizer, lr: s.lr ?? t.optimizer.lr };
  const owned: { dispose(): void }[] = [];
  try {
    const l0 = new MaskSet(layers);
    owned.push(l0);
    const project = () =>
      prune(l0, { sparsity: s.sparsity, scope: "global", criterion: "magnitude" });
    noGrad(project);
    const admm = s.bits === null ? null : new Admm(layers, quantizeProjection(s.bits));
    if (admm) owned.push(admm);
    const optimizer = buildOptimizer(optimizerConfig, model);
    owned.push(optimizer);
    const inner = fineTuneObjective(cfg, spe);
    const out = runTraining(ctx, {
      label: ctx.stage.name,
      epochs,
      optimizer,
      optimizerConfig,
      schedule: t.schedule,
      objective: admm ? withAdmmPenalty(inner, admm, () => s.rho, "atmc", { rho: s.rho }) : inner,
      extra: admm ?? undefined,
      warmup: false,
      afterStep: (next: Position) => {
        noGrad(project);
        if (admm && next.step % s.quantEvery === 0) admm.update();
      },
    });
    // How far the trained weights are from the codebook, before the final projection.
    const residual = admm ? admm.primalResidual() : null;
    noGrad(project);
    const quantized = s.bits === null ? null : quantizeLayers(layers, s.bits);
    ctx.pruning.masks?.dispose();
    const masks = MaskSet.fromWeights(layers);
    ctx.pruning.masks = masks;
    const report = masks.report();
    const bits = s.bits ?? 32;
    const size = modelSizeBits(
      report.layers.map((l, i) => ({
        size: l.total,
        nonZeros: l.kept,
        centres: quantized ? quantized[i] : 0,
      })),
      bits,
    );
    return {
      seconds: out.seconds,
      summary: {
        ...out.summary,
        method: "atmc",
        bits,
        sparsity: report as never,
        modelSizeBits: size,
        denseSizeBits: 32 * report.total,
        primalResidualBeforeQuantization: residual,
        centres: quantized,
      },
    };
  } finally {
    for (const o of owned.reverse()) o.dispose();
  }
}

/** Replaces each layer's weights by their k-means code; returns the centres per layer. */
function quantizeLayers(
  layers: ReturnType<typeof stageLayers>,
  bits: number,
): number[] {
  return layers.map((l) => {
    const q = quantizeKmeans(l.weight.toArray() as Float32Array, bits);
    noGrad(() => copyFromHost(l.weight, q.values));
    return q.centres.length;
  });
}

/** The atmc stage's definition. */
export const atmcStage: StageDefinition = {
  kind: "atmc",
  summary: "ATMC (Gui et al. 2019): global l0 projection after every step to `sparsity`; with " +
    "`bits`, k-means quantization (2^bits centres + zero) enforced by ADMM",
  keys: KEYS,
  prunes: () => true,
  validate,
  run: runAtmc,
};
