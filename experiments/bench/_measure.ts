/**
 * Alternating side-by-side timing: ours and PyTorch take turns, repetition by repetition,
 * so drift on a shared machine hits both; medians and ratios are reported.
 * @module
 */

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

/** Result of a case: per-iteration seconds of each repetition. */
export interface BenchResult {
  name: string;
  unit: string;
  ours: number[];
  torch: number[];
  oursRate: number;
  torchRate: number | null;
  /** torch time / our time (> 1: we are faster). */
  ratio: number | null;
}

/** Median of a list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function timeOurs(fn: () => void, iters: number): number {
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) fn();
  return (performance.now() - t0) / 1000 / iters;
}

/** Runs the cases, alternating ours and PyTorch, `reps` times each (after a warm-up). */
export async function runCases(
  cases: readonly BenchCase[],
  torch: TorchWorker | null,
  reps = 7,
  targetSeconds = 0.3,
): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const c of cases) {
    const hasTorch = torch !== null && c.torch !== null;
    if (hasTorch) await torch!.call({ cmd: "setup", name: c.name, case: c.torch });
    // Warm-up and iteration count from our speed (the same count for both sides).
    timeOurs(c.ours, 2);
    const one = timeOurs(c.ours, 3);
    const iters = Math.max(1, Math.min(1000, Math.round(targetSeconds / Math.max(one, 1e-6))));
    if (hasTorch) {
      await torch!.call({ cmd: "run", name: c.name, iters: Math.max(2, Math.ceil(iters / 4)) });
    }
    const ours: number[] = [], theirs: number[] = [];
    for (let r = 0; r < reps; r++) {
      ours.push(timeOurs(c.ours, iters));
      if (hasTorch) {
        const out = await torch!.call({ cmd: "run", name: c.name, iters });
        theirs.push((out.seconds as number) / iters);
      }
    }
    const mo = median(ours), mt = hasTorch ? median(theirs) : null;
    results.push({
      name: c.name,
      unit: c.unit,
      ours,
      torch: theirs,
      oursRate: (c.work / mo) * c.scale,
      torchRate: mt === null ? null : (c.work / mt) * c.scale,
      ratio: mt === null ? null : mt / mo,
    });
    printResult(results[results.length - 1]);
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
  const ours = `${r.oursRate.toFixed(1)} ${r.unit} (${spread(r.ours)})`;
  const theirs = r.torchRate === null
    ? "n/a"
    : `${r.torchRate.toFixed(1)} ${r.unit} (${spread(r.torch)})`;
  const ratio = r.ratio === null ? "" : `  ratio ${r.ratio.toFixed(2)}x`;
  console.log(`${r.name.padEnd(34)} topiary ${ours.padEnd(28)} torch ${theirs.padEnd(28)}${ratio}`);
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
