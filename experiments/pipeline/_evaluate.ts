/**
 * The config's evaluation (its attacks on its fixed subset of the test set), shared by the
 * final evaluation of a run and by stages that evaluate intermediate models (lottery rounds).
 * @module
 */

import { evaluateRobustness, type RobustnessRecord } from "@topiary/attacks";
import type { Classifier, Dataset } from "@topiary/core";
import type { ExperimentConfig } from "../config/schema.ts";
import { buildAttack } from "./build.ts";

/** Runs the config's evaluation on `model`. */
export function evaluateConfig(
  cfg: ExperimentConfig,
  model: Classifier,
  test: Dataset,
  o: { checkpoint?: string; quiet: boolean; label?: string },
): RobustnessRecord {
  const ev = cfg.evaluation;
  return evaluateRobustness(model, test, ev.attacks.map((a) => buildAttack(a, cfg.threat)), {
    seed: cfg.seed,
    n: ev.subset === "all" || ev.subset >= test.length ? undefined : ev.subset,
    subsetSeed: ev.subsetSeed,
    batchSize: ev.batchSize,
    modelName: cfg.model.name,
    checkpoint: o.checkpoint,
    split: "test",
    quiet: o.quiet,
    label: o.label ?? "evaluation",
  });
}
