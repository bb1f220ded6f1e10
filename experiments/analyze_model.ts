/**
 * The network analysis of saved models (what `analysis` in a result record holds), for model
 * files written before records carried it or from elsewhere: per conv/linear layer, units with
 * no input, no path from the input or to the output, and never active on the first `--probe`
 * test images; the non-zero weights on no input-to-output path.
 *
 * Usage: deno run -A experiments/analyze_model.ts --model small_cnn [--data mnist]
 *          [--probe 500] [--json] FILE...
 * (files: a run's model-<stage>.safetensors; masks in them are ignored, pruned weights are
 * zero; filter-pruned files are rebuilt from their filter plans)
 * @module
 */

import { parseArgs } from "node:util";
import {
  BatchLoader,
  createModel,
  DATASET_NAMES,
  type DatasetName,
  loadDataset,
} from "@topiary/core";
import { analyzeNetwork, type NetworkAnalysis } from "@topiary/pruning";
import { loadModelFile } from "./pipeline/_load.ts";

const { values: a, positionals: files } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    model: { type: "string", default: "small_cnn" },
    data: { type: "string", default: "mnist" },
    probe: { type: "string", default: "500" },
    json: { type: "boolean", default: false },
  },
});
const probe = Number(a.probe);
if (!Number.isInteger(probe) || probe < 1) {
  throw new Error(`--probe must be a positive integer, got ${a.probe}`);
}
if (files.length === 0) throw new Error("give at least one model file");

if (!(DATASET_NAMES as readonly string[]).includes(a.data!)) {
  throw new Error(`--data must be one of ${DATASET_NAMES.join(", ")}, got ${a.data}`);
}
const test = await loadDataset(a.data as DatasetName, "test");
const batch = new BatchLoader(test, { batchSize: Math.min(probe, test.length), shuffle: false })
  .batch(0, 0);
const out: Record<string, NetworkAnalysis> = {};
for (const file of files) {
  const model = createModel(a.model!, { seed: 0 }).eval();
  try {
    loadModelFile(model, file);
    const r = analyzeNetwork(model, batch.x);
    out[file] = r;
    if (a.json) continue;
    const pct = (100 * r.disconnectedWeights / Math.max(1, r.nonzeroWeights)).toFixed(1);
    console.log(
      `${file}: ${r.disconnectedWeights} of ${r.nonzeroWeights} non-zero weights on no ` +
        `input-to-output path (${pct}%)`,
    );
    for (const l of r.layers) {
      console.log(
        `  ${l.name} (${l.kind}, ${l.units} units, ${l.nonzero}/${l.weights} weights): ` +
          `no input ${l.noInput}, unreachable ${l.unreachable}, no path to output ` +
          `${l.noPathToOutput}, never active ${l.deadOnProbe ?? "-"}`,
      );
    }
  } finally {
    model.dispose();
  }
}
if (a.json) console.log(JSON.stringify(out, null, 2));
batch.x.dispose();
batch.y.dispose();
