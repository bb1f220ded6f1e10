/**
 * `experiments/analyze_model.ts`: the analysis of saved model files equals `analyzeNetwork` on
 * the same model and probe, and a filter-pruned file (its plans in the metadata) loads as the
 * smaller network.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BatchLoader,
  copyFromHost,
  createModel,
  loadMnist,
  noGrad,
  saveSafetensorsSync,
} from "@topiary/core";
import { analyzeNetwork, pruneFilters } from "@topiary/pruning";

const SCRIPT = new URL("../../experiments/analyze_model.ts", import.meta.url).pathname;

Deno.test({
  name: "analyze_model.ts: the record's analysis for saved (and filter-pruned) model files",
  sanitizeResources: false,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "topiary-analyze-" });
    const model = createModel("small_cnn", { seed: 2 }).eval();
    const small = createModel("small_cnn", { seed: 2 }).eval();
    try {
      // A masked model: half of fc1's units lose their inputs.
      const w = new Map(model.namedParameters()).get("5.weight")!;
      noGrad(() =>
        copyFromHost(w, (w.toArray() as Float32Array).map((v, i) => (i < 50 * 1568 ? 0 : v)))
      );
      const plain = join(dir, "plain.safetensors");
      saveSafetensorsSync(plain, model.stateDict());
      const plan = pruneFilters(small, { sparsity: 0.5 });
      const filtered = join(dir, "filtered.safetensors");
      saveSafetensorsSync(filtered, small.stateDict(), {
        metadata: { filterPlans: JSON.stringify([plan]) },
      });
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          SCRIPT,
          "--model",
          "small_cnn",
          "--probe",
          "64",
          "--json",
          plain,
          filtered,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      const out = JSON.parse(new TextDecoder().decode(r.stdout));
      const test = await loadMnist("test");
      const b = new BatchLoader(test, { batchSize: 64, shuffle: false }).batch(0, 0);
      try {
        assert.deepEqual(out[plain], analyzeNetwork(model, b.x));
        assert.deepEqual(out[filtered], analyzeNetwork(small, b.x));
        assert.equal(out[plain].layers[2].noInput, 50);
        assert.equal(out[filtered].layers[0].units, 8, "the smaller network was rebuilt");
      } finally {
        b.x.dispose();
        b.y.dispose();
      }
    } finally {
      model.dispose();
      small.dispose();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
