/**
 * Pipeline stages: a stage kind (train, and the pruning issues' prune / fine-tune / lottery
 * rounds) is a definition registered here, with the config keys it accepts, a validator,
 * and a runner that continues from the previous stage's model and checkpoints itself.
 * @module
 */

import type { Classifier, Dataset, JsonValue } from "@topiary/core";
import type { FilterPlan, MaskSet } from "@topiary/pruning";
import type { ExperimentConfig, StageConfig } from "../config/schema.ts";
import type { Raw } from "../config/_check.ts";
import type { RunFolder } from "../run/folder.ts";
import type { RunHooks } from "../run/hooks.ts";

/** The datasets of a run. */
export interface RunData {
  /** Training images (validation split removed, subset applied). */
  train: Dataset;
  /** Held-out validation images from the training set. */
  val: Dataset;
  /** Test images (the final evaluation draws its subset from here). */
  test: Dataset;
}

/** Pruning state carried from stage to stage. */
export interface PruningState {
  /** Fixed masks of the prunable weights (null: the model is dense). */
  masks: MaskSet | null;
  /** Weights of the model before its first pruning stage (for dense vs pruned histograms). */
  denseWeights: Map<string, Float32Array> | null;
  /**
   * Filter-pruning plans applied to the model so far, in order (the architecture of a
   * filter-pruned model: saved with every later model file and re-applied when one is loaded).
   */
  filterPlans: FilterPlan[];
}

/** What a stage runner gets. */
export interface StageContext {
  config: ExperimentConfig;
  stage: StageConfig;
  /** Index of the stage in the pipeline. */
  index: number;
  folder: RunFolder;
  /** The model as the previous stage left it; the stage trains it in place. */
  model: Classifier;
  data: RunData;
  /** Masks set by pruning stages; later stages train with them fixed. */
  pruning: PruningState;
  hooks: RunHooks;
  quiet: boolean;
}

/** What a stage reports (stored in the result record; no timing fields here). */
export interface StageOutcome {
  summary: { [key: string]: JsonValue };
  /** Wall-clock seconds spent in the stage, summed over resumed sessions. */
  seconds: number;
}

/** A stage kind. */
export interface StageDefinition {
  kind: string;
  /** One line for `--help` and the docs. */
  summary: string;
  /** Config keys the stage accepts (besides `stage` and `name`). */
  keys: readonly string[];
  /** Checks the stage's settings; errors name the key under `path`. */
  validate(raw: Raw, path: string): Record<string, unknown>;
  /** Runs (or resumes) the stage. */
  run(ctx: StageContext): Promise<StageOutcome> | StageOutcome;
  /**
   * Whether the stage prunes (with these settings): the weights before the first such stage
   * are the dense side of the histograms. Default: no.
   */
  prunes?(settings: Record<string, unknown>): boolean;
  /**
   * Puts the model in the state the stage starts from, before the dense weights are recorded
   * (edge-popup's random network), in a fresh run and when a finished stage is skipped on
   * resume alike. Must be deterministic. Default: nothing.
   */
  prepare?(model: Classifier, settings: Record<string, unknown>, seed: number): void;
}

const REGISTRY = new Map<string, StageDefinition>();

/** Registers a stage kind (a kind can be registered once). */
export function registerStage(def: StageDefinition): void {
  if (REGISTRY.has(def.kind)) throw new Error(`stage kind "${def.kind}" is already registered`);
  REGISTRY.set(def.kind, def);
}

/** The definition of a registered kind. */
export function stageDefinition(kind: string): StageDefinition {
  const d = REGISTRY.get(kind);
  if (!d) {
    throw new Error(`unknown stage kind "${kind}" (known: ${[...REGISTRY.keys()].join(", ")})`);
  }
  return d;
}

/** The registered kinds. */
export function stageKinds(): string[] {
  return [...REGISTRY.keys()];
}
