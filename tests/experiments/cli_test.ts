import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { capture } from "./_tiny.ts";
import { expandSweep, loadSweep, prepareSweep } from "../../experiments/sweep/grid.ts";
import { runLocal } from "../../experiments/sweep/local.ts";
import { folderStates } from "../../experiments/results/status.ts";

const TINY = new URL("./fixtures/tiny.yaml", import.meta.url).pathname;

Deno.test("cli: every command has --help; bad usage and bad configs are one-line errors", async () => {
  const commands = ["run", "resume", "sweep", "evaluate", "collect", "report", "status", "presets"];
  for (const cmd of commands) {
    const r = await capture([cmd, "--help"]);
    assertEquals(r.code, 0);
    assert(r.out.startsWith(`usage: deno task exp ${cmd}`), r.out);
  }
  assert((await capture(["--help"])).out.includes("commands:"));
  const unknown = await capture(["frobnicate"]);
  assertEquals(unknown.code, 2);
  assert(/unknown command "frobnicate"/.test(unknown.out));
  const bad = await capture(["run", "--bogus", TINY]);
  assertEquals(bad.code, 2);
  const missing = await capture(["run", "/nonexistent.yaml"]);
  assertEquals(missing.code, 1);
  assertEquals(missing.out, "error: config file /nonexistent.yaml does not exist");
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(join(dir, "c.yaml"), "name: x\nthreat: {eps: -1}\n");
    const r = await capture(["run", join(dir, "c.yaml")]);
    assertEquals(r.code, 1);
    assertEquals(
      r.out,
      `error: ${join(dir, "c.yaml")}: "threat.eps": must be a number >= 0, got -1`,
    );
    const nf = await capture(["resume", dir]);
    assert(/is not a run folder/.test(nf.out));
    const rep = await capture(["report", "--db", join(dir, "none.sqlite")]);
    assert(/no results database/.test(rep.out), rep.out);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "sweep: the local executor runs the grid two at a time and skips finished runs",
  sanitizeResources: false,
  fn: async () => {
    const root = Deno.makeTempDirSync({ prefix: "topiary-local-" });
    try {
      Deno.writeTextFileSync(
        join(root, "grid.yaml"),
        `name: local\nbase: ${TINY}\nout: ${join(root, "out")}\nseeds: [0]\n` +
          "grid:\n  training.epochs: [1, 2]\n",
      );
      const spec = loadSweep(join(root, "grid.yaml"));
      const runs = expandSweep(spec);
      prepareSweep(spec, runs);
      assertEquals(folderStates([join(root, "out")]).map((s) => s.state), ["partial", "partial"]);
      const failed = await runLocal(runs, { parallel: 2, threads: 1, quiet: true });
      assertEquals(failed, []);
      assertEquals(folderStates([join(root, "out")]).map((s) => s.state), ["complete", "complete"]);
      const r = JSON.parse(Deno.readTextFileSync(join(runs[1].dir, "result.json")));
      assertEquals(r.stages[0].summary.epochs, 2);
      // A second pass has nothing left to do.
      const t0 = performance.now();
      assertEquals(await runLocal(runs, { parallel: 2, quiet: true }), []);
      assert(performance.now() - t0 < 1000);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test("run folders: a changed setting is refused; a setting added to the code is accepted", async () => {
  const { RunFolder } = await import("../../experiments/run/folder.ts");
  const { loadConfigFile } = await import("../../experiments/config/load.ts");
  const dir = Deno.makeTempDirSync();
  try {
    const cfg = loadConfigFile(TINY, 0);
    const f = new RunFolder(dir);
    f.init(cfg);
    // As if written by an older version without evaluation.attacks[i].start.
    const old = JSON.parse(Deno.readTextFileSync(f.configPath));
    for (const a of old.evaluation.attacks) delete a.start;
    Deno.writeTextFileSync(f.configPath, JSON.stringify(old));
    f.init(cfg);
    assertEquals(JSON.parse(Deno.readTextFileSync(f.configPath)), JSON.parse(JSON.stringify(cfg)));
    const changed = { ...cfg, training: { ...cfg.training, epochs: 99 } };
    let msg = "";
    try {
      f.init(changed);
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(/holds a different config \(training\.epochs: 2 vs 99\)/.test(msg), msg);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
