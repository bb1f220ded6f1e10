/**
 * Helpers of the pipeline tests: the tiny synthetic config with a given pipeline, a saved
 * model's tensors as host arrays, and the CLI run in-process with its output captured.
 * @module
 */

import { loadSafetensorsSync } from "@topiary/core";
import { main } from "../../experiments/cli.ts";
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

/** Runs the experiments CLI in-process, capturing its console output. */
export async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { code: await main(argv), out: lines.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}
