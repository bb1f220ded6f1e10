/**
 * `@topiary/experiments`: configs, pipelines, sweeps, reports, benchmarks and the demo.
 * @module
 */

export { type BenchCase, type BenchResult, median, runCases } from "./bench/_measure.ts";
export { TorchWorker } from "./bench/torch_worker.ts";
