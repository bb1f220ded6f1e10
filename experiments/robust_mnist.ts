/**
 * The documented robust-training experiment of the attacks issue: SmallCNN adversarially
 * trained on MNIST (eps = 0.3, Linf) with PGD, then evaluated on the test set with PGD-50
 * x 10 restarts and the point-wise worst case over PGD-CE, PGD-CW, APGD-CE, APGD-T and
 * Square. A run is a folder (`runs/robust-mnist/seed-S` by default) holding the settings,
 * metrics as JSON lines, the training state after every epoch (an interrupted run resumes
 * from it), the final weights and the evaluation record.
 *
 * Usage: deno run -A experiments/robust_mnist.ts [--seed S] [--epochs E] [--train-steps K]
 *          [--eval-n N] [--eval-restarts R] [--square-queries Q] [--smooth B,B|none]
 *          [--out DIR] [--quick]
 *
 * `--smooth` (default 10,30,3) adds, before Square, PGD-CE and PGD-CW 50 x R, APGD-CE and
 * APGD-T with the gradient taken through softplus_B instead of each ReLU, for each B: the
 * adaptive attacks that close the gap Square finds on adversarially trained MNIST networks
 * (`--quick` leaves them out unless `--smooth` is given).
 * @module
 */

import { parseArgs } from "node:util";
import {
  apgd,
  apgdTargeted,
  collectProvenance,
  evaluateRobustness,
  pgd,
  pgdTraining,
  square,
  type ThreatModel,
  writeRobustnessRecord,
} from "@topiary/attacks";
import {
  Adam,
  BatchLoader,
  cosineLR,
  createModel,
  fit,
  getDefaultBackend,
  loadDataset,
  MetricsWriter,
  restoreTrainStateSync,
  saveSafetensorsSync,
  saveTrainStateSync,
  splitValidation,
  subset,
} from "@topiary/core";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    seed: { type: "string", default: "0" },
    epochs: { type: "string", default: "20" },
    "train-steps": { type: "string", default: "40" },
    "train-step-size": { type: "string", default: "0.01" },
    "warmup-epochs": { type: "string", default: "2" },
    lr: { type: "string", default: "0.001" },
    batch: { type: "string", default: "128" },
    "eval-n": { type: "string", default: "10000" },
    "eval-restarts": { type: "string", default: "10" },
    "square-queries": { type: "string", default: "5000" },
    smooth: { type: "string" },
    out: { type: "string" },
    quick: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
  },
});

function num(name: string, v: string | undefined, int: boolean, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) {
    throw new Error(`--${name} must be ${int ? "an integer" : "a number"} >= ${min}, got "${v}"`);
  }
  return n;
}

const quick = a.quick;
const seed = num("seed", a.seed, true, 0);
const epochs = quick ? 1 : num("epochs", a.epochs, true, 1);
const trainSteps = num("train-steps", a["train-steps"], true, 1);
const trainStepSize = num("train-step-size", a["train-step-size"], false, 0);
const lr = num("lr", a.lr, false, 0);
const warmupEpochs = num("warmup-epochs", a["warmup-epochs"], true, 0);
const batchSize = num("batch", a.batch, true, 1);
const evalN = quick ? 200 : num("eval-n", a["eval-n"], true, 1);
const evalRestarts = quick ? 1 : num("eval-restarts", a["eval-restarts"], true, 1);
const squareQueries = quick ? 100 : num("square-queries", a["square-queries"], true, 1);
// Default 10,30,3; --quick: none unless asked for.
const smoothArg = a.smooth ?? (quick ? "none" : "10,30,3");
const smoothBetas = smoothArg === "none" ? [] : smoothArg.split(",").map((v) => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new Error(
      `--smooth must be "none" or positive numbers (comma-separated), got "${smoothArg}"`,
    );
  }
  return n;
});
if (new Set(smoothBetas).size !== smoothBetas.length) {
  throw new Error(`--smooth lists a beta twice: "${smoothArg}"`);
}
const out = a.out ?? `runs/robust-mnist${quick ? "-quick" : ""}/seed-${seed}`;
const threat: ThreatModel = { norm: "linf", eps: 0.3 };

const settings = {
  experiment: "robust-mnist",
  dataset: "mnist",
  model: "small_cnn",
  seed,
  threat,
  training: {
    objective: "pgd-at (Madry et al.)",
    attack: {
      steps: trainSteps,
      stepSize: trainStepSize,
      randomStart: true,
      loss: "ce",
      bnMode: "eval",
    },
    epsWarmup: `linear over the first ${warmupEpochs} epochs (step sizes scale with eps)`,
    optimizer: { name: "adam", lr, schedule: "cosine to 0 over the run" },
    epochs,
    batchSize,
    validation:
      "5,000 training images held out (seeded); PGD-10 robust accuracy on 1,000 of them each epoch",
  },
  evaluation: {
    examples: evalN,
    attacks: [
      `pgd-ce 50 steps x ${evalRestarts} restarts, step 0.01`,
      `pgd-cw 50 steps x ${evalRestarts} restarts, step 0.01`,
      "apgd-ce 100 steps",
      "apgd-t 100 steps, 9 targets",
      ...smoothBetas.map((beta) =>
        `smooth (softplus beta ${beta} for each ReLU's gradient): pgd-ce and pgd-cw 50 steps x ` +
        `${evalRestarts} restarts step 0.01, apgd-ce 100 steps, apgd-t 100 steps 9 targets`
      ),
      `square ${squareQueries} queries`,
    ],
  },
  quick,
};

