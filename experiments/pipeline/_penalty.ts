/**
 * The training objective of the ADMM-based stages: the config's objective plus ADMM's
 * ρ/2 Σ‖W − Z + U‖², with ρ a function of the position (ADMM's schedule; ATMC's constant).
 * @module
 */

import { add, type Objective, type Position } from "@topiary/core";
import type { Admm } from "@topiary/pruning";
import type { ExperimentConfig } from "../config/schema.ts";
import { buildObjective } from "./build.ts";

/** `inner` plus the ADMM penalty at ρ(position); `tag` names it ("admm", "atmc"). */
export function withAdmmPenalty(
  inner: Objective,
  admm: Admm,
  rho: (pos: Position) => number,
  tag: string,
  settings: Record<string, unknown>,
): Objective {
  return {
    name: `${inner.name}+${tag}`,
    settings: { ...inner.settings, [tag]: settings },
    loss(model, x, y, pos) {
      const r = inner.loss(model, x, y, pos);
      return { loss: add(r.loss, admm.penalty(rho(pos))), logits: r.logits };
    },
  };
}

/** The config's training objective without the eps warm-up (stages that start from a model). */
export function fineTuneObjective(cfg: ExperimentConfig, stepsPerEpoch: number): Objective {
  const t = cfg.training.objective;
  return buildObjective({ ...t, epsWarmupEpochs: 0 }, cfg.threat, cfg.seed, stepsPerEpoch);
}
