/**
 * Lottery tickets through the pipeline: IMP rounds with rewinding on a tiny synthetic run.
 * The rewinding point equals the exact training state at step k (bit for bit, checked against
 * a run killed right after step k); rounds prune 50% then 75% of the prunable weights (output
 * layer dense); the reinit and random-mask controls change weights or masks as defined; per-
 * round controls are evaluated at every round and leave the tickets bit-identical.
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { readYamlFile } from "../../experiments/config/load.ts";
import { resolveConfig } from "../../experiments/config/resolve.ts";
import { runExperiment } from "../../experiments/run/run.ts";
import { hostTensors } from "./_tiny.ts";
import { collect } from "../../experiments/results/collect.ts";
import { writeReport } from "../../experiments/results/report.ts";

const TINY = new URL("./fixtures/tiny.yaml", import.meta.url).pathname;
const CLI = new URL("../../experiments/cli.ts", import.meta.url).pathname;

function doc(control: string, extra: Record<string, unknown> = {}) {
  const d = readYamlFile(TINY) as Record<string, unknown>;
  return {
    ...d,
    seeds: [0],
    checkpointEvery: 5,
    pipeline: [{
      stage: "lottery",
      sparsity: 0.75,
      rate: 0.5,
      rewindStep: 5,
      epochs: 1,
      control,
      evaluateRounds: true,
      ...extra,
    }],
  };
}

Deno.test({
  name: "lottery: rewinding to step k is bit-exact; rounds, controls and per-round evaluation",
  sanitizeResources: false,
  fn: async () => {
    const root = Deno.makeTempDirSync({ prefix: "topiary-lottery-" });
    try {
      const dirA = join(root, "imp");
      const r = await runExperiment(resolveConfig(doc("none")), dirA, { quiet: true });
      const s = r.stages[0].summary as {
        method: string;
        rounds: {
          round: number;
          sparsity: number;
          kept: number;
          total: number;
          evaluation: unknown;
        }[];
      };
      assertEquals(s.method, "imp");
      assertEquals(s.rounds.map((x) => x.round), [0, 1, 2]);
      const total = s.rounds[0].total;
      assertEquals(s.rounds.map((x) => x.kept), [
        total,
        total - Math.floor(0.5 * total),
        total - Math.floor(0.75 * total),
      ]);
      assert(s.rounds.every((x) => x.evaluation !== null));
      // The output layer stays dense (open_lth's global pruning).
      const out = r.measurements.layers[r.measurements.layers.length - 1];
      assertEquals(out.nonzero, out.total);

      // A run killed right after step 6 holds the state of step 5 (checkpointEvery 5): the
      // rewinding point must equal it bit for bit.
      const cfgPath = join(root, "b.yaml");
      Deno.writeTextFileSync(cfgPath, JSON.stringify(doc("none")));
      const dirB = join(root, "killed");
      const k = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, "run", cfgPath, "--seed", "0", "--out", dirB, "--quiet"],
        env: { TOPIARY_KILL_AT: "step:6" },
        stdout: "null",
        stderr: "null",
      }).output();
      assertEquals(k.signal, "SIGKILL");
      const atStep5 = hostTensors(join(dirB, "seed-0", "state-lottery-r0.safetensors"), "model.");
      const rewind = hostTensors(join(dirA, "rewind-lottery.safetensors"));
      assertEquals([...rewind.keys()].sort(), [...atStep5.keys()].sort());
      for (const [name, w] of rewind) assertEquals(w, atStep5.get(name), name);

      // Controls: reinit keeps the ticket's mask on other weights; random-mask keeps the
      // per-layer counts with another mask.
      const final = hostTensors(join(dirA, "model-lottery-r2.safetensors"));
      const re = await runExperiment(resolveConfig(doc("reinit")), join(root, "reinit"), {
        quiet: true,
      });
      const rm = await runExperiment(resolveConfig(doc("random-mask")), join(root, "rmask"), {
        quiet: true,
      });
      assertEquals((re.stages[0].summary as { method: string }).method, "imp-reinit");
      const reFinal = hostTensors(join(root, "reinit", "model-lottery-r2.safetensors"));
      const rmFinal = hostTensors(join(root, "rmask", "model-lottery-r2.safetensors"));
      const name = r.measurements.layers[1].name;
      assertEquals(reFinal.get(`${name}_mask`), final.get(`${name}_mask`), "same mask");
      assert(
        reFinal.get(name)!.some((v, i) => v !== 0 && v !== final.get(name)![i]),
        "other weights",
      );
      assert(
        rmFinal.get(`${name}_mask`)!.some((v, i) => v !== final.get(`${name}_mask`)![i]),
        "another mask",
      );
      assertEquals(
        rm.measurements.layers.map((l) => l.nonzero),
        r.measurements.layers.map((l) => l.nonzero),
      );
      // Per-round controls: each round records both controls' evaluations, and the tickets
      // (trained after the controls, from reloaded weights) are bit-identical to the plain run.
      const dirC = join(root, "controls");
      const rc = await runExperiment(
        resolveConfig(doc("none", { roundControls: ["reinit", "random-mask"] })),
        dirC,
        { quiet: true },
      );
      const rounds = (rc.stages[0].summary as {
        rounds: { controls?: Record<string, { evaluation: unknown; control: string }> }[];
      }).rounds;
      assertEquals(rounds[0].controls, undefined);
      for (const x of rounds.slice(1)) {
        assertEquals(Object.keys(x.controls!), ["reinit", "random-mask"]);
        assert(Object.values(x.controls!).every((c) => c.evaluation !== null));
      }
      const cFinal = hostTensors(join(dirC, "model-lottery-r2.safetensors"));
      for (const [k, w] of final) assertEquals(cFinal.get(k), w, k);
      assert.throws(
        () => resolveConfig(doc("none", { roundControls: ["reinit"], evaluateRounds: false })),
        /roundControls.*needs evaluateRounds/,
      );
      assert.throws(
        () => resolveConfig(doc("none", { roundControls: ["reinit", "reinit"] })),
        /lists a control twice/,
      );
      assert.throws(
        () => resolveConfig(doc("none", { roundControls: ["none"] })),
        /roundControls/,
      );
      assert.throws(
        () => resolveConfig(doc("reinit", { roundControls: ["random-mask"] })),
        /roundControls.*needs control: none/,
      );
      // Adding controls to a started (here: finished) run is a different config, not a new
      // code default.
      await assert.rejects(
        () =>
          runExperiment(resolveConfig(doc("none", { roundControls: ["reinit"] })), dirA, {
            quiet: true,
          }),
        /holds a different config \(pipeline\.0\.settings\.roundControls/,
      );
      // The report plots every round's ticket.
      const db = join(root, "results.sqlite");
      collect([dirA, dirC], db);
      const rep = await writeReport(db, join(root, "report"));
      const html = Deno.readTextFileSync(rep.html);
      assert(html.includes('<figure id="fig-lottery">'));
      assert(html.includes(", random-mask"), "the controls' curves are in the lottery figure");
      // ... and in the per-round table: the ticket and both controls at rounds 1 and 2.
      const md = Deno.readTextFileSync(rep.markdown);
      for (const who of ["ticket", "reinit", "random-mask"]) {
        const rows = md.split("\n").filter((l) => l.includes(`| ${who} |`));
        assertEquals(rows.length, who === "ticket" ? 6 : 2, who + "\n" + md);
      }
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
