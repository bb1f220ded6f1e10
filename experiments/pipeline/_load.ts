/**
 * Loading a saved stage model (weights plus, when present, "<weight>_mask" entries) into the
 * run's model and pruning state. A filter-pruned model's file carries its filter plans in the
 * metadata (`filterPlans`); the plans not yet applied to the model are applied before the
 * weights are loaded, so a smaller network loads into a model built from the config.
 * @module
 */

import { type Classifier, loadSafetensorsSync } from "@topiary/core";
import { applyFilterPlan, type FilterPlan, MaskSet, prunableLayers } from "@topiary/pruning";
import type { PruningState } from "./stage.ts";

/**
 * Loads a saved model file: its weights into `model`, and its "<weight>_mask" entries into the
 * masks `masksFor` returns for their weight names (none when it returns null or is omitted).
 * `plans` are the filter plans already applied to `model` (its architecture); the file's later
 * plans are applied first. Returns the file's plans.
 */
export function loadModelFile(
  model: Classifier,
  path: string,
  masksFor?: (names: Set<string>) => MaskSet | null,
  plans: readonly FilterPlan[] = [],
): FilterPlan[] {
  const f = loadSafetensorsSync(path);
  try {
    let filePlans: FilterPlan[] = [];
    if (f.metadata.filterPlans) {
      try {
        filePlans = JSON.parse(f.metadata.filterPlans);
      } catch (e) {
        throw new Error(`${path}: its filterPlans metadata is not JSON (${(e as Error).message})`);
      }
    }
    if (plans.length > filePlans.length) {
      throw new Error(
        `${path}: the model is filter-pruned ${plans.length} time(s), the file only ` +
          `${filePlans.length}: it was saved before a filter stage`,
      );
    }
    for (const p of filePlans.slice(plans.length)) applyFilterPlan(model, p);
    const isMask = (k: string) => k.endsWith("_mask");
    model.loadStateDict(new Map([...f.tensors].filter(([k]) => !isMask(k))));
    const names = new Set([...f.tensors.keys()].filter(isMask).map((k) => k.slice(0, -5)));
    if (names.size) masksFor?.(names)?.loadStateDict(f.tensors);
    return filePlans;
  } finally {
    for (const t of f.tensors.values()) t.dispose();
  }
}

/** Loads a stage's saved model and, when the file holds masks, the pipeline's masks. */
export function loadStageModel(model: Classifier, path: string, pruning: PruningState): void {
  pruning.filterPlans = loadModelFile(model, path, (names) => {
    const layers = prunableLayers(model).filter((l) => names.has(l.name));
    if (layers.length !== names.size) {
      throw new Error(`${path}: masks for weights the model does not have`);
    }
    pruning.masks?.dispose();
    pruning.masks = new MaskSet(layers);
    return pruning.masks;
  }, pruning.filterPlans);
}
