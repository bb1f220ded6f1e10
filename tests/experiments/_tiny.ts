/**
 * Helpers of the pipeline tests: the tiny synthetic config with a given pipeline, and a saved
 * model's tensors as host arrays.
 * @module
 */

import { loadSafetensorsSync } from "@topiary/core";
import { readYamlFile } from "../../experiments/config/load.ts";
import { resolveConfig } from "../../experiments/config/resolve.ts";

/** The tiny synthetic run's YAML file. */
export const TINY = new URL("./fixtures/tiny.yaml", import.meta.url).pathname;

/** The tiny config (seed 0 only) with this pipeline. */
export function tinyConfig(pipeline: unknown[]) {
  const doc = readYamlFile(TINY) as Record<string, unknown>;
  return resolveConfig({ ...doc, pipeline, seeds: [0] });
}

/** The tensors of a safetensors file whose names start with `prefix` (dropped), on the host. */
export function hostTensors(path: string, prefix = ""): Map<string, Float32Array> {
  const f = loadSafetensorsSync(path);
  const out = new Map(
    [...f.tensors].filter(([k]) => k.startsWith(prefix)).map((
      [k, t],
    ) => [k.slice(prefix.length), t.toArray() as Float32Array]),
  );
  for (const t of f.tensors.values()) t.dispose();
  return out;
}
