/**
 * The `prune` stage: one-shot magnitude (LWM) or random pruning of the current model, or score
 * optimisation with the weights frozen: HYDRA (Sehwag et al. 2020: scores initialised as
 * sqrt(6/fan_in)·W/max|W| from the pretrained weights) or edge-popup (Ramanujan et al. 2020:
 * the weights redrawn at random, `randomizeForEdgePopup`, scores kaiming-uniform). Scores train
 * with the config's objective, clean or adversarial; mask = layer-wise top-k of |scores|,
 * recomputed once per step. The stage leaves fixed masks in the pipeline (pruned weights
 * zeroed); a following `train` stage fine-tunes with them (edge-popup's subnetwork is used as
 * it is: no fine-tuning).
 * @module
 */

import {
  type EdgePopupBiases,
  type EdgePopupInit,
  MaskSet,
  prunableLayers,
  prune,
  randomizeForEdgePopup,
  type Scope,
  ScoreSet,
} from "@topiary/pruning";
import {
  bool,
  choice,
  ConfigError,
  fractionBelowOne,
  int,
  keyOf,
  num,
  opt,
  type Raw,
} from "../config/_check.ts";
import { LAYER_KEYS, type LayerSettings, stageLayers, validateLayers } from "./_layers.ts";
import type { OptimizerConfig, ScheduleConfig } from "../config/schema.ts";
import { runTraining } from "./_train_loop.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";
import { type Classifier, SGD } from "@topiary/core";

/** Pruning methods of the stage. */
export const PRUNE_METHODS = ["lwm", "random", "hydra", "edgepopup"] as const;

/** Settings of a prune stage. */
export interface PruneSettings extends LayerSettings {
  method: typeof PRUNE_METHODS[number];
  sparsity: number;
  scope: Scope;
  /** Prune among the weights the current masks keep (iterative pruning). */
  iterative: boolean;
  /** Score methods: epochs of score optimisation and its SGD settings. */
  epochs: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Edge-popup: the random weights and whether the fan is scaled by the kept fraction. */
  init: EdgePopupInit;
  scaleFan: boolean;
  /**
   * Edge-popup: the frozen biases, zero (the reference; left out of the stored settings, so
   * runs written before this setting existed keep the same config) or a uniform random draw.
   */
  biases?: EdgePopupBiases;
}

const SCORE_KEYS = ["epochs", "lr", "momentum", "weightDecay"];
const EDGE_POPUP_KEYS = ["init", "scaleFan", "biases"];
const KEYS = [
  "method",
  "sparsity",
  "scope",
  "iterative",
  ...LAYER_KEYS,
  ...SCORE_KEYS,
  ...EDGE_POPUP_KEYS,
];

