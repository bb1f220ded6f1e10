/**
 * The local executor: runs a sweep's incomplete runs, N processes at a time, each resuming
 * its folder (so a stopped sweep picks up where it stopped). Output goes to `run.log` in the
 * run folder; a failed run is reported with its exit code and log path.
 * @module
 */

import { join } from "node:path";
import { RunFolder } from "../run/folder.ts";
import type { SweepRun } from "./grid.ts";
import { workerArgv } from "./worker.ts";

/** A run that failed. */
export interface FailedRun {
  dir: string;
  log: string;
  code: number;
}

/** Options of {@link runLocal}. */
export interface LocalOptions {
  /** Processes at a time (default 1). */
  parallel?: number;
  /** Native threads per process when the config leaves it open (default cores / parallel). */
  threads?: number;
  quiet?: boolean;
}

/** Runs the incomplete runs; returns the failures (the complete ones are skipped). */
export async function runLocal(runs: SweepRun[], o: LocalOptions = {}): Promise<FailedRun[]> {
  const parallel = o.parallel ?? 1;
  const threads = o.threads ??
    Math.max(1, Math.floor(navigator.hardwareConcurrency / parallel));
  const todo = runs.filter((r) => new RunFolder(r.dir).state() !== "complete");
  const failed: FailedRun[] = [];
  const say = (s: string) => o.quiet || console.log(s);
  say(`local: ${todo.length} of ${runs.length} runs to do, ${parallel} at a time`);
  let next = 0, finished = 0;
  const worker = async () => {
    while (next < todo.length) {
      const r = todo[next++];
      const log = join(r.dir, "run.log");
      const file = await Deno.open(log, { append: true, create: true });
      const [cmd, ...args] = workerArgv(r.dir);
      const env: Record<string, string> = {};
      if (r.config.threads === null) env.TOPIARY_THREADS = String(threads);
      const child = new Deno.Command(cmd, {
        args,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Both streams append to the log (each chunk in one write call).
      const pump = async (s: ReadableStream<Uint8Array>) => {
        for await (const chunk of s) {
          for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
        }
      };
      await Promise.all([pump(child.stdout), pump(child.stderr)]);
      const status = await child.status;
      file.close();
      finished++;
      if (status.code !== 0) {
        failed.push({ dir: r.dir, log, code: status.code });
        say(
          `[${finished}/${todo.length}] FAILED ${r.point} seed ${r.seed} (exit ${status.code}; log ${log})`,
        );
      } else {
        say(`[${finished}/${todo.length}] done ${r.point} seed ${r.seed}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, worker));
  return failed;
}
