/**
 * Re-evaluating finished runs with another evaluation (e.g. a stronger attack list than the
 * one they were run with): the run's final model is restored (every stage's preparation, then
 * the final stage's model file: every parameter and buffer, the masks and the filter plans; its
 * SHA-256 checked against the run's record), evaluated, and the record written to `evaluation-<name>.json` in the run folder.
 * The run's own `result.json` is never changed; a record that exists with the same evaluation
 * is kept (the command resumes), one with a different evaluation is refused.
 * @module
 */

import { join } from "node:path";
import { getDefaultBackend } from "@topiary/core";
import {
  checkpointIdentity,
  collectProvenance,
  type Provenance,
  type RobustnessRecord,
} from "@topiary/attacks";
import type { EvaluationConfig, ExperimentConfig } from "../config/schema.ts";
import { ConfigError, mapping } from "../config/_check.ts";
import { readYamlFile } from "../config/load.ts";
import { resolveEvaluation } from "../config/resolve.ts";
import { buildModel } from "../pipeline/build.ts";
import { evaluateConfig } from "../pipeline/_evaluate.ts";
import { loadStageModel } from "../pipeline/_load.ts";
import type { PruningState } from "../pipeline/stage.ts";
import { stageDefinition } from "../pipeline/stages.ts";
import { loadRunData } from "./data.ts";
import { exists, firstDifference, RunFolder } from "./folder.ts";
import { prepareBackend, type RunResult } from "./run.ts";

/** The re-evaluation record format. */
export const REEVALUATION_FORMAT = "topiary-reevaluation/1";

/** A re-evaluation record (`evaluation-<name>.json` in a run folder). */
export interface Reevaluation {
  format: typeof REEVALUATION_FORMAT;
  /** The re-evaluation's name (the file's suffix). */
  name: string;
  /** The run: its config's name and seed. */
  run: { name: string; seed: number };
  /** The evaluation settings used (the run's threat model). */
  evaluation: EvaluationConfig;
  /** The record; its checkpoint names the model file relative to the run folder. */
  record: RobustnessRecord;
  provenance: Provenance;
  timings: { evaluation: number };
}

/** Names a re-evaluation may take (they become file names). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The path of re-evaluation `name` in run folder `dir`. */
export function reevaluationPath(dir: string, name: string): string {
  if (!NAME.test(name)) {
    throw new Error(
      `re-evaluation name "${name}" must be letters, digits, ".", "_" or "-" (it names a file)`,
    );
  }
  return join(dir, `evaluation-${name}.json`);
}

/**
 * Reads an evaluation file: a YAML/JSON mapping with one key, `evaluation`, laid out as a
 * config's (`attacks`, `subset`, `subsetSeed`, `batchSize`). Returns the raw mapping (it is
 * resolved per run, for the run's threat radius) after checking that it resolves.
 */
export function readEvaluationFile(path: string): unknown {
  const doc = readYamlFile(path);
  try {
    const m = mapping(doc, "", ["evaluation"]);
    if (m.evaluation === undefined) {
      throw new ConfigError("evaluation", "is required (the attacks to run)");
    }
    resolveEvaluation(m.evaluation, 0.3);
    return m.evaluation;
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.key, e.detail, path);
    throw e;
  }
}

/** Run folders (folders holding config.json) at or under `roots`: root by root, each sorted. */
export function runFoldersUnder(roots: string[]): string[] {
  const out = new Set<string>();
  const walk = (dir: string) => {
    const entries = [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name));
    if (entries.some((e) => e.isFile && e.name === "config.json")) {
      out.add(dir);
      return;
    }
    for (const e of entries) if (e.isDirectory) walk(join(dir, e.name));
  };
  for (const r of roots) {
    if (!exists(r)) throw new Error(`${r} does not exist`);
    walk(r);
  }
  return [...out];
}

/** Options of {@link reevaluateRun}. */
export interface ReevaluateOptions {
  quiet?: boolean;
  /** Where the evaluation came from (prefixes config errors). */
  source?: string;
}

/**
 * Re-evaluates the final model of the complete run in `dir` with `rawEvaluation` (an
 * `evaluation` mapping, resolved for the run's threat model) and writes the record as
 * `evaluation-<name>.json`. Returns the record and whether it was already there.
 */
export async function reevaluateRun(
  dir: string,
  rawEvaluation: unknown,
  name: string,
  opts: ReevaluateOptions = {},
): Promise<{ record: Reevaluation; existed: boolean }> {
  const out = reevaluationPath(dir, name);
  const folder = new RunFolder(dir);
  if (folder.state() !== "complete") {
    throw new Error(
      `${dir} is not a finished run (no result.json); finish it first ` +
        `(deno task exp resume ${dir})`,
    );
  }
  const cfg = folder.readJson<ExperimentConfig>(folder.configPath, "config");
  const evaluation = resolveEvaluation(rawEvaluation, cfg.threat.eps, opts.source);
  if (exists(out)) {
    const old = folder.readJson<Reevaluation>(out, `re-evaluation "${name}"`);
    const diff = firstDifference(old.evaluation, evaluation);
    if (diff !== null) {
      throw new Error(
        `${out} holds a different evaluation (${diff}); give another --name or remove it`,
      );
    }
    return { record: old, existed: true };
  }
  // The model must be the one the run evaluated (its record holds the file's SHA-256).
  const last = cfg.pipeline[cfg.pipeline.length - 1].name;
  const run = folder.readJson<RunResult>(folder.resultPath, "result record");
  const want = run.evaluation.checkpoint?.sha256;
  if (want && checkpointIdentity(folder.modelPath(last)).sha256 !== want) {
    throw new Error(
      `${folder.modelPath(last)} is not the model the run evaluated (its SHA-256 differs from ` +
        `the one in result.json); restore it or rerun the run`,
    );
  }
  prepareBackend(cfg);
  const test = (await loadRunData(cfg.data, cfg.seed)).test;
  const model = buildModel(cfg);
  const pruning: PruningState = { masks: null, denseWeights: null, filterPlans: [] };
  const backend = getDefaultBackend();
  try {
    backend.useAlgorithmFile(folder.algorithmsPath);
    // Each stage's preparation (edge-popup redraws its random weights), then the final stage's
    // model file: every parameter and buffer, the masks (learned scores are masks by then) and
    // all filter plans, so the earlier stages' files are not needed (an archive keeps the last).
    for (const stage of cfg.pipeline) {
      stageDefinition(stage.kind).prepare?.(model, stage.settings, cfg.seed);
    }
    loadStageModel(model, folder.modelPath(last), pruning);
    const t0 = performance.now();
    const record = evaluateConfig({ ...cfg, evaluation }, model, test, {
      checkpoint: folder.modelPath(last),
      quiet: opts.quiet ?? false,
      label: `evaluation ${name}`,
    });
    if (record.checkpoint) record.checkpoint.path = `model-${last}.safetensors`;
    const result: Reevaluation = {
      format: REEVALUATION_FORMAT,
      name,
      run: { name: cfg.name, seed: cfg.seed },
      evaluation,
      record,
      provenance: collectProvenance(),
      timings: { evaluation: (performance.now() - t0) / 1000 },
    };
    folder.writeJson(out, result);
    return { record: result, existed: false };
  } finally {
    pruning.masks?.dispose();
    model.dispose();
    backend.useAlgorithmFile(null);
  }
}
