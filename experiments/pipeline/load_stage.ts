/**
 * The `load` stage: starts the pipeline from a saved model (a `model-<stage>.safetensors` of
 * another run, with its masks if it has any), e.g. every pruning variant from one pretrained
 * network, as HYDRA's `--source-net` does; "{seed}" in the path stands for the run's seed.
 * The summary records the file's SHA-256.
 * @module
 */

import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { ConfigError, keyOf, type Raw, str } from "../config/_check.ts";
import { loadStageModel } from "./_load.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";

function runLoad(ctx: StageContext): StageOutcome {
  // "{seed}" in the path names the run's seed (each seed loads its own pretrained model).
  const path = (ctx.stage.settings.path as string).replaceAll("{seed}", String(ctx.config.seed));
  const t0 = performance.now();
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new Error(`${ctx.stage.name}: cannot read ${path}: ${(e as Error).message}`);
  }
  loadStageModel(ctx.model, path, ctx.pruning);
  return {
    seconds: (performance.now() - t0) / 1000,
    summary: {
      path,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      masked: ctx.pruning.masks !== null,
    },
  };
}

/** The load stage's definition. */
export const loadStage: StageDefinition = {
  kind: "load",
  summary: "start from a saved model file (`path`, e.g. another run's model-train.safetensors)",
  keys: ["path"],
  validate(raw: Raw, path: string) {
    if (raw.path === undefined) throw new ConfigError(keyOf(path, "path"), "is required");
    return { path: resolve(str(raw.path, keyOf(path, "path"))) };
  },
  run: runLoad,
};
