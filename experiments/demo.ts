/**
 * `deno task demo`: the main job in small. Runs `experiments/configs/demo.yaml` (SmallCNN
 * adversarially trained on MNIST with PGD-10, evaluated with PGD restarts and APGD-CE on a
 * fixed 1,000-image test subset), then prunes that network with HYDRA and with least weight
 * magnitude (LWM) to 90% and 99% (layer-wise; first convolution and output layer dense), fine-tunes each
 * briefly with the same adversarial objective, evaluates them the same way, collects every run
 * into `runs/demo/results.sqlite` and writes the report to `runs/demo/report/`. About 6
 * minutes on 2 cores. Running it again resumes an interrupted run or reuses finished ones.
 *
 * Usage: deno task demo [--out DIR] [--quiet]
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { backendOfDevice, getDefaultBackend, setDefaultBackend } from "@topiary/core";
import { loadConfigFile, readYamlFile } from "./config/load.ts";
import { resolveConfig } from "./config/resolve.ts";
import { collect } from "./results/collect.ts";
import { writeReport } from "./results/report.ts";
import { runExperiment } from "./run/run.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: join("runs", "demo") },
    quiet: { type: "boolean", default: false },
    device: { type: "string" },
  },
});
const configPath = new URL("./configs/demo.yaml", import.meta.url).pathname;
const out = a.out!;

try {
  const cfg = loadConfigFile(configPath);
  if (a.device) {
    // --device overrides the config's device (and TOPIARY_DEVICE).
    setDefaultBackend(backendOfDevice(a.device, "--device"));
    cfg.device = a.device as typeof cfg.device;
  }
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
  console.log(`backend ${b.describe()}`);
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
  // The pruned variants start from the dense run's weights (a `load` stage). At 99%
  // layer-wise, SmallCNN's first convolution would keep 3 of 256 weights and its output layer
  // 10 of 1,000 (one per class), so both stay dense.
  const DENSE = ["0.weight", "7.weight"];
  const dense = join(out, `seed-${cfg.seed}`, "model-train.safetensors");
  const base = readYamlFile(configPath) as Record<string, unknown>;
  console.log(
    "pruning: HYDRA (2 epochs of score optimisation, SGD lr 0.1) and LWM, layer-wise to 90% and " +
      "99% with the first convolution and the output layer dense, each fine-tuned for 2 epochs (PGD-10, Adam lr 5e-4)",
  );
  for (const method of ["lwm", "hydra"] as const) {
    for (const sparsity of [0.9, 0.99]) {
      const name = `demo-${method}-${Math.round(sparsity * 100)}`;
      const prune = method === "hydra"
        ? { stage: "prune", method, sparsity, dense: DENSE, epochs: 2, lr: 0.1 }
        : { stage: "prune", method, sparsity, dense: DENSE };
      const pc = resolveConfig({
        ...base,
        name,
        pipeline: [
          { stage: "load", path: dense },
          prune,
          { stage: "train", name: "finetune", epochs: 2, lr: 0.0005 },
        ],
      }, { source: configPath });
      const pr = await runExperiment(pc, join(out, name, `seed-${pc.seed}`), { quiet: a.quiet });
      const e = pr.evaluation;
      console.log(
        `${name}: ${pr.measurements.nonzeroParameters} of ${pr.measurements.parameters} ` +
          `parameters nonzero; clean ${(100 * e.cleanAccuracy).toFixed(2)}%, robust ` +
          `${(100 * e.robustAccuracy).toFixed(2)}%`,
      );
    }
  }
  const db = join(out, "results.sqlite");
  collect([out], db);
  const rep = await writeReport(db, join(out, "report"), { title: "Topiary demo" });
  console.log(`report: ${rep.html} (${rep.figures} figures) and ${rep.markdown}`);
  console.log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
} catch (e) {
  console.error(`demo: ${(e as Error).message}`);
  Deno.exit(1);
}
