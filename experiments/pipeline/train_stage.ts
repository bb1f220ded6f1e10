/**
 * The `train` stage: trains the model with the config's objective, optimizer and schedule
 * (see `_train_loop.ts` for validation and checkpoints). After a pruning stage it is the
 * fine-tune: the current masks go to the optimizer, so pruned weights stay exactly zero.
 * @module
 */

import { int, opt, type Raw } from "../config/_check.ts";
import { buildOptimizer } from "./build.ts";
import { runTraining } from "./_train_loop.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";
import { num } from "../config/_check.ts";

function runTrain(ctx: StageContext): StageOutcome {
  const { config: cfg, model, stage } = ctx;
  const t = cfg.training;
  const epochs = (stage.settings.epochs as number | undefined) ?? t.epochs;
  const lr = (stage.settings.lr as number | undefined) ?? t.optimizer.lr;
  const optimizerConfig = { ...t.optimizer, lr };
  const optimizer = buildOptimizer(optimizerConfig, model);
  const masks = ctx.pruning.masks;
  try {
    if (masks) {
      masks.apply();
      masks.attach(optimizer);
    }
    const out = runTraining(ctx, {
      label: stage.name,
      epochs,
      optimizer,
      optimizerConfig,
      schedule: t.schedule,
    });
    if (masks) out.summary.sparsity = masks.report() as unknown as typeof out.summary.sparsity;
    return out;
  } finally {
    optimizer.dispose();
  }
}

/** The train stage's definition. */
export const trainStage: StageDefinition = {
  kind: "train",
  summary: "train the model (config.training; `epochs` and `lr` override the config's); after " +
    "a prune stage this is the fine-tune, with the masks fixed",
  keys: ["epochs", "lr"],
  validate(raw: Raw, path: string) {
    return {
      epochs: opt(raw, path, "epochs", (x, p) => int(x, p, 1), undefined),
      lr: opt(raw, path, "lr", (x, p) => num(x, p, 0), undefined),
    };
  },
  run: runTrain,
};
