/**
 * Alternating side-by-side timing: ours and PyTorch take turns, repetition by repetition,
 * so drift on a shared machine hits both; medians and ratios are reported.
 * @module
 */

import { getDefaultBackend, randomBits, Tensor, tensor, tidy } from "@topiary/core";
import type { TorchWorker } from "./torch_worker.ts";

/** One benchmark case: our function and the PyTorch worker's case of the same work. */
export interface BenchCase {
  name: string;
  /** Work per iteration, for rates (e.g. FLOPs or images). */
  work: number;
  /** Unit of `work / second` (e.g. "GFLOP/s" with scale 1e-9). */
  unit: string;
  scale: number;
  /** Runs one iteration of ours (synchronous). */
  ours: () => void;
  /** The PyTorch case spec (see torch_worker.py), or null for ours only. */
  torch: Record<string, unknown> | null;
}

/** A PyTorch configuration to compare with (e.g. with jemalloc, with glibc malloc). */
export interface TorchSide {
  label: string;
  worker: TorchWorker;
}

/** PyTorch's figures for a case in one configuration. */
export interface TorchResult {
  label: string;
  /** Per-iteration seconds of each repetition. */
  times: number[];
  rate: number;
  /** torch time / our time (> 1: we are faster). */
  ratio: number;
}

/** Result of a case: per-iteration seconds of each repetition. */
export interface BenchResult {
  name: string;
  unit: string;
  ours: number[];
  oursRate: number;
  torch: TorchResult[];
}

/** Median of a list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Benchmark labels: n classes in [0, 10) from the stateless generator's stream. */
export function benchLabels(n: number, stream: string): Tensor {
  const bits = randomBits([n], { seed: 0, stream }).toArray() as Int32Array;
  return tensor(Int32Array.from(bits, (b) => (b >>> 0) % 10), [n], { dtype: "i32" });
}

/** Waits for an asynchronous device (CUDA): a host read drains its one stream. */
export function syncDevice(): void {
  if (getDefaultBackend().name !== "cpu") tidy(() => void Tensor.fromHost([0], [1]).toArray());
}

/** Seconds per call of `fn`, over `iters` calls, queued device work included. */
export function secondsPer(fn: () => void, iters: number): number {
  syncDevice();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) fn();
  syncDevice();
  return (performance.now() - t0) / 1000 / iters;
}

/** Runs the cases, alternating ours and each PyTorch side, `reps` times (after a warm-up). */
export async function runCases(
  cases: readonly BenchCase[],
  sides: readonly TorchSide[],
  reps = 7,
  targetSeconds = 0.3,
): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const c of cases) {
    const active = c.torch === null ? [] : sides;
    for (const s of active) await s.worker.call({ cmd: "setup", name: c.name, case: c.torch });
    // Warm-up and iteration count from our speed (the same count for every side).
    secondsPer(c.ours, 2);
    const one = secondsPer(c.ours, 3);
    const iters = Math.max(1, Math.min(1000, Math.round(targetSeconds / Math.max(one, 1e-6))));
    for (const s of active) {
      await s.worker.call({ cmd: "run", name: c.name, iters: Math.max(2, Math.ceil(iters / 4)) });
    }
    const ours: number[] = [];
    const theirs: number[][] = active.map(() => []);
    for (let r = 0; r < reps; r++) {
      ours.push(secondsPer(c.ours, iters));
      for (let k = 0; k < active.length; k++) {
        const out = await active[k].worker.call({ cmd: "run", name: c.name, iters });
        theirs[k].push((out.seconds as number) / iters);
      }
    }
    const mo = median(ours);
    const res: BenchResult = {
      name: c.name,
      unit: c.unit,
      ours,
      oursRate: (c.work / mo) * c.scale,
      torch: active.map((s, k) => {
        const mt = median(theirs[k]);
        return { label: s.label, times: theirs[k], rate: (c.work / mt) * c.scale, ratio: mt / mo };
      }),
    };
    results.push(res);
    printResult(res);
  }
  return results;
}

function spread(xs: readonly number[]): string {
  if (!xs.length) return "";
  const m = median(xs);
  const lo = Math.min(...xs), hi = Math.max(...xs);
  return `±${(((hi - lo) / 2 / m) * 100).toFixed(0)}%`;
}

/** Prints one result line. */
export function printResult(r: BenchResult): void {
  const fmt = (v: number) => (v >= 1000 ? v.toFixed(0) : v.toFixed(1));
  const parts = [`${r.name.padEnd(36)} topiary ${fmt(r.oursRate)} ${r.unit} (${spread(r.ours)})`];
  for (const t of r.torch) {
    parts.push(`${t.label} ${fmt(t.rate)} (${spread(t.times)}) ratio ${t.ratio.toFixed(2)}x`);
  }
  console.log(parts.join("  |  "));
}

/** A one-line description of the CPU, from /proc/cpuinfo. */
export function cpuName(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const m = info.match(/model name\s*:\s*(.+)/);
    return m ? m[1].trim() : "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}
