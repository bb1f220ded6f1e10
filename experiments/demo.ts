/**
 * `deno task demo`: the main job in small. Runs `experiments/configs/demo.yaml` (SmallCNN
 * adversarially trained on MNIST with PGD-10, evaluated with PGD restarts and APGD-CE on a
 * fixed 1,000-image test subset), collects the run into `runs/demo/results.sqlite` and
 * writes the report to `runs/demo/report/`. Under 10 minutes on 2 cores. Running it again
 * resumes an interrupted run or reuses a finished one.
 *
 * Usage: deno task demo [--out DIR] [--quiet]
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { getDefaultBackend } from "@topiary/core";
import { loadConfigFile } from "./config/load.ts";
import { collect } from "./results/collect.ts";
import { writeReport } from "./results/report.ts";
import { runExperiment } from "./run/run.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: join("runs", "demo") },
    quiet: { type: "boolean", default: false },
  },
});
const configPath = new URL("./configs/demo.yaml", import.meta.url).pathname;
const out = a.out!;

try {
  const cfg = loadConfigFile(configPath);
  const b = getDefaultBackend();
  const t = cfg.training, o = t.objective;
  console.log(
    `demo: ${cfg.model.name} on ${cfg.data.name}, ${o.name.toUpperCase()}-${o.steps} adversarial ` +
      `training at ${cfg.threat.norm} eps ${cfg.threat.eps}, ${t.epochs} epochs, batch ` +
      `${t.batchSize}, ${t.optimizer.name} lr ${t.optimizer.lr} (${t.schedule.name}); evaluation ` +
      `on ${cfg.evaluation.subset} test images with ` +
      `${
        cfg.evaluation.attacks.map((x) => `${x.name}${x.restarts > 1 ? ` x${x.restarts}` : ""}`)
          .join(", ")
      }`,
  );
  console.log(`backend ${b.name} (oneDNN ${b.info().onednn}), ${b.threads} threads`);
  console.log(`reduced settings (deviations from preset ${cfg.preset}):`);
  for (const d of cfg.deviations) {
    console.log(`  ${d.key}: ${JSON.stringify(d.used)} instead of ${JSON.stringify(d.preset)}`);
  }
  const t0 = performance.now();
  const r = await runExperiment(cfg, join(out, `seed-${cfg.seed}`), { quiet: a.quiet });
  const ev = r.evaluation;
  console.log(
    `result: clean ${(100 * ev.cleanAccuracy).toFixed(2)}%, ` +
      ev.attacks.map((x) => `after ${x.name} ${(100 * x.accuracyCumulative).toFixed(2)}%`).join(
        ", ",
      ) +
      `; robust (worst case) ${(100 * ev.robustAccuracy).toFixed(2)}% on ${ev.n} test images` +
      (ev.sanity.raised.length ? `; sanity flags: ${ev.sanity.raised.join(", ")}` : ""),
  );
  const db = join(out, "results.sqlite");
  collect([out], db);
  const rep = await writeReport(db, join(out, "report"), { name: cfg.name, title: "Topiary demo" });
  console.log(`report: ${rep.html} (${rep.figures} figures) and ${rep.markdown}`);
  console.log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
} catch (e) {
  console.error(`demo: ${(e as Error).message}`);
  Deno.exit(1);
}
