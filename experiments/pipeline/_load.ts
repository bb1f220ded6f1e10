/**
 * Loading a saved stage model (weights plus, when present, "<weight>_mask" entries) into the
 * run's model and pruning state.
 * @module
 */

import { type Classifier, loadSafetensorsSync } from "@topiary/core";
import { MaskSet, prunableLayers } from "@topiary/pruning";
import type { PruningState } from "./stage.ts";

/**
 * Loads a saved model file: its weights into `model`, and its "<weight>_mask" entries into the
 * masks `masksFor` returns for their weight names (none when it returns null or is omitted).
 */
export function loadModelFile(
  model: Classifier,
  path: string,
  masksFor?: (names: Set<string>) => MaskSet | null,
): void {
  const f = loadSafetensorsSync(path);
  try {
    const isMask = (k: string) => k.endsWith("_mask");
    model.loadStateDict(new Map([...f.tensors].filter(([k]) => !isMask(k))));
    const names = new Set([...f.tensors.keys()].filter(isMask).map((k) => k.slice(0, -5)));
    if (names.size) masksFor?.(names)?.loadStateDict(f.tensors);
  } finally {
    for (const t of f.tensors.values()) t.dispose();
  }
}

/** Loads a stage's saved model and, when the file holds masks, the pipeline's masks. */
export function loadStageModel(model: Classifier, path: string, pruning: PruningState): void {
  loadModelFile(model, path, (names) => {
    const layers = prunableLayers(model).filter((l) => names.has(l.name));
    if (layers.length !== names.size) {
      throw new Error(`${path}: masks for weights the model does not have`);
    }
    pruning.masks?.dispose();
    pruning.masks = new MaskSet(layers);
    return pruning.masks;
  });
}
