/**
 * Where a training step's time goes, per native entry point (`TOPIARY_PROFILE=1`): a few clean
 * or PGD-10 adversarial training steps of one model after a warm-up, then the per-call profile
 * (on CUDA each call is drained before the next, see ffi/profile.ts) and the step's wall time.
 * Usage: TOPIARY_PROFILE=1 [TOPIARY_DEVICE=cuda] deno run -A experiments/bench/profile.ts
 *        [--model resnet18] [--batch 128] [--steps 3] [--pgd]
 * @module
 */

import { parseArgs } from "node:util";
import { pgdTraining } from "@topiary/attacks";
import {
  createModel,
  getDefaultBackend,
  grad,
  SGD,
  softmaxCrossEntropy,
  tidy,
  uniform,
} from "@topiary/core";
import { profileTable, profilingFromEnv, resetProfile } from "@topiary/ffi";
import { benchLabels, secondsPer } from "./_measure.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "resnet18" },
    batch: { type: "string", default: "128" },
    steps: { type: "string", default: "3" },
    pgd: { type: "boolean", default: false },
  },
});
if (!profilingFromEnv()) {
  throw new Error("profile.ts needs TOPIARY_PROFILE=1 (it wraps the library when it loads)");
}
const batch = Number(a.batch), steps = Number(a.steps);
for (const [k, v] of [["--batch", batch], ["--steps", steps]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
}
const mnist = ["lenet5", "small_cnn", "madry_cnn", "mlp"].includes(a.model!);
const input = mnist ? [1, 28, 28] : [3, 32, 32];
const eps = mnist ? 0.3 : 8 / 255;
const model = createModel(a.model!, { seed: 0 });
const params = model.parameters();
const opt = new SGD(model.namedParameters(), { lr: 0.01, momentum: 0.9 });
const x = uniform([batch, ...input], { seed: 0, stream: "profile-x" }).keep();
const y = benchLabels(batch, "profile-y").keep();
const objective = pgdTraining({
  threat: { norm: "linf", eps },
  seed: 0,
  steps: 10,
  stepSize: eps / 4,
  bnMode: "eval",
});
let step = 0;
const run = () =>
  tidy(() => {
    model.train();
    const loss = a.pgd
      ? objective.loss(model, x, y, { epoch: 0, batch: step, step: step++ }).loss
      : softmaxCrossEntropy(model.forward(x), y);
    opt.step(grad(loss, params));
  });
run(), run(); // warm-up: plans, algorithms, allocator caches
resetProfile();
const seconds = secondsPer(run, steps);
console.log(
  `${a.model} ${a.pgd ? "PGD-10 AT" : "clean"} step, batch ${batch}, on ` +
    `${getDefaultBackend().describe()}: ${(1000 * seconds).toFixed(1)} ms per step ` +
    `(profiled: every call drained), ${steps} steps\n`,
);
console.log(profileTable());
const { algorithms, algorithms_total: total } = getDefaultBackend().info();
if (Array.isArray(algorithms) && algorithms.length > 0) {
  console.log(
    `\nlibrary algorithms chosen (shape: cuDNN algorithm number; ${algorithms.length} of ` +
      `${total} shown):\n${algorithms.join("\n")}`,
  );
}
x.dispose(), y.dispose(), model.dispose();
resetProfile(); // nothing more to report at exit
