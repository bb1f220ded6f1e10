/**
 * Runs an experiment config in a run folder: the pipeline's stages in order (each resumed
 * from its last checkpoint, or skipped when its done marker exists), then the final
 * evaluation, whose record (with stage summaries, timings and provenance) is written last.
 * A run killed at any moment and started again ends with the same result record, timing
 * fields aside.
 * @module
 */

import { collectProvenance, type Provenance, type RobustnessRecord } from "@topiary/attacks";
import { availableBackends, getBackend } from "@topiary/ffi";
import {
  BatchLoader,
  type Classifier,
  type Dataset,
  getDefaultBackend,
  type JsonValue,
  saveSafetensorsSync,
  setDefaultBackend,
} from "@topiary/core";
import {
  analyzeNetwork,
  type Histogram,
  measureModel,
  type ModelMeasure,
  type NetworkAnalysis,
  prunableLayers,
  weightHistograms,
  weightSnapshot,
} from "@topiary/pruning";
import type { ExperimentConfig } from "../config/schema.ts";
import type { PruningState } from "../pipeline/stage.ts";
import { buildModel } from "../pipeline/build.ts";
import { evaluateConfig } from "../pipeline/_evaluate.ts";
import { loadStageModel } from "../pipeline/_load.ts";
import { stageDefinition } from "../pipeline/stages.ts";
import { loadRunData } from "./data.ts";
import { exists, RunFolder } from "./folder.ts";
import { hooksFromEnv, type RunHooks } from "./hooks.ts";

/** The result record format. */
export const RESULT_FORMAT = "topiary-run-result/1";

/** Test images the dead-unit analysis runs on. */
export const PROBE_IMAGES = 500;

/** The analysis of a sequential model on the first test images (null for other models). */
function analyze(model: Classifier, test: Dataset): NetworkAnalysis | null {
  if (!model.sequence()) return null;
  if (test.length === 0) return analyzeNetwork(model);
  const loader = new BatchLoader(test, {
    batchSize: Math.min(PROBE_IMAGES, test.length),
    shuffle: false,
  });
  const b = loader.batch(0, 0);
  try {
    return analyzeNetwork(model, b.x);
  } finally {
    b.x.dispose();
    b.y.dispose();
  }
}

/** One stage's entry in the result record. */
export interface StageRecord {
  name: string;
  kind: string;
  summary: { [key: string]: JsonValue };
}

/** A run's final record (`result.json`). */
export interface RunResult {
  format: typeof RESULT_FORMAT;
  name: string;
  seed: number;
  config: ExperimentConfig;
  stages: StageRecord[];
  /** Parameters, MACs and per-layer nonzero counts of the final model. */
  measurements: ModelMeasure;
  /** Weight histograms of the prunable layers before pruning and after (null if never pruned). */
  histograms: { dense: Histogram; pruned: Histogram } | null;
  /**
   * Units and connectivity of the final model (sequential models; dead units on the first
   * {@link PROBE_IMAGES} test images). Absent in records written before it existed.
   */
  analysis?: NetworkAnalysis | null;
  evaluation: RobustnessRecord;
  provenance: Provenance;
  /** Wall-clock seconds (excluded when comparing records). */
  timings: { stages: Record<string, number>; evaluation: number };
}

/** Options of {@link runExperiment}. */
export interface RunOptions {
  quiet?: boolean;
  /** Crash hooks (default: from `TOPIARY_KILL_AT`, see hooks.ts). */
  hooks?: RunHooks;
}

interface DoneMarker {
  stage: StageRecord;
  seconds: number;
}

/** Makes the process's backend match the config's device and thread count. */
export function prepareBackend(cfg: ExperimentConfig): void {
  if (cfg.device === "cuda") {
    if (!availableBackends().includes("cuda")) {
      throw new Error(
        `device: "cuda" is not available here (no CUDA library built or no GPU); ` +
          `use device: cpu`,
      );
    }
    setDefaultBackend(getBackend("cuda"));
  }
  if (cfg.threads !== null && !Deno.env.get("TOPIARY_THREADS")) {
    Deno.env.set("TOPIARY_THREADS", String(cfg.threads));
  }
  const b = getDefaultBackend();
  if (cfg.threads !== null && b.threads !== cfg.threads) {
    throw new Error(
      `threads: the config asks for ${cfg.threads} threads but this process's backend runs ` +
        `${b.threads} (TOPIARY_THREADS=${Deno.env.get("TOPIARY_THREADS") ?? "unset"}); run it ` +
        `in a fresh process with TOPIARY_THREADS=${cfg.threads}`,
    );
  }
}

