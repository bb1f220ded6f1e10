/**
 * The `admm` stage: robust ADMM pruning (Ye et al. 2019, "Adversarial robustness vs. model
 * compression, or both?"; yeshaokai/Robustness-Aware-Pruning-ADMM). The weights train with
 * the config's objective plus ρ/2 Σ‖W − Z + U‖²; at the start of every `every`-th epoch
 * (not the first) ρ grows by `rhoMultiplier`, then Z ← Π(W + U) and U ← U + W − Z, Π keeping
 * each layer's largest-norm weights, filters or columns. The learning rate restarts at `lr`
 * in every ADMM period and drops ×0.1 after each third of it (the reference's
 * `admm_adjust_learning_rate`). At the end the weights are hard-pruned by the same projection
 * and the masks stay in the pipeline: a following `train` stage is the masked retraining.
 * Z and U are checkpointed with the model; ρ and the rate follow from the position.
 * @module
 */

import type { Position, Schedule } from "@topiary/core";
import { Admm, hardPrune, sparsityProjection, type Structure, STRUCTURES } from "@topiary/pruning";
import {
  choice,
  ConfigError,
  fractionBelowOne,
  int,
  keyOf,
  num,
  opt,
  type Raw,
} from "../config/_check.ts";
import { buildOptimizer } from "./build.ts";
import { LAYER_KEYS, type LayerSettings, stageLayers, validateLayers } from "./_layers.ts";
import { runTraining } from "./_train_loop.ts";
import { fineTuneObjective, withAdmmPenalty } from "./_penalty.ts";
import { exists } from "../run/folder.ts";
import { join } from "node:path";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";

/** Settings of an admm stage. */
export interface AdmmSettings extends LayerSettings {
  sparsity: number;
  structure: Structure;
  /** Epochs of the stage (default: the config's). */
  epochs: number | null;
  /** Rate at the start of every ADMM period. */
  lr: number;
  /** Epochs between Z/U updates (the reference's `admm_epoch`). */
  every: number;
  /** Initial ρ and its factor at every update (`multi_rho`). */
  rho: number;
  rhoMultiplier: number;
  /** "config": the config's optimizer; "sgd": SGD, momentum 0.9, the config's weight decay. */
  optimizer: "config" | "sgd";
}

const KEYS = [
  "sparsity",
  "structure",
  "epochs",
  "lr",
  "every",
  "rho",
  "rhoMultiplier",
  "optimizer",
  ...LAYER_KEYS,
];

function validate(raw: Raw, path: string): Record<string, unknown> {
  if (raw.sparsity === undefined) throw new ConfigError(keyOf(path, "sparsity"), "is required");
  const s: AdmmSettings = {
    sparsity: fractionBelowOne(raw.sparsity, keyOf(path, "sparsity")),
    structure: opt(raw, path, "structure", (x, p) => choice(x, p, STRUCTURES), "irregular"),
    epochs: opt(raw, path, "epochs", (x, p) => int(x, p, 1), null as number | null),
    // The reference's ADMM stage (MNIST and CIFAR-10): SGD at 0.01, ρ 0.001 × 1.3 per update.
    lr: opt(raw, path, "lr", (x, p) => num(x, p, 0), 0.01),
    every: opt(raw, path, "every", (x, p) => int(x, p, 1), 4),
    rho: opt(raw, path, "rho", (x, p) => num(x, p, 0), 0.001),
    rhoMultiplier: opt(raw, path, "rhoMultiplier", (x, p) => num(x, p, 1), 1.3),
    // The reference trains its ADMM stage with SGD even where pre- and retraining use Adam.
    optimizer: opt(
      raw,
      path,
      "optimizer",
      (x, p) => choice(x, p, ["config", "sgd"] as const),
      "config",
    ),
    ...validateLayers(raw, path),
  };
  return s as unknown as Record<string, unknown>;
}

/** One Z/U update: its epoch, ρ and relative residuals. */
interface AdmmUpdate {
  epoch: number;
  rho: number;
  primal: number;
  dual: number;
  [key: string]: number;
}

