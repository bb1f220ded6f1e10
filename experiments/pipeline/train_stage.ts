/**
 * The `train` stage: trains the model with the config's objective, optimizer and schedule,
 * validates at every epoch end (clean accuracy on the held-out split, PGD accuracy on its
 * first n images), and checkpoints the full training state every `checkpointEvery` steps and
 * at every epoch end. A killed run resumes from the last checkpoint with the same data order,
 * attack draws and epoch sums, so it ends exactly where an uninterrupted run ends.
 * @module
 */

import { evaluateRobustness, pgd, type ThreatModel } from "@topiary/attacks";
import {
  BatchLoader,
  type Classifier,
  type EpochTotals,
  evaluate,
  fit,
  type JsonValue,
  MetricsWriter,
  type Position,
  restoreTrainStateSync,
  saveTrainStateSync,
  subset,
} from "@topiary/core";
import { int, opt, type Raw } from "../config/_check.ts";
import { exists } from "../run/folder.ts";
import { buildObjective, buildOptimizer, buildSchedule } from "./build.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";

/** One epoch's validation figures. */
export interface ValidationPoint {
  epoch: number;
  step: number;
  trainLoss: number;
  trainAccuracy: number;
  valAccuracy: number | null;
  valRobustAccuracy: number | null;
  [key: string]: JsonValue;
}

interface Saved {
  history: ValidationPoint[];
  totals: EpochTotals;
  seconds: number;
}

function validate(model: Classifier, ctx: StageContext, threat: ThreatModel) {
  const { val } = ctx.data;
  const t = ctx.config.training;
  if (val.length === 0) return { clean: null, robust: null };
  const clean = evaluate(model, new BatchLoader(val, { batchSize: 500, shuffle: false }));
  let robust: number | null = null;
  const n = Math.min(t.validationRobustN, val.length);
  if (n > 0 && threat.eps > 0) {
    const steps = t.validationAttackSteps;
    const r = evaluateRobustness(
      model,
      subset(val, Int32Array.from({ length: n }, (_, i) => i)),
      [pgd({ threat, steps, stepSize: 2.5 * threat.eps / steps })],
      { seed: ctx.config.seed, batchSize: 500, quiet: true, sanity: false },
    );
    robust = r.robustAccuracy;
  }
  return { clean: clean.accuracy, robust };
}

function runTrain(ctx: StageContext): StageOutcome {
  const { config: cfg, model, folder, stage } = ctx;
  const t = cfg.training;
  const epochs = (stage.settings.epochs as number | undefined) ?? t.epochs;
  const loader = new BatchLoader(ctx.data.train, {
    batchSize: t.batchSize,
    seed: cfg.seed,
    augment: { padding: cfg.data.augment.crop, flip: cfg.data.augment.flip },
  });
  const spe = loader.batchesPerEpoch;
  const optimizer = buildOptimizer(t.optimizer, model);
  const objective = buildObjective(t.objective, cfg.threat, cfg.seed, spe);
  const statePath = folder.statePath(stage.name);

  let start: Position = { epoch: 0, batch: 0, step: 0 };
  let saved: Saved = { history: [], totals: { lossSum: 0, correct: 0, seen: 0 }, seconds: 0 };
  if (exists(statePath)) {
    const s = restoreTrainStateSync(statePath, { model, optimizer });
    start = { epoch: s.epoch, batch: s.batch, step: s.step };
    saved = s.metadata.stage as unknown as Saved;
    if (!ctx.quiet) {
      console.log(
        `${stage.name}: resuming at epoch ${s.epoch + 1}, batch ${s.batch}, step ${s.step}`,
      );
    }
  }
  const metrics = new MetricsWriter(folder.metricsPath, {
    resumeFromStep: start.step,
  });
  const history = [...saved.history];
  let seconds = saved.seconds, t0 = performance.now();
  const checkpoint = (next: Position, totals: EpochTotals) => {
    seconds += (performance.now() - t0) / 1000;
    t0 = performance.now();
    const meta: Saved = { history, totals, seconds };
    saveTrainStateSync(
      statePath,
      {
        model,
        optimizer,
        seed: cfg.seed,
        ...next,
        metadata: { stage: meta as unknown as JsonValue },
      },
      { beforeRename: (p) => ctx.hooks.beforeRename(p) },
    );
  };
  try {
    fit({
      model,
      optimizer,
      schedule: buildSchedule(t.schedule, t.optimizer.lr, epochs, spe),
      train: loader,
      epochs,
      objective,
      metrics,
      logEvery: Math.max(1, Math.floor(spe / 4)),
      start,
      startTotals: saved.totals,
      quiet: ctx.quiet,
      label: `${stage.name} (${objective.name})`,
      afterStep: (next, totals) => {
        ctx.hooks.afterStep(next.step);
        if (next.step % cfg.checkpointEvery === 0 && next.batch < spe) checkpoint(next, totals);
      },
      afterEpoch: (epoch, s, next) => {
        const v = validate(model, ctx, cfg.threat);
        const point: ValidationPoint = {
          epoch,
          step: next.step,
          trainLoss: s.trainLoss,
          trainAccuracy: s.trainAccuracy,
          valAccuracy: v.clean,
          valRobustAccuracy: v.robust,
        };
        history.push(point);
        metrics.write({ split: "val", stage: stage.name, ...point });
        metrics.sync();
        checkpoint(next, { lossSum: 0, correct: 0, seen: 0 });
        if (!ctx.quiet) {
          const pct = (x: number | null) => x === null ? "-" : `${(100 * x).toFixed(2)}%`;
          console.log(
            `${stage.name} epoch ${epoch + 1}/${epochs}: loss ${s.trainLoss.toFixed(4)}, ` +
              `train acc ${pct(s.trainAccuracy)}; validation clean ${pct(v.clean)}, ` +
              `PGD-${t.validationAttackSteps} ${pct(v.robust)}`,
          );
        }
      },
    });
  } finally {
    metrics.close();
    optimizer.dispose();
  }
  seconds += (performance.now() - t0) / 1000;
  const robust = history.filter((h) => h.valRobustAccuracy !== null);
  const best = robust.length
    ? robust.reduce((a, b) => (b.valRobustAccuracy! > a.valRobustAccuracy! ? b : a))
    : null;
  const last = history[history.length - 1] ?? null;
  return {
    seconds,
    summary: {
      epochs,
      steps: epochs * spe,
      objective: objective.name,
      history,
      final: last,
      bestByValidation: best,
    },
  };
}

/** The train stage's definition. */
export const trainStage: StageDefinition = {
  kind: "train",
  summary: "train the model (config.training; `epochs` overrides the number of epochs)",
  keys: ["epochs"],
  validate(raw: Raw, path: string) {
    return { epochs: opt(raw, path, "epochs", (x, p) => int(x, p, 1), undefined) };
  },
  run: runTrain,
};