/** Runs (or resumes, or just returns) the run of `cfg` in folder `dir`. */
export async function runExperiment(
  cfg: ExperimentConfig,
  dir: string,
  opts: RunOptions = {},
): Promise<RunResult> {
  const folder = new RunFolder(dir);
  folder.init(cfg);
  if (folder.state() === "complete") {
    return folder.readJson<RunResult>(folder.resultPath, "result record");
  }
  prepareBackend(cfg);
  const hooks = opts.hooks ?? hooksFromEnv();
  const quiet = opts.quiet ?? false;
  const data = await loadRunData(cfg.data, cfg.seed);
  const model = buildModel(cfg);
  const pruning: PruningState = { masks: null, denseWeights: null, filterPlans: [] };
  const backend = getDefaultBackend();
  try {
    backend.useAlgorithmFile(folder.algorithmsPath);
    const stages: StageRecord[] = [];
    const timings: RunResult["timings"] = { stages: {}, evaluation: 0 };
    for (const [index, stage] of cfg.pipeline.entries()) {
      const def = stageDefinition(stage.kind);
      def.prepare?.(model, stage.settings, cfg.seed);
      if (def.prunes?.(stage.settings) && !pruning.denseWeights) {
        // The weights before the first pruning stage: the "dense" side of the histograms.
        pruning.denseWeights = weightSnapshot(prunableLayers(model));
      }
      const done = folder.donePath(stage.name);
      if (exists(done)) {
        const m = folder.readJson<DoneMarker>(done, `done marker of stage ${stage.name}`);
        if (stage.kind === "lottery" && !pruning.denseWeights) {
          // A finished lottery stage: the dense weights are those of its round 0.
          loadStageModel(model, folder.modelPath(`${stage.name}-r0`), pruning);
          pruning.denseWeights = weightSnapshot(prunableLayers(model));
        }
        loadStageModel(model, folder.modelPath(stage.name), pruning);
        stages.push(m.stage);
        timings.stages[stage.name] = m.seconds;
        continue;
      }
      const out = await def.run({
        config: cfg,
        stage,
        index,
        folder,
        model,
        data,
        pruning,
        hooks,
        quiet,
      });
      const tensors = new Map([...model.stateDict(), ...(pruning.masks?.stateDict() ?? [])]);
      saveSafetensorsSync(folder.modelPath(stage.name), tensors, {
        metadata: {
          model: cfg.model.name,
          stage: stage.name,
          seed: String(cfg.seed),
          ...(pruning.filterPlans.length
            ? { filterPlans: JSON.stringify(pruning.filterPlans) }
            : {}),
        },
        beforeRename: (p) => hooks.beforeRename(p),
      });
      hooks.stageEnd(stage.name);
      const rec: StageRecord = { name: stage.name, kind: stage.kind, summary: out.summary };
      folder.writeJson(done, { stage: rec, seconds: out.seconds } satisfies DoneMarker);
      stages.push(rec);
      timings.stages[stage.name] = out.seconds;
    }
    const last = cfg.pipeline[cfg.pipeline.length - 1].name;
    // Before the (long) evaluation: an analysis error must not cost a finished evaluation.
    const analysis = analyze(model, data.test);
    const t0 = performance.now();
    const evaluation = evaluateConfig(cfg, model, data.test, {
      checkpoint: folder.modelPath(last),
      quiet,
    });
    // The record names the checkpoint relative to the run folder, so it does not depend on
    // where the folder lives.
    if (evaluation.checkpoint) evaluation.checkpoint.path = `model-${last}.safetensors`;
    timings.evaluation = (performance.now() - t0) / 1000;
    const measurements = measureModel(model, data.test.shape);
    const histograms = pruning.denseWeights
      ? weightHistograms(
        pruning.denseWeights.values(),
        prunableLayers(model).filter((l) => pruning.denseWeights!.has(l.name)).map((l) =>
          l.weight.toArray() as Float32Array
        ),
      )
      : null;
    const result: RunResult = {
      format: RESULT_FORMAT,
      name: cfg.name,
      seed: cfg.seed,
      config: cfg,
      stages,
      measurements,
      histograms,
      analysis,
      evaluation,
      provenance: collectProvenance(),
      timings,
    };
    folder.writeJson(folder.resultPath, result);
    return result;
  } finally {
    pruning.masks?.dispose();
    model.dispose();
    backend.useAlgorithmFile(null);
  }
}

/**
 * Keys holding wall-clock times, dates or machine-load figures, and the CUDA backend's list of
 * library algorithms chosen so far by the process (provenance that grows with the process's
 * history: a resumed process has met fewer shapes; each shape's choice is still the same).
 */
const TIMING_KEYS = new Set([
  "timings",
  "timing",
  "seconds",
  "controlSeconds",
  "timestamp",
  "imagesPerSecond",
  "algorithms",
  "algorithms_total",
]);

/** A copy of a JSON value without timing or process-history fields ("identical result"). */
export function withoutTimings(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutTimings);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!TIMING_KEYS.has(k)) out[k] = withoutTimings(x);
    return out;
  }
  return v;
}
