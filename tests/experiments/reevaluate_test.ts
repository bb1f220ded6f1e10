/**
 * Re-evaluating finished runs (`deno task exp evaluate`): the restored final model is the
 * run's (the same evaluation reproduces the run's record for masked and edge-popup models),
 * records are kept and resumed, bad input is refused with one clear error.
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { getDefaultBackend } from "@topiary/core";
import { main } from "../../experiments/cli.ts";
import { reevaluateRun, type Reevaluation } from "../../experiments/run/reevaluate.ts";
import { runExperiment, withoutTimings } from "../../experiments/run/run.ts";
import { tinyConfig } from "./_tiny.ts";

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
  name: "evaluate: the same evaluation reproduces a finished run's record (masked, edge-popup)",
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
        edgepopup: [{ stage: "prune", method: "edgepopup", sparsity: 0.5, epochs: 1 }],
      };
      for (const [name, pipeline] of Object.entries(pipelines)) {
        const dir = join(root, name);
        const run = await runExperiment(tinyConfig(pipeline), dir, { quiet: true });
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
      // The run's own record is untouched.
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
    const lines: string[] = [];
    const { log, error } = console;
    console.log = (...a: unknown[]) => lines.push(a.join(" "));
    console.error = (...a: unknown[]) => lines.push(a.join(" "));
    try {
      await runExperiment(tinyConfig([{ stage: "train", epochs: 1 }]), join(root, "r", "seed-0"), {
        quiet: true,
      });
      const file = join(root, "strong.yaml");
      Deno.writeTextFileSync(file, "evaluation:\n  attacks:\n    - { name: pgd, steps: 7 }\n");
      assertEquals(await main(["evaluate", root, "--attacks", file, "--quiet"]), 0);
      assert(lines.some((l) => /seed-0: evaluation-strong\.json: clean/.test(l)), lines.join());
      const rec = JSON.parse(
        Deno.readTextFileSync(join(root, "r", "seed-0", "evaluation-strong.json")),
      ) as Reevaluation;
      assertEquals(rec.evaluation.attacks[0].steps, 7);
      assertEquals(rec.evaluation.subset, "all");
      lines.length = 0;
      assertEquals(await main(["evaluate", root, "--attacks", file, "--quiet"]), 0);
      assert(lines.some((l) => /kept evaluation-strong\.json/.test(l)), lines.join());
      // collect picks re-evaluations up (also of runs already collected), once; the report
      // shows them next to the run's own robust accuracy.
      const db = join(root, "r.sqlite"), rep = join(root, "report");
      assertEquals(await main(["collect", join(root, "r"), "--db", db]), 0);
      assert(lines.some((l) => /1 new.*; 1 re-evaluations new or changed/.test(l)), lines.join());
      assertEquals(await main(["collect", join(root, "r"), "--db", db]), 0);
      assert(lines.some((l) => /1 unchanged; 0 re-evaluations/.test(l)), lines.join());
      assertEquals(await main(["report", "--db", db, "--out", rep]), 0);
      const md = Deno.readTextFileSync(join(rep, "results.md"));
      const result = JSON.parse(Deno.readTextFileSync(join(root, "r", "seed-0", "result.json")));
      const pct = (x: number) => (100 * x).toFixed(2);
      const row = `| tiny | strong | 1 | 96 | ${pct(rec.record.cleanAccuracy)} | ` +
        `${pct(result.evaluation.robustAccuracy)} | ${pct(rec.record.robustAccuracy)} | ` +
        `pgd-ce ${pct(rec.record.attacks[0].accuracyCumulative)} |`;
      assert(md.includes("## Re-evaluations") && md.includes(row), md);
      assert(Deno.readTextFileSync(join(rep, "index.html")).includes("<h2>Re-evaluations</h2>"));
      lines.length = 0;
      // Unfinished runs under the folder are listed and skipped; none finished is an error.
      const partial = join(root, "r", "seed-1");
      Deno.mkdirSync(partial);
      Deno.copyFileSync(join(root, "r", "seed-0", "config.json"), join(partial, "config.json"));
      lines.length = 0;
      assertEquals(await main(["evaluate", root, "--attacks", file, "--quiet"]), 0);
      assert(lines.some((l) => /skipped .*seed-1: not finished/.test(l)), lines.join());
      assertEquals(await main(["evaluate", partial, "--attacks", file, "--quiet"]), 1);
      Deno.writeTextFileSync(file, "attacks: []\n");
      lines.length = 0;
      assertEquals(await main(["evaluate", root, "--attacks", file]), 1);
      assert(/strong\.yaml: "attacks": unknown key/.test(lines.join()), lines.join());
      lines.length = 0;
      assertEquals(await main(["evaluate", root]), 2);
      assert(/--attacks FILE is required/.test(lines.join()));
      Deno.writeTextFileSync(file, "evaluation: {}\n");
      lines.length = 0;
      assertEquals(await main(["evaluate", join(root, "none"), "--attacks", file]), 1);
      assert(/none does not exist/.test(lines.join()), lines.join());
    } finally {
      console.log = log;
      console.error = error;
      Deno.removeSync(root, { recursive: true });
    }
  },
});
