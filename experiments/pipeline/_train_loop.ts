/**
 * The training loop shared by the stages that train (train / fine-tune, HYDRA's score
 * optimisation, lottery-ticket rounds): optimizer, schedule and objective from the config,
 * validation at every epoch end, and checkpoints of the full state (model plus any extra
 * tensors such as pruning scores, optimizer, position, epoch sums, validation history) every
 * `checkpointEvery` steps and at every epoch end, so a killed stage resumes exactly.
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
  type Module,
  type Objective,
  type Optimizer,
  type Position,
  restoreTrainStateSync,
  saveTrainStateSync,
  type Schedule,
  type StateDict,
  subset,
} from "@topiary/core";
import type { OptimizerConfig, ScheduleConfig } from "../config/schema.ts";
import { exists } from "../run/folder.ts";
import { buildObjective, buildSchedule } from "./build.ts";
import type { StageContext } from "./stage.ts";

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

/** Tensors saved with the model in a training state (e.g. pruning scores). */
export interface ExtraState {
  stateDict(): StateDict;
  loadStateDict(sd: StateDict): void;
}

/** What {@link runTraining} trains. */
export interface TrainingRun {
  /** Label in logs and metrics; also names the state file (state-<label>.safetensors). */
  label: string;
  epochs: number;
  optimizer: Optimizer;
  optimizerConfig: OptimizerConfig;
  schedule: ScheduleConfig;
  /** Extra tensors checkpointed with the model. */
  extra?: ExtraState;
  /** Called before every step (e.g. recompute score masks). */
  beforeStep?: (here: Position) => void;
  /** Resume the schedule, data order and attack draws at this position (lottery rewinding). */
  startAt?: Position;
  /** Called after every step with the next position (e.g. save a rewinding point). */
  afterStep?: (next: Position) => void;
  /** Objective override (default: the config's training objective). */
  objective?: Objective;
  /** Learning rate per step, overriding `schedule` (e.g. ADMM's periodic rate). */
  lrSchedule?: Schedule;
  /**
   * Whether the eps and learning-rate warm-ups apply: training from scratch (default true).
   * Fine-tuning a trained model (after load, prune) starts at the full eps and rate.
   */
  warmup?: boolean;
}

interface Saved {
  history: ValidationPoint[];
  totals: EpochTotals;
  seconds: number;
}

/** The summary of a finished training run. */
export interface TrainingSummary {
  [key: string]: JsonValue;
  epochs: number;
  steps: number;
  objective: string;
  history: ValidationPoint[];
  final: ValidationPoint | null;
  bestByValidation: ValidationPoint | null;
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

/** The model plus extra tensors as one state dict (saved and restored together). */
function bundle(model: Module, extra?: ExtraState): Module {
  if (!extra) return model;
  const keys = new Set(extra.stateDict().keys());
  return {
    stateDict: () => new Map([...model.stateDict(), ...extra.stateDict()]),
    loadStateDict: (sd: StateDict) => {
      model.loadStateDict(new Map([...sd].filter(([k]) => !keys.has(k))));
      extra.loadStateDict(new Map([...sd].filter(([k]) => keys.has(k))));
    },
  } as unknown as Module;
}

/** Trains (or resumes training) the stage's model; returns the summary and seconds spent. */
export function runTraining(
  ctx: StageContext,
  r: TrainingRun,
): { summary: TrainingSummary; seconds: number } {
  const { config: cfg, model, folder } = ctx;
  const t = cfg.training;
  const loader = new BatchLoader(ctx.data.train, {
    batchSize: t.batchSize,
    seed: cfg.seed,
    augment: { padding: cfg.data.augment.crop, flip: cfg.data.augment.flip },
  });
  const spe = loader.batchesPerEpoch;
  const warm = r.warmup ?? true;
  const objective = r.objective ??
    buildObjective(
      warm ? t.objective : { ...t.objective, epsWarmupEpochs: 0 },
      cfg.threat,
      cfg.seed,
      spe,
    );
  const schedule = warm ? r.schedule : { ...r.schedule, warmupEpochs: 0 };
  const statePath = folder.statePath(r.label);
  const target = bundle(model, r.extra);

  let start: Position = r.startAt ?? { epoch: 0, batch: 0, step: 0 };
  let saved: Saved = { history: [], totals: { lossSum: 0, correct: 0, seen: 0 }, seconds: 0 };
  if (exists(statePath)) {
    const s = restoreTrainStateSync(statePath, { model: target, optimizer: r.optimizer });
    start = { epoch: s.epoch, batch: s.batch, step: s.step };
    saved = s.metadata.stage as unknown as Saved;
    if (!ctx.quiet) {
      console.log(`${r.label}: resuming at epoch ${s.epoch + 1}, batch ${s.batch}, step ${s.step}`);
    }
  }
  const metrics = new MetricsWriter(folder.metricsPath, {
    stage: r.label,
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
        model: target.stateDict(),
        optimizer: r.optimizer,
        seed: cfg.seed,
        ...next,
        metadata: { stage: meta as unknown as JsonValue },
      },
      { beforeRename: (p) => ctx.hooks.beforeRename(p) },
    );
  };
  const first = r.startAt?.step ?? 0;
  try {
    fit({
      model,
      optimizer: r.optimizer,
      schedule: r.lrSchedule ?? buildSchedule(schedule, r.optimizerConfig.lr, r.epochs, spe),
      train: loader,
      epochs: r.epochs,
      objective,
      metrics,
      logEvery: Math.max(1, Math.floor(spe / 4)),
      start,
      startTotals: saved.totals,
      beforeStep: r.beforeStep,
      quiet: ctx.quiet,
      label: `${r.label} (${objective.name})`,
      afterStep: (next, totals) => {
        ctx.hooks.afterStep(next.step);
        r.afterStep?.(next);
        if ((next.step - first) % cfg.checkpointEvery === 0 && next.batch < spe) {
          checkpoint(next, totals);
        }
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
        metrics.write({ split: "val", ...point });
        metrics.sync();
        checkpoint(next, { lossSum: 0, correct: 0, seen: 0 });
        if (!ctx.quiet) {
          const pct = (x: number | null) => x === null ? "-" : `${(100 * x).toFixed(2)}%`;
          console.log(
            `${r.label} epoch ${epoch + 1}/${r.epochs}: loss ${s.trainLoss.toFixed(4)}, ` +
              `train acc ${pct(s.trainAccuracy)}; validation clean ${pct(v.clean)}, ` +
              `PGD-${t.validationAttackSteps} ${pct(v.robust)}`,
          );
        }
      },
    });
  } finally {
    metrics.close();
  }
  seconds += (performance.now() - t0) / 1000;
  const robust = history.filter((h) => h.valRobustAccuracy !== null);
  const best = robust.length
    ? robust.reduce((a, b) => (b.valRobustAccuracy! > a.valRobustAccuracy! ? b : a))
    : null;
  return {
    seconds,
    summary: {
      epochs: r.epochs,
      steps: r.epochs * spe,
      objective: objective.name,
      history,
      final: history[history.length - 1] ?? null,
      bestByValidation: best,
    },
  };
}