/** ρ during `epoch`: grown once per update so far. */
export function admmRho(s: AdmmSettings, epoch: number): number {
  return s.rho * s.rhoMultiplier ** Math.floor(epoch / s.every);
}

/** The reference's periodic rate: lr · 0.1^floor(offset / (every / 3)) within each period. */
export function admmLr(s: AdmmSettings, stepsPerEpoch: number): Schedule {
  return (step) => {
    const offset = Math.floor(step / stepsPerEpoch) % s.every;
    return s.lr * 0.1 ** Math.floor(offset / (s.every / 3));
  };
}

function runAdmm(ctx: StageContext): StageOutcome {
  const s = ctx.stage.settings as unknown as AdmmSettings;
  const { config: cfg, model } = ctx;
  const t = cfg.training;
  if (ctx.pruning.masks) {
    throw new Error(
      `${ctx.stage.name}: the model is already pruned; ADMM starts from a dense model`,
    );
  }
  const layers = stageLayers(ctx, s);
  const epochs = s.epochs ?? t.epochs;
  const spe = Math.ceil(ctx.data.train.length / t.batchSize);
  const projection = { sparsity: s.sparsity, structure: s.structure };
  // Residual log, kept beside the state (an update redone after a resume replaces its entry).
  const logPath = join(ctx.folder.dir, `admm-${ctx.stage.name}.json`);
  let residuals: AdmmUpdate[] = exists(logPath)
    ? ctx.folder.readJson<AdmmUpdate[]>(logPath, "ADMM log")
    : [];
  const optimizerConfig = s.optimizer === "sgd"
    ? { ...t.optimizer, name: "sgd" as const, lr: s.lr, momentum: 0.9, nesterov: false }
    : { ...t.optimizer, lr: s.lr };
  const owned: { dispose(): void }[] = [];
  try {
    const admm = new Admm(layers, sparsityProjection(projection));
    owned.push(admm);
    const optimizer = buildOptimizer(optimizerConfig, model);
    owned.push(optimizer);
    const inner = fineTuneObjective(cfg, spe);
    const out = runTraining(ctx, {
      label: ctx.stage.name,
      epochs,
      optimizer,
      optimizerConfig,
      schedule: t.schedule,
      lrSchedule: admmLr(s, spe),
      objective: withAdmmPenalty(inner, admm, (pos) => admmRho(s, pos.epoch), "admm", {
        rho: s.rho,
        rhoMultiplier: s.rhoMultiplier,
      }),
      extra: admm,
      warmup: false,
      beforeStep: (here: Position) => {
        if (here.batch !== 0 || here.epoch === 0 || here.epoch % s.every !== 0) return;
        const r = admm.update();
        residuals = residuals.filter((u) => u.epoch !== here.epoch);
        residuals.push({ epoch: here.epoch, rho: admmRho(s, here.epoch), ...r });
        ctx.folder.writeJson(logPath, residuals);
        if (!ctx.quiet) {
          console.log(
            `${ctx.stage.name}: ADMM update at epoch ${here.epoch}: ρ ${
              admmRho(s, here.epoch).toExponential(3)
            }, ‖W−Z‖²/‖W‖² ${r.primal.toExponential(3)}`,
          );
        }
      },
    });
    const before = admm.primalResidual();
    const masks = hardPrune(layers, projection);
    ctx.pruning.masks = masks;
    return {
      seconds: out.seconds,
      summary: {
        ...out.summary,
        method: "admm",
        structure: s.structure,
        updates: residuals,
        primalResidualAtHardPrune: before,
        sparsity: masks.report() as never,
      },
    };
  } finally {
    for (const o of owned.reverse()) o.dispose();
  }
}

/** The admm stage's definition. */
export const admmStage: StageDefinition = {
  kind: "admm",
  summary: "ADMM pruning (Ye et al. 2019): train with ρ/2‖W−Z+U‖², Z = projection onto " +
    "`sparsity` (structure irregular | filter | column), then hard-prune; a following train " +
    "stage retrains with the masks",
  keys: KEYS,
  prunes: () => true,
  validate,
  run: runAdmm,
};