Deno.mkdirSync(out, { recursive: true });
const b = getDefaultBackend();
console.log(
  `robust-mnist: seed ${seed}, ${epochs} epochs of PGD-${trainSteps} training, eps 0.3; out ${out}`,
);
console.log(
  `backend ${b.describe()}${quick ? " (quick settings)" : ""}`,
);
Deno.writeTextFileSync(`${out}/settings.json`, JSON.stringify(settings, null, 2) + "\n");

const trainFull = await loadDataset("mnist", "train");
const test = await loadDataset("mnist", "test");
const { train, val } = splitValidation(trainFull, { size: 5000, seed });
const valRobust = subset(val, Int32Array.from({ length: 1000 }, (_, i) => i), "mnist-val-1000");
const trainData = quick ? subset(train, Int32Array.from({ length: 2048 }, (_, i) => i)) : train;

const model = createModel("small_cnn", { seed });
const optimizer = new Adam(model.namedParameters(), { lr });
const loader = new BatchLoader(trainData, { batchSize, seed });
const totalSteps = epochs * loader.batchesPerEpoch;
const objective = pgdTraining({
  threat,
  seed,
  steps: trainSteps,
  stepSize: trainStepSize,
  bnMode: "eval",
  warmup: warmupEpochs > 0
    ? { epochs: warmupEpochs, stepsPerEpoch: loader.batchesPerEpoch }
    : undefined,
});

const statePath = `${out}/state.safetensors`;
let start = { epoch: 0, batch: 0, step: 0 };
let trainSeconds = 0;
try {
  Deno.statSync(statePath);
  const s = restoreTrainStateSync(statePath, { model, optimizer });
  start = { epoch: s.epoch, batch: s.batch, step: s.step };
  trainSeconds = Number((s.metadata as Record<string, unknown>)?.trainSeconds ?? 0);
  console.log(`resuming at epoch ${s.epoch}, batch ${s.batch}, step ${s.step}`);
} catch (e) {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}

const metrics = new MetricsWriter(`${out}/metrics.jsonl`, { resumeFromStep: start.step });
const valAttack = pgd({ threat, steps: 10, stepSize: 0.03 });
let t0 = performance.now();
fit({
  model,
  optimizer,
  schedule: cosineLR({ lr, totalSteps }),
  train: loader,
  epochs,
  objective,
  metrics,
  logEvery: 50,
  start,
  quiet: a.quiet,
  label: `PGD-${trainSteps} AT`,
  afterEpoch: (epoch, s, next) => {
    const r = evaluateRobustness(model, valRobust, [valAttack], {
      seed,
      batchSize: 500,
      quiet: true,
      sanity: false,
    });
    trainSeconds += (performance.now() - t0) / 1000;
    t0 = performance.now();
    metrics.write({
      step: next.step,
      epoch,
      split: "val",
      cleanAccuracy: r.cleanAccuracy,
      robustAccuracy: r.robustAccuracy,
      attack: "pgd-10",
    });
    metrics.sync();
    saveTrainStateSync(statePath, { model, optimizer, seed, ...next, metadata: { trainSeconds } });
    console.log(
      `epoch ${epoch + 1}/${epochs}: train loss ${s.trainLoss.toFixed(4)}, adversarial train acc ` +
        `${(100 * s.trainAccuracy).toFixed(2)}%; validation clean ${
          (100 * r.cleanAccuracy).toFixed(2)
        }%, ` +
        `PGD-10 ${(100 * r.robustAccuracy).toFixed(2)}%; ${s.seconds.toFixed(0)} s`,
    );
  },
});
metrics.close();
saveSafetensorsSync(`${out}/model.safetensors`, model.stateDict(), {
  metadata: { model: "small_cnn", seed: String(seed), experiment: "robust-mnist" },
});
console.log(`training: ${trainSeconds.toFixed(0)} s; evaluating on ${evalN} test images`);

const attacks = [
  pgd({ threat, steps: 50, stepSize: 0.01, restarts: evalRestarts, loss: "ce" }),
  pgd({ threat, steps: 50, stepSize: 0.01, restarts: evalRestarts, loss: "cw" }),
  apgd({ threat, steps: 100, loss: "ce" }),
  apgdTargeted({ threat, steps: 100 }),
  ...smoothBetas.flatMap((beta) => [
    pgd({
      threat,
      steps: 50,
      stepSize: 0.01,
      restarts: evalRestarts,
      loss: "ce",
      reluSurrogate: beta,
    }),
    pgd({
      threat,
      steps: 50,
      stepSize: 0.01,
      restarts: evalRestarts,
      loss: "cw",
      reluSurrogate: beta,
    }),
    apgd({ threat, steps: 100, loss: "ce", reluSurrogate: beta }),
    apgdTargeted({ threat, steps: 100, reluSurrogate: beta }),
  ]),
  square({ threat, queries: squareQueries }),
];
const record = evaluateRobustness(model, test, attacks, {
  seed,
  n: evalN < test.length ? evalN : undefined,
  batchSize: 500,
  modelName: "small_cnn",
  checkpoint: `${out}/model.safetensors`,
  split: "test",
  quiet: a.quiet,
  label: "robust eval",
});
const result = { settings, trainSeconds, evaluation: record, provenance: collectProvenance() };
writeRobustnessRecord(`${out}/robustness.json`, record);
Deno.writeTextFileSync(`${out}/result.json`, JSON.stringify(result, null, 2) + "\n");
console.log(
  `test: clean ${(100 * record.cleanAccuracy).toFixed(2)}%, ` +
    record.attacks.map((x) => `after ${x.name} ${(100 * x.accuracyCumulative).toFixed(2)}%`).join(
      ", ",
    ) +
    `; worst case ${(100 * record.robustAccuracy).toFixed(2)}%; sanity flags: ` +
    (record.sanity.raised.length ? record.sanity.raised.join(", ") : "none"),
);
model.dispose();
optimizer.dispose();
