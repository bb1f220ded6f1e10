/**
 * Pruning stages in the pipeline: pretrain -> prune (LWM or HYDRA) -> fine-tune on a tiny
 * synthetic run; the result record carries sparsity, measurements and histograms; HYDRA never
 * changes the weights it keeps; collect and report fill the pruning sections.
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { collect } from "../../experiments/results/collect.ts";
import { writeReport } from "../../experiments/results/report.ts";
import { reevaluateRun } from "../../experiments/run/reevaluate.ts";
import { runExperiment } from "../../experiments/run/run.ts";
import { hostTensors, tinyConfig } from "./_tiny.ts";

Deno.test({
  name: "pipeline: pretrain, prune (LWM / HYDRA) and fine-tune; records, collect, report",
  sanitizeResources: false,
  fn: async () => {
    const root = Deno.makeTempDirSync({ prefix: "topiary-prune-" });
    try {
      for (const method of ["lwm", "hydra"] as const) {
        const prune = method === "hydra"
          ? { stage: "prune", method, sparsity: 0.9, epochs: 1, lr: 0.1 }
          : { stage: "prune", method, sparsity: 0.9 };
        const cfg = tinyConfig([
          { stage: "train", epochs: 1 },
          prune,
          { stage: "train", name: "finetune", epochs: 1, lr: 0.001 },
        ]);
        const dir = join(root, method);
        const r = await runExperiment(cfg, dir, { quiet: true });
        assertEquals(r.stages.map((s) => s.name), ["train", "prune", "finetune"]);
        for (const l of r.measurements.layers) {
          assertEquals(l.nonzero, l.total - Math.floor(0.9 * l.total + 1e-9), l.name);
        }
        assert(r.measurements.nonzeroMacs < r.measurements.macs / 5);
        assert(r.histograms !== null);
        const sumCounts = (c: number[]) => c.reduce((a, b) => a + b, 0);
        const prunable = r.measurements.layers.reduce((a, l) => a + l.total, 0);
        assertEquals(sumCounts(r.histograms.dense.counts), prunable, "every dense weight");
        assertEquals(
          sumCounts(r.histograms.pruned.counts),
          r.measurements.layers.reduce((a, l) => a + l.nonzero, 0),
          "every kept weight",
        );
        const pre = hostTensors(join(dir, "model-train.safetensors"));
        const pruned = hostTensors(join(dir, "model-prune.safetensors"));
        for (const l of r.measurements.layers) {
          const m = pruned.get(`${l.name}_mask`)!, w = pruned.get(l.name)!, w0 = pre.get(l.name)!;
          for (let i = 0; i < w.length; i++) {
            // Pruned weights are zero; kept ones are the pretrained weights (HYDRA and LWM
            // change no weight, only which are kept).
            assert(w[i] === (m[i] ? w0[i] : 0), `${l.name}[${i}]`);
          }
        }
        if (method === "hydra") {
          const s = r.stages[1].summary as { history: unknown[] };
          assertEquals(s.history.length, 1, "one epoch of score optimisation, validated");
        }
      }
      // A load stage restores weights and masks from another run's stage file ({seed} in the
      // path); a fine-tune on top keeps the loaded masks.
      Deno.copyFileSync(
        join(root, "lwm", "model-prune.safetensors"),
        join(root, "seed-0.safetensors"),
      );
      const loaded = await runExperiment(
        tinyConfig([
          { stage: "load", path: join(root, "seed-{seed}.safetensors") },
          { stage: "train", name: "finetune", epochs: 1, lr: 0.001 },
        ]),
        join(root, "loaded"),
        { quiet: true },
      );
      const ls = loaded.stages[0].summary as { masked: boolean; sha256: string };
      assertEquals(ls.masked, true);
      assertEquals(ls.sha256.length, 64);
      for (const l of loaded.measurements.layers) {
        assertEquals(l.nonzero, l.total - Math.floor(0.9 * l.total + 1e-9), l.name);
      }
      // Gradual pruning while training: cubic schedule to 80% over 5 prunings every 4 steps.
      const g = await runExperiment(
        tinyConfig([{
          stage: "train",
          epochs: 2,
          gradual: { sparsity: 0.8, start: 0, every: 4, count: 5, scope: "global" },
        }]),
        join(root, "gradual"),
        { quiet: true },
      );
      const gs = g.stages[0].summary as {
        method: string;
        sparsity: { kept: number; total: number };
      };
      assertEquals(gs.method, "gradual");
      assertEquals(gs.sparsity.kept, gs.sparsity.total - Math.floor(0.8 * gs.sparsity.total));
      assertEquals(
        g.measurements.layers.reduce((a, l) => a + l.nonzero, 0),
        gs.sparsity.kept,
        "pruned weights are zero at the end",
      );
      // A re-evaluation of the LWM run is a line of its own in the accuracy-vs-sparsity figure.
      await reevaluateRun(join(root, "lwm"), { attacks: [{ name: "pgd", steps: 3 }] }, "strong", {
        quiet: true,
      });
      const db = join(root, "results.sqlite");
      assertEquals(collect([root], db).inserted, 4);
      const rep = await writeReport(db, join(root, "report"));
      const html = Deno.readTextFileSync(rep.html);
      assert(
        Deno.readTextFileSync(join(root, "report", "figures", "sparsity.svg"))
          .includes("robust (strong)"),
      );
      for (
        const id of [
          "accuracy",
          "curves",
          "sparsity",
          "layers",
          "histograms",
          "units",
          "connectivity",
        ]
      ) {
        assert(html.includes(`<figure id="fig-${id}">`), id);
      }
      assert(/% of the non-zero weights lie on no input-to-output path/.test(html));
      assert(
        /\| tiny [^|]*prune\.method=lwm[^|]*\| lwm \| 90\.0% \|/.test(
          Deno.readTextFileSync(rep.markdown),
        ),
      );
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
