/**
 * `deno task train-clean`: trains a small CNN on MNIST and prints its test accuracy.
 *
 * Settings: SmallCNN (HYDRA's / fast adversarial training's MNIST net), batch 64, Adam
 * (lr 3e-3, cosine decay to 0), random crops with 2-pixel zero padding, 5 epochs, 5,000
 * training images held out for validation;
 * the final weights go to `runs/train-clean/model.safetensors` (loadable by name in PyTorch) with
 * metrics in `runs/train-clean/metrics.jsonl`. Options: --epochs N --seed S --model NAME
 * --dataset mnist|fashion-mnist --batch B --lr LR --crop PIXELS --out DIR --quiet.
 * @module
 */

import { parseArgs } from "node:util";
import {
  Adam,
  backendOfDevice,
  BatchLoader,
  cosineLR,
  createModel,
  DATASET_NAMES,
  type DatasetName,
  evaluate,
  fit,
  getDefaultBackend,
  loadDataset,
  MetricsWriter,
  saveSafetensorsSync,
  setDefaultBackend,
  splitValidation,
} from "@topiary/core";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string", default: "5" },
    seed: { type: "string", default: "0" },
    model: { type: "string", default: "small_cnn" },
    dataset: { type: "string", default: "mnist" },
    batch: { type: "string", default: "64" },
    lr: { type: "string", default: "0.003" },
    out: { type: "string", default: "runs/train-clean" },
    quiet: { type: "boolean", default: false },
    crop: { type: "string", default: "2" },
    device: { type: "string" },
  },
});

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
  }
  return n;
}

const epochs = int("epochs", args.epochs, 1);
const seed = int("seed", args.seed, 0);
const batchSize = int("batch", args.batch, 1);
const lr = Number(args.lr);
if (!(lr > 0)) throw new Error(`--lr must be a positive number, got "${args.lr}"`);

if (args.device) setDefaultBackend(backendOfDevice(args.device, "--device"));
const backend = getDefaultBackend();
console.log(
  `Topiary demo: ${args.model} on ${args.dataset}, ${epochs} epochs, batch ${batchSize}, Adam lr ${lr} ` +
    `with cosine decay, crop padding ${args.crop}, seed ${seed}; ${backend.describe()}`,
);

if (!(DATASET_NAMES as readonly string[]).includes(args.dataset)) {
  throw new Error(`--dataset must be one of ${DATASET_NAMES.join(", ")}, got "${args.dataset}"`);
}
const dataset = args.dataset as DatasetName;
const t0 = performance.now();
const trainFull = await loadDataset(dataset, "train");
const test = await loadDataset(dataset, "test");
const { train, val } = splitValidation(trainFull, { size: 5000, seed });
console.log(`data: ${train.length} train, ${val.length} validation, ${test.length} test images`);

const model = createModel(args.model, { seed });
const crop = int("crop", args.crop, 0);
const trainLoader = new BatchLoader(train, {
  batchSize,
  seed,
  shuffle: true,
  augment: crop > 0 ? { padding: crop, flip: false } : undefined,
});
const valLoader = new BatchLoader(val, { batchSize: 1000, shuffle: false });
const testLoader = new BatchLoader(test, { batchSize: 1000, shuffle: false });
const optimizer = new Adam(model.namedParameters(), { lr });
const totalSteps = epochs * trainLoader.batchesPerEpoch;

Deno.mkdirSync(args.out, { recursive: true });
const metrics = new MetricsWriter(`${args.out}/metrics.jsonl`, { resumeFromStep: 0 });
const result = fit({
  model,
  optimizer,
  schedule: cosineLR({ lr, totalSteps }),
  train: trainLoader,
  validation: valLoader,
  epochs,
  metrics,
  logEvery: 50,
  quiet: args.quiet,
  afterEpoch: (epoch, s) => {
    console.log(
      `epoch ${epoch + 1}: train loss ${s.trainLoss.toFixed(4)}, acc ${
        (100 * s.trainAccuracy).toFixed(2)
      }%; ` +
        `validation acc ${(100 * (s.valAccuracy ?? NaN)).toFixed(2)}%; ${
          s.imagesPerSecond.toFixed(0)
        } img/s`,
    );
  },
});
const testResult = evaluate(model, testLoader);
metrics.write({
  step: result.end.step,
  split: "test",
  loss: testResult.loss,
  accuracy: testResult.accuracy,
});
metrics.close();
saveSafetensorsSync(`${args.out}/model.safetensors`, model.stateDict(), {
  metadata: {
    model: args.model,
    dataset: args.dataset,
    seed: String(seed),
    epochs: String(epochs),
  },
});
const secs = (performance.now() - t0) / 1000;
console.log(
  `test accuracy: ${(100 * testResult.accuracy).toFixed(2)}% on ${testResult.count} images ` +
    `(${secs.toFixed(0)} s in all; weights in ${args.out}/model.safetensors)`,
);
model.dispose();
optimizer.dispose();
