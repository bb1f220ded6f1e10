/**
 * The Pruning II stages in the pipeline on a tiny synthetic run: edge-popup subnetworks of a
 * random network (adversarial loss), ADMM (train → admm → masked retrain) and ATMC (global l0
 * projection + quantization). Each leaves the sparsity it promises in the result record.
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { keptCount } from "@topiary/core";
import { runExperiment } from "../../experiments/run/run.ts";
import { hostTensors, tinyConfig } from "./_tiny.ts";
import { assertThrowsMsg } from "../_harness.ts";

Deno.test({
  name: "pipeline: edge-popup, ADMM and ATMC stages keep their sparsity promises",
  sanitizeResources: false,
  fn: async () => {
    const root = Deno.makeTempDirSync({ prefix: "topiary-prune2-" });
    try {
      // Edge-popup from the random network, PGD loss: kept weights are ± the scaled constant.
      const ep = await runExperiment(
        tinyConfig([{ stage: "prune", method: "edgepopup", sparsity: 0.5, epochs: 1 }]),
        join(root, "ep"),
        { quiet: true },
      );
      const model = hostTensors(join(root, "ep", "model-prune.safetensors"));
      const scales = (ep.stages[0].summary as { randomWeights: { scales: Record<string, number> } })
        .randomWeights.scales;
      for (const l of ep.measurements.layers) {
        assertEquals(l.nonzero, keptCount(l.total, 0.5), l.name);
        const w = model.get(l.name)!, c = scales[l.name];
        assert(w.every((v) => v === 0 || Math.abs(Math.abs(v) - c) < 1e-6 * c), l.name);
      }
      // The dense side of the histograms is the random network (±c per layer), not the init.
      const h = ep.histograms!.dense;
      const cs = Object.values(scales).flatMap((c) => [c, -c]);
      h.counts.forEach((n, i) => {
        if (n === 0) return;
        const lo = h.edges[i], hi = h.edges[i + 1];
        assert(cs.some((c) => c >= lo - 1e-6 && c <= hi + 1e-6), `bin [${lo}, ${hi}) holds ${n}`);
      });
      // The stage passes `biases` on: frozen random biases, kept as drawn.
      const epb = await runExperiment(
        tinyConfig([
          { stage: "prune", method: "edgepopup", sparsity: 0.5, epochs: 1, biases: "uniform" },
        ]),
        join(root, "epb"),
        { quiet: true },
      );
      const rw = (epb.stages[0].summary as { randomWeights: { biases: string } }).randomWeights;
      assertEquals(rw.biases, "uniform");
      const withBiases = hostTensors(join(root, "epb", "model-prune.safetensors"));
      for (const l of ep.measurements.layers) {
        const name = l.name.replace(/weight$/, "bias");
        assert(model.get(name)!.every((v) => v === 0), `${name}: zero by default`);
        assert(withBiases.get(name)!.some((v) => v !== 0), `${name}: not drawn`);
      }
      // ADMM, filter structure: whole filters removed, then retrained with the masks.
      const admm = await runExperiment(
        tinyConfig([
          { stage: "train", epochs: 1 },
          {
            stage: "admm",
            sparsity: 0.75,
            structure: "filter",
            epochs: 2,
            every: 1,
            optimizer: "sgd",
          },
          { stage: "train", name: "retrain", epochs: 1, lr: 0.001 },
        ]),
        join(root, "admm"),
        { quiet: true },
      );
      const as = admm.stages[1].summary as { updates: { epoch: number; primal: number }[] };
      assertEquals(as.updates.map((u) => u.epoch), [1]);
      const retrained = hostTensors(join(root, "admm", "model-retrain.safetensors"));
      // SmallCNN's output channels / features per weight.
      const outs: Record<string, number> = {
        "0.weight": 16,
        "2.weight": 32,
        "5.weight": 100,
        "7.weight": 10,
      };
      for (const l of admm.measurements.layers) {
        const w = retrained.get(l.name)!, out = outs[l.name], inner = l.total / out;
        let filters = 0;
        for (let o = 0; o < out; o++) {
          if (w.subarray(o * inner, (o + 1) * inner).some((v) => v !== 0)) filters++;
        }
        assertEquals(filters, keptCount(out, 0.75), `${l.name} filters left`);
      }
      // ATMC: one global budget, at most 2^2 + 1 values per layer.
      const atmc = await runExperiment(
        tinyConfig([
          { stage: "train", epochs: 1 },
          { stage: "atmc", sparsity: 0.9, bits: 2, epochs: 1, quantEvery: 4 },
        ]),
        join(root, "atmc"),
        { quiet: true },
      );
      const total = atmc.measurements.layers.reduce((a, l) => a + l.total, 0);
      const kept = atmc.measurements.layers.reduce((a, l) => a + l.nonzero, 0);
      assert(kept <= keptCount(total, 0.9) && kept > keptCount(total, 0.9) * 0.9, `${kept}`);
      const q = hostTensors(join(root, "atmc", "model-atmc.safetensors"));
      for (const l of atmc.measurements.layers) {
        assert(new Set(q.get(l.name)!).size <= 5, `${l.name}: ${new Set(q.get(l.name)!).size}`);
      }
      const s = atmc.stages[1].summary as {
        modelSizeBits: { bits: number; codes: number; index: number };
        denseSizeBits: number;
      };
      assertEquals(s.modelSizeBits.codes, 2 * kept);
      // At 10% density the bitmap (1 bit per weight) is the cheaper index.
      assertEquals(s.modelSizeBits.index, total);
      assertEquals(s.denseSizeBits, 32 * total);
      // 2:4 masks, fine-tuned with them fixed: every group of 4 inputs keeps at most 2.
      const nm = await runExperiment(
        tinyConfig([
          { stage: "train", epochs: 1 },
          { stage: "nm" },
          { stage: "train", name: "finetune", epochs: 1, lr: 0.001 },
        ]),
        join(root, "nm"),
        { quiet: true },
      );
      assertEquals(nm.stages[1].summary.method, "2:4");
      const nmw = hostTensors(join(root, "nm", "model-finetune.safetensors"));
      for (const l of nm.measurements.layers) {
        assertEquals(l.nonzero, l.total / 2, l.name);
        const w = nmw.get(l.name)!;
        for (let g = 0; g < w.length; g += 4) {
          assert(w.subarray(g, g + 4).filter((v) => v !== 0).length <= 2, `${l.name} group ${g}`);
        }
      }
      // Filter pruning: a physically smaller network, fine-tuned dense.
      const f = await runExperiment(
        tinyConfig([
          { stage: "train", epochs: 1 },
          { stage: "filter", sparsity: 0.75, norm: "l2" },
          { stage: "train", name: "finetune", epochs: 1, lr: 0.001 },
        ]),
        join(root, "filter"),
        { quiet: true },
      );
      const fs = f.stages[1].summary as { parametersBefore: number; parametersAfter: number };
      assert(fs.parametersAfter < fs.parametersBefore / 3, JSON.stringify(fs));
      const sizes = Object.fromEntries(f.measurements.layers.map((l) => [l.name, l.total]));
      // conv1 keeps 4 of 16 filters, conv2 8 of 32 (on 4 inputs), fc1 reads 8·7·7 features.
      // Another run loads the smaller network from the file: its filter plans are in the metadata.
      const reload = await runExperiment(
        tinyConfig([{ stage: "load", path: join(root, "filter", "model-finetune.safetensors") }]),
        join(root, "reload"),
        { quiet: true },
      );
      assertEquals(reload.measurements.parameters, f.measurements.parameters);
      assertEquals(reload.evaluation.cleanAccuracy, f.evaluation.cleanAccuracy);
      assertEquals(sizes, {
        "0.weight": 4 * 16,
        "2.weight": 8 * 4 * 16,
        "5.weight": 100 * 8 * 49,
        "7.weight": 1000,
      });
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test("pipeline: Pruning II settings are checked", () => {
  assertThrowsMsg(
    () => tinyConfig([{ stage: "admm", sparsity: 0.5, structure: "rows" }]),
    /pipeline\[0\]\.structure.*must be one of/,
  );
  assertThrowsMsg(() => tinyConfig([{ stage: "admm" }]), /pipeline\[0\]\.sparsity": is required/);
  assertThrowsMsg(
    () => tinyConfig([{ stage: "atmc", sparsity: 0.5, rho: 1 }]),
    /pipeline\[0\]\.rho": applies with `bits` only/,
  );
  assertThrowsMsg(
    () => tinyConfig([{ stage: "prune", method: "lwm", sparsity: 0.5, init: "kaiming_normal" }]),
    /pipeline\[0\]\.init": applies to method edgepopup only/,
  );
  assertThrowsMsg(
    () => tinyConfig([{ stage: "prune", method: "hydra", sparsity: 0.5, biases: "uniform" }]),
    /pipeline\[0\]\.biases": applies to method edgepopup only/,
  );
  assertThrowsMsg(
    () => tinyConfig([{ stage: "prune", method: "edgepopup", sparsity: 0.5, biases: "normal" }]),
    /pipeline\[0\]\.biases.*must be one of/,
  );
  // Zero biases are the default and stay out of the stored settings, so runs written before the
  // setting existed keep the same config (and the same report group).
  const ep = { stage: "prune", method: "edgepopup", sparsity: 0.5 };
  const plain = tinyConfig([ep]).pipeline[0].settings;
  assert.equal("biases" in plain, false);
  assert.deepEqual(tinyConfig([{ ...ep, biases: "zero" }]).pipeline[0].settings, plain);
  assert.equal(
    tinyConfig([{ ...ep, biases: "uniform" }]).pipeline[0].settings.biases,
    "uniform",
  );
  assertThrowsMsg(
    () => tinyConfig([{ stage: "nm", n: 4, m: 4 }]),
    /"pipeline\[0\]\.n": must be below m/,
  );
  for (const stage of ["admm", "atmc", "filter"]) {
    assertThrowsMsg(
      () => tinyConfig([{ stage, sparsity: 1 }]),
      /"pipeline\[0\]\.sparsity": must be a number in \[0, 1\), got 1/,
    );
  }
  assertThrowsMsg(
    () => tinyConfig([{ stage: "prune", method: "edgepopup", sparsity: 1 }]),
    /pipeline\[0\]\.sparsity": must be a number in \[0, 1\)/,
  );
});
