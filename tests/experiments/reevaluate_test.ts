/**
 * Re-evaluating finished runs (`deno task exp evaluate`): the restored final model is the
 * run's (the same evaluation reproduces the run's record for masked, HYDRA and edge-popup models
 * from the final stage's model file alone, as archived),
 * records are kept and resumed, bad input is refused with one clear error.
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { getDefaultBackend } from "@topiary/core";
import { reevaluateRun, type Reevaluation } from "../../experiments/run/reevaluate.ts";
import { runExperiment, withoutTimings } from "../../experiments/run/run.ts";
import { capture, tinyConfig } from "./_tiny.ts";

/** The parts of an evaluation record that depend on the model and the attacks only. */
function outcome(r: object): unknown {
  const { provenance: _p, ...rest } = withoutTimings(r) as Record<string, unknown>;
  return rest;
}

const SAME = {
  batchSize: 48,
  attacks: [{ name: "fgsm" }, { name: "pgd", steps: 5, restarts: 2 }],
};

Deno.test({
  name:
    "evaluate: the same evaluation reproduces a finished run's record from its final model file",
  sanitizeResources: false,
  fn: async () => {
    const root = Deno.makeTempDirSync({ prefix: "topiary-reeval-" });
    const live = () => getDefaultBackend().memoryStats().liveBuffers;
    const before = live();
    try {
      const pipelines = {
        lwm: [
          { stage: "train", epochs: 1 },
          { stage: "prune", method: "lwm", sparsity: 0.7 },
          { stage: "train", name: "finetune", epochs: 1 },
        ],
        hydra: [
          { stage: "train", epochs: 1 },
          { stage: "prune", method: "hydra", sparsity: 0.7, epochs: 1 },
          { stage: "train", name: "finetune", epochs: 1 },
        ],
        edgepopup: [{ stage: "prune", method: "edgepopup", sparsity: 0.5, epochs: 1 }],
      };
      for (const [name, pipeline] of Object.entries(pipelines)) {
        const dir = join(root, name);
        const run = await runExperiment(tinyConfig(pipeline), dir, { quiet: true });
        // As in an archived run: only the final stage's model file is kept.
        const final = pipeline[pipeline.length - 1] as { stage: string; name?: string };
        const keep = `model-${final.name ?? final.stage}.safetensors`;
        for (const f of Deno.readDirSync(dir)) {
          if (f.name.endsWith(".safetensors") && f.name !== keep) {
            Deno.removeSync(join(dir, f.name));
          }
        }
        const { record, existed } = await reevaluateRun(dir, SAME, "same", { quiet: true });
        assert(!existed);
        assertEquals(outcome(record.record), outcome(run.evaluation), name);
        const file = JSON.parse(
          Deno.readTextFileSync(join(dir, "evaluation-same.json")),
        ) as Reevaluation;
        assertEquals(file.format, "topiary-reevaluation/1");
        assertEquals(file.run, { name: "tiny", seed: 0 });
        assertEquals(file.evaluation.attacks.length, 2);
        // A stronger cascade (more PGD steps after the run's attacks) never raises robustness.
        const stronger = { ...SAME, attacks: [...SAME.attacks, { name: "pgd", steps: 20 }] };
        const s = await reevaluateRun(dir, stronger, "stronger", { quiet: true });
        assert(s.record.record.robustAccuracy <= run.evaluation.robustAccuracy, name);
        assertEquals(s.record.record.attacks.length, 3);
      }
      assertEquals(live(), before, "native buffers leaked");
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "evaluate: records resume, a different evaluation or an unfinished run is refused",
  sanitizeResources: false,
  fn: async () => {
    const root = Deno.makeTempDirSync({ prefix: "topiary-reeval-" });
    try {
      const dir = join(root, "run");
      await runExperiment(tinyConfig([{ stage: "train", epochs: 1 }]), dir, { quiet: true });
      const first = await reevaluateRun(dir, SAME, "a", { quiet: true });
      const mtime = Deno.statSync(join(dir, "evaluation-a.json")).mtime;
      const again = await reevaluateRun(dir, SAME, "a", { quiet: true });
      assert(again.existed);
      assertEquals(again.record, first.record);
      assertEquals(Deno.statSync(join(dir, "evaluation-a.json")).mtime, mtime);
      await assert.rejects(
        reevaluateRun(dir, { ...SAME, batchSize: 32 }, "a"),
        /evaluation-a\.json holds a different evaluation \(batchSize: 48 vs 32\)/,
      );
      await assert.rejects(reevaluateRun(dir, SAME, "../x"), /must be letters, digits/);
      await assert.rejects(
        reevaluateRun(dir, { attacks: [{ name: "nope" }] }, "b", { source: "f.yaml" }),
        /^ConfigError: f\.yaml: "evaluation\.attacks\[0\]\.name"/,
      );
      // A model file changed since the run finished is refused.
      const model = join(dir, "model-train.safetensors");
      const bytes = Deno.readFileSync(model);
      const changed = bytes.slice();
      changed[changed.length - 1] ^= 1;
      Deno.writeFileSync(model, changed);
      await assert.rejects(
        reevaluateRun(dir, SAME, "c"),
        /model-train\.safetensors is not the model the run evaluated/,
      );
      Deno.writeFileSync(model, bytes);
      const partial = join(root, "partial");
      Deno.mkdirSync(partial);
      Deno.copyFileSync(join(dir, "config.json"), join(partial, "config.json"));
      await assert.rejects(reevaluateRun(partial, SAME, "a"), /is not a finished run/);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli evaluate: evaluates every finished run under a folder, named after the file",
  sanitizeResources: false,
  fn: async () => {
    const root = Deno.makeTempDirSync({ prefix: "topiary-reeval-" });
    const run = join(root, "r", "seed-0");
    /** Runs the CLI; returns its exit status and output. */
    const cli = (...argv: string[]) => capture(argv);
    try {
      await runExperiment(tinyConfig([{ stage: "train", epochs: 1 }]), run, { quiet: true });
      const file = join(root, "strong.yaml");
      Deno.writeTextFileSync(file, "evaluation:\n  attacks:\n    - { name: pgd, steps: 7 }\n");
      let r = await cli("evaluate", root, "--attacks", file, "--quiet");
      assertEquals(r.code, 0);
      assert(/seed-0: evaluation-strong\.json: clean/.test(r.out), r.out);
      const rec = JSON.parse(
        Deno.readTextFileSync(join(run, "evaluation-strong.json")),
      ) as Reevaluation;
      assertEquals(rec.evaluation.attacks[0].steps, 7);
      assertEquals(rec.evaluation.subset, "all");
      r = await cli("evaluate", root, "--attacks", file, "--quiet");
      assert(r.code === 0 && /kept evaluation-strong\.json/.test(r.out), r.out);
      // collect picks re-evaluations up (also of runs already collected), once; the report
      // shows them next to the run's own robust accuracy.
      const db = join(root, "r.sqlite"), rep = join(root, "report");
      r = await cli("collect", join(root, "r"), "--db", db);
      assert(r.code === 0 && /1 new.*; 1 re-evaluations new or changed/.test(r.out), r.out);
      r = await cli("collect", join(root, "r"), "--db", db);
      assert(r.code === 0 && /1 unchanged; 0 re-evaluations/.test(r.out), r.out);
      assertEquals((await cli("report", "--db", db, "--out", rep)).code, 0);
      const md = Deno.readTextFileSync(join(rep, "results.md"));
      const result = JSON.parse(Deno.readTextFileSync(join(run, "result.json")));
      const pct = (x: number) => (100 * x).toFixed(2);
      const row = `| tiny | strong | 1 | 96 | ${pct(rec.record.cleanAccuracy)} | ` +
        `${pct(result.evaluation.robustAccuracy)} | ${pct(rec.record.robustAccuracy)} | ` +
        `pgd-ce ${pct(rec.record.attacks[0].accuracyCumulative)} |`;
      assert(md.includes("## Re-evaluations") && md.includes(row), md);
      assert(Deno.readTextFileSync(join(rep, "index.html")).includes("<h2>Re-evaluations</h2>"));
      // Unfinished runs under the folder are listed and skipped; none finished is an error.
      const partial = join(root, "r", "seed-1");
      Deno.mkdirSync(partial);
      Deno.copyFileSync(join(run, "config.json"), join(partial, "config.json"));
      r = await cli("evaluate", root, "--attacks", file, "--quiet");
      assert(r.code === 0 && /skipped .*seed-1: not finished/.test(r.out), r.out);
      assertEquals((await cli("evaluate", partial, "--attacks", file, "--quiet")).code, 1);
      Deno.writeTextFileSync(file, "attacks: []\n");
      r = await cli("evaluate", root, "--attacks", file);
      assert(r.code === 1 && /strong\.yaml: "attacks": unknown key/.test(r.out), r.out);
      r = await cli("evaluate", root);
      assert(r.code === 2 && /--attacks FILE is required/.test(r.out), r.out);
      Deno.writeTextFileSync(file, "evaluation: {}\n");
      r = await cli("evaluate", join(root, "none"), "--attacks", file);
      assert(r.code === 1 && /none does not exist/.test(r.out), r.out);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
