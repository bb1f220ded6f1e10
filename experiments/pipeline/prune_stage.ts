/**
 * The `prune` stage: one-shot magnitude (LWM) or random pruning of the current model, or
 * HYDRA's score optimisation (Sehwag et al. 2020: scores initialised as
 * sqrt(6/fan_in)·W/max|W|, weights frozen, scores trained with the config's objective, mask =
 * layer-wise top-k of |scores| recomputed once per step). The stage leaves fixed masks in the
 * pipeline (pruned weights zeroed); a following `train` stage fine-tunes with them.
 * @module
 */

import { MaskSet, prunableLayers, prune, type Scope, ScoreSet } from "@topiary/pruning";
import {
  bool,
  choice,
  ConfigError,
  int,
  keyOf,
  list,
  num,
  opt,
  type Raw,
  str,
} from "../config/_check.ts";
import type { OptimizerConfig, ScheduleConfig } from "../config/schema.ts";
import { runTraining } from "./_train_loop.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";
import { SGD } from "@topiary/core";

/** Settings of a prune stage. */
export interface PruneSettings {
  method: "lwm" | "random" | "hydra";
  sparsity: number;
  scope: Scope;
  /** Prune among the weights the current masks keep (iterative pruning). */
  iterative: boolean;
  excludeOutput: boolean;
  /** Weight names (or module prefixes) left dense. */
  dense: string[];
  /** HYDRA: epochs of score optimisation and its SGD settings. */
  epochs: number;
  lr: number;
  momentum: number;
  weightDecay: number;
}

const KEYS = [
  "method",
  "sparsity",
  "scope",
  "iterative",
  "excludeOutput",
  "dense",
  "epochs",
  "lr",
  "momentum",
  "weightDecay",
];

function validate(raw: Raw, path: string): Record<string, unknown> {
  const method = choice(raw.method, keyOf(path, "method"), ["lwm", "random", "hydra"] as const);
  if (raw.sparsity === undefined) throw new ConfigError(keyOf(path, "sparsity"), "is required");
  const s: PruneSettings = {
    method,
    sparsity: num(raw.sparsity, keyOf(path, "sparsity"), 0, 1),
    scope: opt(
      raw,
      path,
      "scope",
      (x, p) => choice(x, p, ["layerwise", "global"] as const),
      "layerwise",
    ),
    iterative: opt(raw, path, "iterative", bool, false),
    excludeOutput: opt(raw, path, "excludeOutput", bool, false),
    dense: opt(
      raw,
      path,
      "dense",
      (x, p) => list(x, p).map((e, i) => str(e, keyOf(p, i))),
      [] as string[],
    ),
    // HYDRA's prune step (configs.yml, get_compact_net_adv_train.sh): 20 epochs of SGD,
    // lr 0.1, momentum 0.9, weight decay 1e-4, cosine schedule.
    epochs: opt(raw, path, "epochs", (x, p) => int(x, p, 1), 20),
    lr: opt(raw, path, "lr", (x, p) => num(x, p, 0), 0.1),
    momentum: opt(raw, path, "momentum", (x, p) => num(x, p, 0, 1), 0.9),
    weightDecay: opt(raw, path, "weightDecay", (x, p) => num(x, p, 0), 1e-4),
  };
  if (method !== "hydra") {
    for (const k of ["epochs", "lr", "momentum", "weightDecay"]) {
      if (raw[k] !== undefined) {
        throw new ConfigError(keyOf(path, k), `applies to method hydra only`);
      }
    }
  }
  if (method === "hydra" && s.iterative) {
    throw new ConfigError(keyOf(path, "iterative"), "does not apply to method hydra");
  }
  if (method !== "hydra") {
    const { epochs: _e, lr: _l, momentum: _m, weightDecay: _w, ...rest } = s;
    return rest;
  }
  return s as unknown as Record<string, unknown>;
}

function runPrune(ctx: StageContext): StageOutcome {
  const s = ctx.stage.settings as unknown as PruneSettings;
  const layers = prunableLayers(ctx.model, { excludeOutput: s.excludeOutput, exclude: s.dense });
  const t0 = performance.now();
  if (!ctx.pruning.denseWeights) {
    ctx.pruning.denseWeights = new Map(
      layers.map((l) => [l.name, l.weight.toArray() as Float32Array]),
    );
  }
  if (s.method !== "hydra") {
    let masks = ctx.pruning.masks;
    if (!masks || !sameLayers(masks, layers.map((l) => l.name))) {
      if (s.iterative && masks) {
        throw new Error(`${ctx.stage.name}: iterative pruning needs the same layers`);
      }
      masks?.dispose();
      masks = new MaskSet(layers);
      ctx.pruning.masks = masks;
    }
    prune(masks, {
      sparsity: s.sparsity,
      scope: s.scope,
      criterion: s.method === "lwm" ? "magnitude" : "random",
      seed: ctx.config.seed,
      iterative: s.iterative,
    });
    const report = masks.report();
    warnEmpty(ctx, report.emptyLayers);
    return {
      seconds: (performance.now() - t0) / 1000,
      summary: { method: s.method, scope: s.scope, sparsity: report as never },
    };
  }
  // HYDRA: the scores start as layer-wise magnitude pruning of the current weights.
  if (ctx.pruning.masks) ctx.pruning.masks.apply();
  const scores = new ScoreSet(layers, { sparsity: s.sparsity, scope: s.scope });
  const optimizerConfig: OptimizerConfig = {
    name: "sgd",
    lr: s.lr,
    momentum: s.momentum,
    nesterov: false,
    weightDecay: s.weightDecay,
  };
  const schedule: ScheduleConfig = {
    ...ctx.config.training.schedule,
    name: "cosine",
    warmupEpochs: 0,
  };
  const optimizer = new SGD(scores.namedScores(), {
    lr: s.lr,
    momentum: s.momentum,
    weightDecay: s.weightDecay,
  });
  try {
    scores.attach();
    const out = runTraining(ctx, {
      label: ctx.stage.name,
      epochs: s.epochs,
      optimizer,
      optimizerConfig,
      schedule,
      extra: scores,
      beforeStep: () => scores.refresh(),
      warmup: false,
    });
    scores.refresh();
    scores.detach();
    ctx.pruning.masks?.dispose();
    const masks = scores.toMaskSet();
    masks.apply();
    ctx.pruning.masks = masks;
    const report = masks.report();
    warnEmpty(ctx, report.emptyLayers);
    return {
      seconds: out.seconds,
      summary: { ...out.summary, method: "hydra", scope: s.scope, sparsity: report as never },
    };
  } finally {
    optimizer.dispose();
    scores.dispose();
  }
}

function sameLayers(m: MaskSet, names: string[]): boolean {
  return m.layers.length === names.length && m.layers.every((l, i) => l.name === names[i]);
}

function warnEmpty(ctx: StageContext, empty: string[]): void {
  if (empty.length && !ctx.quiet) {
    console.warn(
      `${ctx.stage.name}: warning: ${empty.join(", ")} pruned to zero weights (global scope); ` +
        `the network is cut there`,
    );
  }
}

/** The prune stage's definition. */
export const pruneStage: StageDefinition = {
  kind: "prune",
  summary: "prune the model: method lwm (least weight magnitude) | random | hydra (score " +
    "optimisation), to `sparsity`, scope layerwise | global; later train stages fine-tune",
  keys: KEYS,
  validate,
  run: runPrune,
};
