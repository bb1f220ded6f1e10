/**
 * The `train` stage: trains the model with the config's objective, optimizer and schedule
 * (see `_train_loop.ts` for validation and checkpoints). After a pruning stage it is the
 * fine-tune: the current masks go to the optimizer, so pruned weights stay exactly zero.
 * With `gradual`, it prunes while training (Zhu & Gupta 2017): every `every` steps from epoch
 * `start` for `count` prunings, magnitude pruning among the kept weights to the cubic schedule
 * s_t = s_f + (s_i − s_f)(1 − (t − t₀)/(nΔt))³; the masks are checkpointed with the model.
 * @module
 */

import { gradualSparsity, MaskSet, prunableLayers, prune, type Scope } from "@topiary/pruning";
import {
  bool,
  choice,
  ConfigError,
  int,
  isMapping,
  keyOf,
  list,
  mapping,
  num,
  opt,
  type Raw,
  str,
} from "../config/_check.ts";
import { buildOptimizer } from "./build.ts";
import { runTraining } from "./_train_loop.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";

/** Gradual pruning settings of a train stage. */
export interface GradualSettings {
  /** Final sparsity s_f (the initial s_i is 0, or the current masks' sparsity). */
  sparsity: number;
  scope: Scope;
  /** First pruning epoch t₀ (in epochs of this stage). */
  start: number;
  /** Steps between prunings Δt. */
  every: number;
  /** Number of prunings n. */
  count: number;
  excludeOutput: boolean;
  dense: string[];
}

function validateGradual(v: unknown, path: string): GradualSettings {
  const m = mapping(v, path, [
    "sparsity",
    "scope",
    "start",
    "every",
    "count",
    "excludeOutput",
    "dense",
  ]);
  if (m.sparsity === undefined) throw new ConfigError(keyOf(path, "sparsity"), "is required");
  return {
    sparsity: num(m.sparsity, keyOf(path, "sparsity"), 0, 1),
    scope: opt(
      m,
      path,
      "scope",
      (x, p) => choice(x, p, ["global", "layerwise"] as const),
      "layerwise",
    ),
    start: opt(m, path, "start", (x, p) => int(x, p, 0), 0),
    every: opt(m, path, "every", (x, p) => int(x, p, 1), 100),
    count: opt(m, path, "count", (x, p) => int(x, p, 1), 10),
    excludeOutput: opt(m, path, "excludeOutput", bool, false),
    dense: opt(
      m,
      path,
      "dense",
      (x, p) => list(x, p).map((e, i) => str(e, keyOf(p, i))),
      [] as string[],
    ),
  };
}

function runTrain(ctx: StageContext): StageOutcome {
  const { config: cfg, model, stage } = ctx;
  const t = cfg.training;
  const epochs = (stage.settings.epochs as number | undefined) ?? t.epochs;
  const lr = (stage.settings.lr as number | undefined) ?? t.optimizer.lr;
  const gradual = stage.settings.gradual as GradualSettings | undefined;
  const optimizerConfig = { ...t.optimizer, lr };
  const optimizer = buildOptimizer(optimizerConfig, model);
  if (gradual && !ctx.pruning.masks) {
    ctx.pruning.masks = new MaskSet(
      prunableLayers(model, { excludeOutput: gradual.excludeOutput, exclude: gradual.dense }),
    );
  }
  const masks = ctx.pruning.masks;
  try {
    if (masks) {
      masks.apply();
      masks.attach(optimizer);
    }
    const spe = Math.ceil(ctx.data.train.length / t.batchSize);
    const initial = masks ? masks.report().sparsity : 0;
    const schedule = gradual
      ? {
        initial,
        final: gradual.sparsity,
        start: gradual.start * spe,
        every: gradual.every,
        count: gradual.count,
      }
      : null;
    if (schedule && schedule.start + schedule.count * schedule.every > epochs * spe) {
      throw new Error(
        `${stage.name}: gradual pruning ends at step ${
          schedule.start + schedule.count * schedule.every
        }, ` +
          `after the stage's ${epochs * spe} steps; lower start, every or count`,
      );
    }
    // Warm-ups only when training from scratch: no earlier stage produced weights.
    const out = runTraining(ctx, {
      label: stage.name,
      epochs,
      optimizer,
      optimizerConfig,
      schedule: t.schedule,
      warmup: ctx.index === 0,
      extra: gradual ? masks! : undefined,
      afterStep: schedule
        ? (next) => {
          const k = next.step - schedule.start;
          if (k < 0 || k % schedule.every !== 0 || k > schedule.count * schedule.every) return;
          prune(masks!, {
            sparsity: gradualSparsity(next.step, schedule),
            scope: gradual!.scope,
            criterion: "magnitude",
            iterative: true,
          });
          masks!.attach(optimizer);
        }
        : undefined,
    });
    if (masks) out.summary.sparsity = masks.report() as unknown as typeof out.summary.sparsity;
    if (gradual) out.summary.method = "gradual";
    return out;
  } finally {
    optimizer.dispose();
  }
}

/** The train stage's definition. */
export const trainStage: StageDefinition = {
  kind: "train",
  summary: "train the model (config.training; `epochs` and `lr` override the config's); after " +
    "a prune stage this is the fine-tune, with the masks fixed; `gradual` prunes while training",
  keys: ["epochs", "lr", "gradual"],
  prunes: (s) => s.gradual !== undefined,
  validate(raw: Raw, path: string) {
    if (raw.gradual !== undefined && !isMapping(raw.gradual)) {
      throw new ConfigError(keyOf(path, "gradual"), "must be a mapping");
    }
    return {
      epochs: opt(raw, path, "epochs", (x, p) => int(x, p, 1), undefined),
      lr: opt(raw, path, "lr", (x, p) => num(x, p, 0), undefined),
      gradual: raw.gradual === undefined
        ? undefined
        : validateGradual(raw.gradual, keyOf(path, "gradual")),
    };
  },
  run: runTrain,
};
