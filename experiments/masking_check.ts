/**
 * Gradient-masking check of a robust MNIST checkpoint: the evaluation cascade of
 * `robust_mnist.ts` (PGD-CE and PGD-CW 50 × 10, APGD-CE, APGD-T) followed by stronger
 * gradient attacks and then Square, on the first n test images, to see whether anything
 * gradient-based closes the gap Square finds.
 *
 * Usage: deno run -A experiments/masking_check.ts [--checkpoint FILE] [--n N]
 *          [--extra plus|vertex|smooth|none] [--beta B] [--queries Q]
 * (FILE: robust_mnist.ts's model.safetensors or a run's model-<stage>.safetensors, whose masks
 * are ignored: pruned weights are zero; Q: Square's queries, default 5000)
 *   plus:   APGD-CE and APGD-DLR with 5 restarts each (AutoAttack+'s extra budget)
 *   vertex: PGD-CE and PGD-CW 50 × 10 from random vertices of the ball
 *   smooth: PGD-CE and PGD-CW 50 × 10, APGD-CE and APGD-T with the gradient through
 *           softplus_β instead of each ReLU (BPDA-style smooth surrogate; --beta, default 10;
 *           a comma-separated list runs the four per β)
 * @module
 */

import { parseArgs } from "node:util";
import {
  apgd,
  apgdTargeted,
  type Attack,
  evaluateRobustness,
  pgd,
  square,
  type ThreatModel,
} from "@topiary/attacks";
import { createModel, loadDataset, subset } from "@topiary/core";
import { loadModelFile } from "./pipeline/_load.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    checkpoint: { type: "string", default: "runs/robust-mnist/seed-0/model.safetensors" },
    n: { type: "string", default: "2000" },
    extra: { type: "string", default: "plus" },
    beta: { type: "string", default: "10" },
    queries: { type: "string", default: "5000" },
  },
});
const n = Number(a.n);
if (!Number.isInteger(n) || n < 1) throw new Error(`--n must be a positive integer, got ${a.n}`);
if (!["plus", "vertex", "smooth", "none"].includes(a.extra!)) {
  throw new Error(`--extra must be plus, vertex, smooth or none, got ${a.extra}`);
}
const queries = Number(a.queries);
if (!Number.isInteger(queries) || queries < 1) {
  throw new Error(`--queries must be a positive integer, got ${a.queries}`);
}
const betas = a.beta!.split(",").map(Number);
if (!betas.every((b) => b > 0)) {
  throw new Error(`--beta must be positive numbers (comma-separated), got ${a.beta}`);
}

const model = createModel("small_cnn", { seed: 0, init: false });
loadModelFile(model, a.checkpoint!);
const test = await loadDataset("mnist", "test");
const first = subset(test, Int32Array.from({ length: Math.min(n, test.length) }, (_, i) => i));
const threat: ThreatModel = { norm: "linf", eps: 0.3 };
const attacks: Attack[] = [
  pgd({ threat, steps: 50, stepSize: 0.01, restarts: 10, loss: "ce" }),
  pgd({ threat, steps: 50, stepSize: 0.01, restarts: 10, loss: "cw" }),
  apgd({ threat, steps: 100, loss: "ce" }),
  apgdTargeted({ threat, steps: 100 }),
];
if (a.extra === "plus") {
  attacks.push(apgd({ threat, steps: 100, loss: "ce", restarts: 5 }));
  attacks.push(apgd({ threat, steps: 100, loss: "dlr", restarts: 5 }));
} else if (a.extra === "smooth") {
  for (const beta of betas) {
    for (const loss of ["ce", "cw"] as const) {
      attacks.push(
        pgd({ threat, steps: 50, stepSize: 0.01, restarts: 10, loss, reluSurrogate: beta }),
      );
    }
    attacks.push(apgd({ threat, steps: 100, loss: "ce", reluSurrogate: beta }));
    attacks.push(apgdTargeted({ threat, steps: 100, reluSurrogate: beta }));
  }
} else if (a.extra === "vertex") {
  for (const loss of ["ce", "cw"] as const) {
    attacks.push(pgd({ threat, steps: 50, stepSize: 0.01, restarts: 10, loss, start: "vertex" }));
  }
}
attacks.push(square({ threat, queries }));
const r = evaluateRobustness(model, first, attacks, { seed: 0, batchSize: 500, label: "check" });
console.log(`${a.checkpoint}, first ${r.n} test images, extra attacks: ${a.extra}`);
for (const x of r.attacks) {
  console.log(
    `  ${x.name.padEnd(16)} +${String(x.newlyBroken).padStart(4)} -> ` +
      `${(100 * x.accuracyCumulative).toFixed(2)}%`,
  );
}
console.log(`sanity flags: ${r.sanity.raised.join(", ") || "none"}`);
model.dispose();
