/**
 * `deno task bench`: Topiary against PyTorch on this machine, alternating repetitions.
 * Usage: deno task bench [--suite all|ops|training|attacks|sparse|gpu] [--reps N] [--no-torch]
 *        [--no-jemalloc] [--only SUBSTRING] [--json FILE]
 * With `TOPIARY_DEVICE=cuda` ours and PyTorch's cases run on the GPU (TF32 as
 * `TOPIARY_CUDA_ALLOW_TF32`, cuDNN restricted to deterministic algorithms as
 * `TOPIARY_CUDA_DETERMINISTIC`, convolution algorithms timed on both sides only with
 * `TOPIARY_CUDA_BENCHMARK=1`); `--suite gpu` is the GPU training benchmark (ResNet-18,
 * VGG-16-BN; clean and PGD-10 steps; batch 128 and 512).
 * @module
 */

import { parseArgs } from "node:util";
import { getDefaultBackend } from "@topiary/core";
import { cpuName, runCases, type TorchSide } from "./_measure.ts";
import { nativeOpCases } from "./native_ops.ts";
import { TorchWorker } from "./torch_worker.ts";
import { trainingCases } from "./training.ts";
import { attackCases } from "./attacks.ts";
import { layerRows, networkRows, TABLE_HEADER } from "./sparse.ts";
import { filterRows, nmRows } from "./structured.ts";
import { gpuTrainingCases } from "./gpu_training.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reps: { type: "string", default: "7" },
    "no-torch": { type: "boolean", default: false },
    "no-jemalloc": { type: "boolean", default: false },
    only: { type: "string" },
    suite: { type: "string", default: "all" },
    json: { type: "string" },
  },
});
const reps = Number(values.reps);
if (!Number.isInteger(reps) || reps < 1) {
  throw new Error(`--reps must be a positive integer, got ${values.reps}`);
}

const backend = getDefaultBackend();
const info = backend.info();
const threads = backend.threads;
console.log(`machine: ${cpuName()}, ${navigator.hardwareConcurrency} cores`);
console.log(
  `topiary: ${backend.describe()} (TOPIARY_THREADS, TOPIARY_DEVICE)`,
);

const suite = values.suite!;
if (!["all", "ops", "training", "attacks", "sparse", "gpu"].includes(suite)) {
  throw new Error(`--suite must be all, ops, training, attacks, sparse or gpu, got "${suite}"`);
}
const onGpu = backend.name === "cuda";
if (suite === "gpu" && !onGpu) {
  throw new Error(`--suite gpu needs TOPIARY_DEVICE=cuda (the default backend is ${backend.name})`);
}
// PyTorch on the same device, with the math settings our CUDA backend reports it runs with.
const torchDevice = onGpu
  ? {
    name: "cuda" as const,
    tf32: info.allow_tf32 === true,
    deterministic: info.deterministic !== false,
    benchmark: info.benchmark === true,
  }
  : undefined;

/** Starts a PyTorch worker, or prints why it is skipped. */
async function startTorch(
  label: string,
  jemalloc: boolean,
  openblasThreads: number,
): Promise<TorchSide | null> {
  const w = await TorchWorker.start(threads, {
    jemalloc: jemalloc && !onGpu,
    openblasThreads,
    device: torchDevice,
  });
  if (typeof w === "string") {
    console.log(`${label}: skipped: ${w}`);
    return null;
  }
  const i = await w.call({ cmd: "info" });
  const env = Object.entries(w.env).map(([k, v]) => `${k}=${v}`).join(" ");
  console.log(`${label}: torch ${i.torch}, threads ${i.threads}, BLAS ${i.blas}; ${env}`);
  return { label, worker: w };
}

if (suite === "sparse") {
  // Not part of "all": a long table of its own (docs/speedups.md).
  const torch = values["no-torch"]
    ? null
    : await startTorch(onGpu ? "torch-cuda" : "torch+jemalloc", true, threads);
  console.log(`repetitions: ${reps}, alternating; medians in ms\n\nper layer:\n${TABLE_HEADER}`);
  const layers = await layerRows(torch?.worker ?? null, reps, values.only);
  console.log(`\nwhole networks (forward, eval mode):\n${TABLE_HEADER}`);
  const nets = await networkRows(torch?.worker ?? null, reps, values.only);
  console.log(`\n2:4 linear layers (ours sparse = the compressed 2:4 layout):\n${TABLE_HEADER}`);
  const nm = await nmRows(torch?.worker ?? null, reps, values.only);
  console.log(
    `\nfilter-pruned networks (ours sparse = the smaller dense network; torch = the full ` +
      `one):\n${TABLE_HEADER}`,
  );
  const filters = await filterRows(torch?.worker ?? null, reps, values.only);
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ cpu: cpuName(), threads, info, layers, nets, nm, filters }, null, 2) + "\n",
    );
  }
  await torch?.worker.close();
  Deno.exit(0);
}

const sides: TorchSide[] = [];
if (!values["no-torch"] && onGpu) {
  const t = await startTorch("torch-cuda", false, 1);
  if (t) sides.push(t);
} else if (!values["no-torch"]) {
  const je = values["no-jemalloc"]
    ? null
    : await startTorch("torch+jemalloc", true, suite === "ops" ? threads : 1);
  if (je) sides.push(je);
  if (suite !== "ops") {
    const gl = await startTorch("torch+glibc", false, 1);
    if (gl) sides.push(gl);
  }
}
console.log(
  `repetitions: ${reps}, alternating; rates are medians; ratio = torch time / topiary time\n`,
);

const cases = [
  ...(suite === "all" || suite === "ops" ? nativeOpCases() : []),
  ...(suite === "all" || suite === "training" ? trainingCases(128) : []),
  ...(suite === "all" || suite === "attacks" ? attackCases(128) : []),
  ...(suite === "gpu" ? gpuTrainingCases() : []),
].filter((c) => !values.only || c.name.includes(values.only));
const results = await runCases(cases, sides, reps);
if (values.json) {
  await Deno.writeTextFile(
    values.json,
    JSON.stringify({ cpu: cpuName(), threads, info, results }, null, 2) + "\n",
  );
}
for (const s of sides) await s.worker.close();
