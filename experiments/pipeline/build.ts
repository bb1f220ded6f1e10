/**
 * Builds the runtime objects a config describes: optimizer, learning-rate schedule,
 * training objective, evaluation attacks and the model.
 * @module
 */

import {
  apgd,
  apgdTargeted,
  type Attack,
  cleanObjective,
  fgsm,
  fgsmTraining,
  mixedTraining,
  pgd,
  pgdTraining,
  square,
  type ThreatModel,
  tradesTraining,
} from "@topiary/attacks";
import {
  Adam,
  type Classifier,
  createModel,
  makeSchedule,
  type ModelSpec,
  type Objective,
  type Optimizer,
  type Schedule,
  type ScheduleSpec,
  SGD,
} from "@topiary/core";
import type {
  AttackConfig,
  ExperimentConfig,
  ObjectiveConfig,
  OptimizerConfig,
  ScheduleConfig,
} from "../config/schema.ts";

/** The model of a config, initialised from the run's seed. */
export function buildModel(cfg: ExperimentConfig): Classifier {
  const spec: ModelSpec = { seed: cfg.seed };
  if (cfg.model.width !== null) {
    if (cfg.model.name === "wrn") spec.widen = cfg.model.width;
    else spec.width = cfg.model.width;
  }
  if (cfg.model.depth !== null) spec.depth = cfg.model.depth;
  return createModel(cfg.model.name, spec);
}

/** The optimizer of a config over a model's parameters. */
export function buildOptimizer(o: OptimizerConfig, model: Classifier): Optimizer {
  const params = model.namedParameters();
  if (o.name === "adam") return new Adam(params, { lr: o.lr, weightDecay: o.weightDecay });
  return new SGD(params, {
    lr: o.lr,
    momentum: o.momentum,
    nesterov: o.nesterov,
    weightDecay: o.weightDecay,
  });
}

/** The schedule spec of a config for a run of `epochs` epochs of `spe` steps. */
export function scheduleSpec(
  s: ScheduleConfig,
  lr: number,
  epochs: number,
  spe: number,
): ScheduleSpec {
  const total = epochs * spe;
  let inner: ScheduleSpec;
  switch (s.name) {
    case "constant":
      inner = { kind: "constant", lr };
      break;
    case "cosine":
      inner = { kind: "cosine", lr, totalSteps: total, minLr: s.minLr };
      break;
    case "step":
      inner = { kind: "step", lr, stepSize: (s.every ?? 1) * spe, gamma: s.gamma };
      break;
    case "multistep":
      inner = {
        kind: "multiStep",
        lr,
        milestones: s.milestones.map((e) => e * spe),
        gamma: s.gamma,
      };
      break;
    case "onecycle":
      inner = { kind: "oneCycle", maxLr: lr, totalSteps: total };
      break;
    case "cyclic":
      inner = {
        kind: "triangular",
        maxLr: lr,
        peakStep: Math.round((s.peakEpoch ?? epochs / 2) * spe),
        totalSteps: total,
      };
      break;
  }
  return s.warmupEpochs > 0 ? { kind: "warmup", inner, steps: s.warmupEpochs * spe } : inner;
}

/** The schedule of a config (see {@link scheduleSpec}). */
export function buildSchedule(
  s: ScheduleConfig,
  lr: number,
  epochs: number,
  spe: number,
): Schedule {
  return makeSchedule(scheduleSpec(s, lr, epochs, spe));
}

/** The training objective of a config. */
export function buildObjective(
  o: ObjectiveConfig,
  threat: ThreatModel,
  seed: number,
  stepsPerEpoch: number,
): Objective {
  if (o.name === "clean") return cleanObjective;
  const common = {
    threat,
    seed,
    bnMode: o.bnMode,
    warmup: o.epsWarmupEpochs > 0 ? { epochs: o.epsWarmupEpochs, stepsPerEpoch } : undefined,
  };
  switch (o.name) {
    case "pgd":
      return pgdTraining({ ...common, steps: o.steps, stepSize: o.stepSize, loss: o.loss });
    case "fgsm":
      return fgsmTraining({ ...common, stepSize: o.stepSize, randomStart: o.randomStart });
    case "trades":
      return tradesTraining({ ...common, beta: o.beta, steps: o.steps, stepSize: o.stepSize });
    case "mixed":
      return mixedTraining({
        ...common,
        weight: o.weight,
        attack: o.mixedAttack,
        steps: o.steps,
        stepSize: o.stepSize,
      });
  }
}

/** An evaluation attack of a config. */
export function buildAttack(a: AttackConfig, threat: ThreatModel): Attack {
  switch (a.name) {
    case "fgsm":
      return fgsm({ threat });
    case "pgd":
      return pgd({
        threat,
        steps: a.steps,
        stepSize: a.stepSize ?? undefined,
        restarts: a.restarts,
        loss: a.loss,
        start: a.start,
        reluSurrogate: a.reluSurrogate,
      });
    case "apgd-ce":
      return apgd({
        threat,
        steps: a.steps,
        restarts: a.restarts,
        loss: "ce",
        reluSurrogate: a.reluSurrogate,
      });
    case "apgd-dlr":
      return apgd({
        threat,
        steps: a.steps,
        restarts: a.restarts,
        loss: "dlr",
        reluSurrogate: a.reluSurrogate,
      });
    case "apgd-t":
      return apgdTargeted({
        threat,
        steps: a.steps,
        targets: a.targets,
        reluSurrogate: a.reluSurrogate,
      });
    case "square":
      return square({ threat, queries: a.queries, restarts: a.restarts });
  }
}