function validate(raw: Raw, path: string): Record<string, unknown> {
  const method = choice(raw.method, keyOf(path, "method"), PRUNE_METHODS);
  if (raw.sparsity === undefined) throw new ConfigError(keyOf(path, "sparsity"), "is required");
  const scores = method === "hydra" || method === "edgepopup";
  const ep = method === "edgepopup";
  const s: PruneSettings = {
    method,
    sparsity: ep
      ? fractionBelowOne(raw.sparsity, keyOf(path, "sparsity"))
      : num(raw.sparsity, keyOf(path, "sparsity"), 0, 1),
    scope: opt(
      raw,
      path,
      "scope",
      (x, p) => choice(x, p, ["layerwise", "global"] as const),
      "layerwise",
    ),
    iterative: opt(raw, path, "iterative", bool, false),
    ...validateLayers(raw, path),
    // HYDRA's prune step (configs.yml, get_compact_net_adv_train.sh): 20 epochs of SGD,
    // lr 0.1, momentum 0.9, weight decay 1e-4, cosine schedule. Edge-popup's CIFAR conv
    // configs (hidden-networks, *_usc_unsigned.yml): 100 epochs, the same SGD settings.
    epochs: opt(raw, path, "epochs", (x, p) => int(x, p, 1), ep ? 100 : 20),
    lr: opt(raw, path, "lr", (x, p) => num(x, p, 0), 0.1),
    momentum: opt(raw, path, "momentum", (x, p) => num(x, p, 0, 1), 0.9),
    weightDecay: opt(raw, path, "weightDecay", (x, p) => num(x, p, 0), 1e-4),
    init: opt(
      raw,
      path,
      "init",
      (x, p) => choice(x, p, ["signed_constant", "kaiming_normal"] as const),
      "signed_constant",
    ),
    // The paper scales the fan by the kept fraction (its best "scaled" variants).
    scaleFan: opt(raw, path, "scaleFan", bool, true),
    biases: opt(raw, path, "biases", (x, p) => choice(x, p, ["zero", "uniform"] as const), "zero"),
  };
  const refuse = (keys: string[], why: string) => {
    for (const k of keys) if (raw[k] !== undefined) throw new ConfigError(keyOf(path, k), why);
  };
  if (!scores) refuse(SCORE_KEYS, "applies to methods hydra and edgepopup only");
  if (!ep) refuse(EDGE_POPUP_KEYS, "applies to method edgepopup only");
  if (ep && s.scope !== "layerwise") {
    // The fan scaling and the reference use each layer's own kept fraction.
    throw new ConfigError(keyOf(path, "scope"), "must be layerwise for method edgepopup");
  }
  if (scores && s.iterative) {
    throw new ConfigError(keyOf(path, "iterative"), `does not apply to method ${method}`);
  }
  const {
    epochs: _e,
    lr: _l,
    momentum: _m,
    weightDecay: _w,
    init: _i,
    scaleFan: _f,
    biases: _b,
    ...rest
  } = s;
  if (ep) {
    if (s.biases === "zero") delete s.biases;
    return s as unknown as Record<string, unknown>;
  }
  if (scores) {
    return {
      ...rest,
      epochs: s.epochs,
      lr: s.lr,
      momentum: s.momentum,
      weightDecay: s.weightDecay,
    };
  }
  return rest;
}

function runPrune(ctx: StageContext): StageOutcome {
  const s = ctx.stage.settings as unknown as PruneSettings;
  const t0 = performance.now();
  if (s.method === "edgepopup") {
    if (ctx.pruning.masks) {
      throw new Error(
        `${ctx.stage.name}: edge-popup searches a dense random network; ` +
          `the model is already pruned`,
      );
    }
  }
  const layers = stageLayers(ctx, s);
  if (s.method !== "hydra" && s.method !== "edgepopup") {
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
  // Edge-popup: the weights are redrawn (from the seed: a resumed stage redraws the same).
  if (ctx.pruning.masks) ctx.pruning.masks.apply();
  const random = s.method === "edgepopup"
    ? randomizeForEdgePopup(ctx.model, layers, {
      sparsity: s.sparsity,
      init: s.init,
      scaleFan: s.scaleFan,
      biases: s.biases,
      seed: ctx.config.seed,
    })
    : null;
  const scores = new ScoreSet(layers, {
    sparsity: s.sparsity,
    scope: s.scope,
    init: random ? "kaiming_uniform" : "hydra",
    seed: ctx.config.seed,
  });
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
      // Edge-popup trains from a random network: the eps warm-up applies as from scratch.
      warmup: s.method === "edgepopup",
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
      summary: {
        ...out.summary,
        method: s.method,
        scope: s.scope,
        sparsity: report as never,
        randomWeights: random as never,
      },
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

/** Edge-popup's random network (deterministic from the seed; run before the dense snapshot). */
function prepare(model: Classifier, settings: Record<string, unknown>, seed: number): void {
  const s = settings as unknown as PruneSettings;
  if (s.method !== "edgepopup") return;
  randomizeForEdgePopup(
    model,
    prunableLayers(model, { excludeOutput: s.excludeOutput, exclude: s.dense }),
    { sparsity: s.sparsity, init: s.init, scaleFan: s.scaleFan, biases: s.biases, seed },
  );
}

/** The prune stage's definition. */
export const pruneStage: StageDefinition = {
  kind: "prune",
  summary: "prune the model: method lwm (least weight magnitude) | random | hydra (score " +
    "optimisation) | edgepopup (scores on random weights), to `sparsity`, scope layerwise | " +
    "global; later train stages fine-tune",
  keys: KEYS,
  prunes: () => true,
  prepare,
  validate,
  run: runPrune,
};
