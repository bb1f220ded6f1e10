/**
 * Loading a saved stage model (weights plus, when present, "<weight>_mask" entries) into the
 * run's model and pruning state.
 * @module
 */

import { type Classifier, loadSafetensorsSync } from "@topiary/core";
import { MaskSet, prunableLayers } from "@topiary/pruning";
import type { PruningState } from "./stage.ts";

/** Loads a stage's saved model and, when the file holds masks, the pipeline's masks. */
export function loadStageModel(model: Classifier, path: string, pruning: PruningState): void {
  const f = loadSafetensorsSync(path);
  try {
    const isMask = (k: string) => k.endsWith("_mask");
    model.loadStateDict(new Map([...f.tensors].filter(([k]) => !isMask(k))));
    const maskNames = new Set([...f.tensors.keys()].filter(isMask).map((k) => k.slice(0, -5)));
    if (maskNames.size) {
      pruning.masks?.dispose();
      const layers = prunableLayers(model).filter((l) => maskNames.has(l.name));
      if (layers.length !== maskNames.size) {
        throw new Error(`${path}: masks for weights the model does not have`);
      }
      pruning.masks = new MaskSet(layers);
      pruning.masks.loadStateDict(f.tensors);
    }
  } finally {
    for (const t of f.tensors.values()) t.dispose();
  }
}
