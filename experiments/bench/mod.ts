/**
 * `deno task bench`: Topiary against PyTorch on this machine, alternating repetitions.
 * Usage: deno task bench [--reps N] [--no-torch] [--no-jemalloc] [--only SUBSTRING]
 * @module
 */

import { parseArgs } from "node:util";
import { getDefaultBackend } from "@topiary/core";
import { cpuName, runCases } from "./_measure.ts";
import { nativeOpCases } from "./native_ops.ts";
import { TorchWorker } from "./torch_worker.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reps: { type: "string", default: "7" },
    "no-torch": { type: "boolean", default: false },
    "no-jemalloc": { type: "boolean", default: false },
    only: { type: "string" },
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
  `topiary: ${info.backend} backend, oneDNN ${info.onednn} (${info.isa}), threads ${threads} (TOPIARY_THREADS)`,
);

let torch: TorchWorker | null = null;
if (!values["no-torch"]) {
  const w = await TorchWorker.start(threads, {
    jemalloc: !values["no-jemalloc"],
    openblasThreads: threads,
  });
  if (typeof w === "string") console.log(`torch: skipped: ${w}`);
  else {
    torch = w;
    const i = await w.call({ cmd: "info" });
    const env = Object.entries(w.env).map(([k, v]) => `${k}=${v}`).join(" ");
    console.log(`torch: ${i.torch}, threads ${i.threads}, BLAS ${i.blas}; ${env}`);
    if (String(i.blas).includes("/blas/libblas")) {
      console.log(
        "torch: note: torch.mm runs on the reference BLAS; apt-get install libopenblas0-openmp for OpenBLAS",
      );
    }
  }
}
console.log(
  `repetitions: ${reps}, alternating; rates are medians; ratio = torch time / topiary time\n`,
);

let cases = nativeOpCases();
if (values.only) cases = cases.filter((c) => c.name.includes(values.only!));
const results = await runCases(cases, torch, reps);
if (values.json) {
  await Deno.writeTextFile(
    values.json,
    JSON.stringify({ cpu: cpuName(), threads, info, results }, null, 2),
  );
}
await torch?.close();
