/**
 * A sweep through a real one-node Slurm cluster: the grid becomes a job array submitted
 * with sbatch, one task is killed and requeued while it runs (it resumes its run folder),
 * the executor follows the array with squeue, and collect finds every result. Needs root
 * and Debian's slurm-wlm and munge; skipped where they are missing, except under CI=true,
 * where .ci/run installs them and a skip would hide a failure.
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { collect } from "../../experiments/results/collect.ts";
import { expandSweep, loadSweep, prepareSweep } from "../../experiments/sweep/grid.ts";
import { followSlurm, queuedTasks, submitSlurm } from "../../experiments/sweep/slurm.ts";
import { accountingInstalled, slurmInstalled, startSlurm } from "./_slurm.ts";

const CI = Deno.env.get("CI") === "true";
const available = slurmInstalled() && Deno.uid() === 0;
const TINY = new URL("./fixtures/tiny.yaml", import.meta.url).pathname;

Deno.test({
  name: "slurm: a sweep runs as a job array, a requeued task resumes, collect finds all",
  ignore: !available && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    if (!available) {
      throw new Error(
        "CI=true but slurm-wlm/munge are not installed or not root (.ci/run installs them)",
      );
    }
    // Accounting (sacct) where MariaDB and slurmdbd are installed; .ci/run installs them.
    const accounting = accountingInstalled();
    if (CI && !accounting) throw new Error("CI=true but slurmdbd/mariadb-server are not installed");
    const cluster = await startSlurm({ accounting });
    const root = Deno.makeTempDirSync({ prefix: "topiary-sweep-" });
    const oldConf = Deno.env.get("SLURM_CONF");
    Deno.env.set("SLURM_CONF", cluster.env.SLURM_CONF);
    try {
      Deno.writeTextFileSync(
        join(root, "grid.yaml"),
        [
          "name: slurm-test",
          `base: ${TINY}`,
          `out: ${join(root, "out")}`,
          "seeds: [0]",
          "grid:",
          // The third point diverges (NaN loss): its task fails and must be reported.
          "  training.optimizer: [{name: adam, lr: 0.002}, {name: adam, lr: 0.004}, " +
          "{name: sgd, lr: 1.0e+30}]",
          "slurm: {cpusPerTask: 1, mem: 1G, time: '00:10:00'}",
          "",
        ].join("\n"),
      );
      const spec = loadSweep(join(root, "grid.yaml"));
      const runs = expandSweep(spec);
      prepareSweep(spec, runs);
      const sub = await submitSlurm(spec, runs);
      assert(sub !== null);
      assertEquals(sub.dirs.length, 3);
      // Requeue task 0 as soon as it runs: Slurm kills it and starts it again later.
      const t0 = Date.now();
      while ((await queuedTasks(sub.jobId)).get(0) !== "RUNNING") {
        if (Date.now() - t0 > 60_000) throw new Error("task 0 never started");
        await new Promise((r) => setTimeout(r, 200));
      }
      const rq = await new Deno.Command("scontrol", {
        args: ["requeue", `${sub.jobId}_0`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(rq.code, 0, new TextDecoder().decode(rq.stderr));
      const tasks = await followSlurm(sub, { pollSeconds: 1, timeoutSeconds: 240 });
      assertEquals(tasks.map((t) => [t.task, t.complete]), [[0, true], [1, true], [2, false]]);
      assertEquals(tasks[0].state, "COMPLETED");
      // With accounting sacct says FAILED; without it the state is unknown.
      assertEquals(tasks[2].state, accounting ? "FAILED" : "UNKNOWN");
      const log0 = Deno.readTextFileSync(tasks[0].log);
      assert(/restart 1\)/.test(log0), `task 0 ran twice:\n${log0}`);
      const log2 = Deno.readTextFileSync(tasks[2].log);
      assert(/training diverged: the pgd-at loss is NaN/.test(log2), log2);
      const s = collect([join(root, "out")], join(root, "results.sqlite"));
      assertEquals([s.found, s.inserted, s.skipped.length], [2, 2, 0]);
    } finally {
      if (oldConf === undefined) Deno.env.delete("SLURM_CONF");
      else Deno.env.set("SLURM_CONF", oldConf);
      await cluster.stop();
      Deno.removeSync(root, { recursive: true });
    }
  },
});
