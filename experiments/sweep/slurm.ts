/**
 * The Slurm executor: a sweep's incomplete runs become one job array (`sbatch --array`),
 * one task per run folder. Tasks are requeue-safe (a requeued or restarted task resumes its
 * folder from the last checkpoint; logs are appended). `followSlurm` watches the array with
 * `squeue`, then asks `sacct` (when accounting is on) for each task's final state; the run
 * folders stay the truth about which runs finished.
 * @module
 */

import { join, resolve } from "node:path";
import { RunFolder } from "../run/folder.ts";
import type { SlurmSettings, SweepRun, SweepSpec } from "./grid.ts";
import { workerArgv } from "./worker.ts";

/** A submitted job array. */
export interface SlurmSubmission {
  jobId: string;
  script: string;
  /** Array task i runs folder dirs[i]. */
  dirs: string[];
  /** Log of task i: logPattern with %a replaced by i. */
  logPattern: string;
}

/** One task's outcome. */
export interface SlurmTaskResult {
  task: number;
  dir: string;
  log: string;
  /** "COMPLETED" when the run folder holds its result, else sacct's state or "UNKNOWN". */
  state: string;
  complete: boolean;
}

function q(s: string): string {
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/** The batch script of an array over `dirs` (absolute paths). */
export function slurmScript(
  name: string,
  dirs: string[],
  s: SlurmSettings,
  logPattern: string,
): string {
  const argv = workerArgv("$DIR").map((a) => (a === "$DIR" ? `"$DIR"` : q(a)));
  return [
    "#!/bin/bash",
    `#SBATCH --job-name=topiary-${name}`,
    `#SBATCH --array=0-${dirs.length - 1}`,
    `#SBATCH --output=${logPattern}`,
    "#SBATCH --open-mode=append",
    "#SBATCH --requeue",
    `#SBATCH --cpus-per-task=${s.cpusPerTask}`,
    `#SBATCH --mem=${s.mem}`,
    `#SBATCH --time=${s.time}`,
    ...(s.partition ? [`#SBATCH --partition=${s.partition}`] : []),
    "set -euo pipefail",
    `DIRS=(${dirs.map(q).join(" ")})`,
    'DIR="${DIRS[$SLURM_ARRAY_TASK_ID]}"',
    'echo "topiary: task $SLURM_ARRAY_TASK_ID (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname): $DIR"',
    `export TOPIARY_THREADS="\${TOPIARY_THREADS:-\${SLURM_CPUS_PER_TASK:-${s.cpusPerTask}}}"`,
    `exec ${argv.join(" ")}`,
    "",
  ].join("\n");
}

async function sh(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  let r;
  try {
    r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
      .output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`slurm: \`${cmd}\` is not installed or not on PATH`);
    }
    throw e;
  }
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** Submits the incomplete runs as one job array; null when every run is complete. */
export async function submitSlurm(
  spec: SweepSpec,
  runs: SweepRun[],
): Promise<SlurmSubmission | null> {
  const todo = runs.filter((r) => new RunFolder(r.dir).state() !== "complete");
  if (todo.length === 0) return null;
  const dir = resolve(spec.out, "slurm");
  Deno.mkdirSync(dir, { recursive: true });
  const dirs = todo.map((r) => resolve(r.dir));
  const logPattern = join(dir, "%A_%a.log");
  const text = slurmScript(spec.name, dirs, spec.slurm, logPattern);
  const script = join(dir, `array-${Date.now()}.sh`);
  Deno.writeTextFileSync(script, text, { mode: 0o755 });
  const r = await sh("sbatch", ["--parsable", ...spec.slurm.extraArgs, script]);
  if (r.code !== 0) {
    throw new Error(`sbatch failed (exit ${r.code}): ${r.err.trim() || r.out.trim()}`);
  }
  const jobId = r.out.trim().split(";")[0];
  if (!/^\d+$/.test(jobId)) throw new Error(`sbatch printed no job id: "${r.out.trim()}"`);
  const sub: SlurmSubmission = {
    jobId,
    script,
    dirs,
    logPattern: logPattern.replace("%A", jobId),
  };
  new RunFolder(dir).writeJson(join(dir, `job-${jobId}.json`), sub);
  return sub;
}

/** The array's tasks still queued or running (from squeue), as task index -> state. */
export async function queuedTasks(jobId: string): Promise<Map<number, string>> {
  const r = await sh("squeue", ["-h", "-r", "-j", jobId, "-o", "%i|%T"]);
  const out = new Map<number, string>();
  if (r.code !== 0) {
    // squeue exits non-zero for a job id it no longer knows: nothing queued.
    if (/Invalid job id/i.test(r.err)) return out;
    throw new Error(`squeue failed (exit ${r.code}): ${r.err.trim()}`);
  }
  for (const line of r.out.split("\n")) {
    const m = /^\d+_(\d+)\|(\S+)/.exec(line.trim());
    if (m) out.set(Number(m[1]), m[2]);
  }
  return out;
}

/** Final states of the array's tasks from sacct, or null without accounting. */
export async function accountedStates(jobId: string): Promise<Map<number, string> | null> {
  let r;
  try {
    r = await sh("sacct", ["-n", "-P", "-X", "-j", jobId, "-o", "JobID,State"]);
  } catch {
    return null;
  }
  if (r.code !== 0) return null;
  const out = new Map<number, string>();
  for (const line of r.out.split("\n")) {
    const m = /^\d+_(\d+)\|(\S+)/.exec(line.trim());
    if (m) out.set(Number(m[1]), m[2]);
  }
  return out;
}

/** Options of {@link followSlurm}. */
export interface FollowOptions {
  /** Seconds between squeue polls (default 5). */
  pollSeconds?: number;
  /** Give up after this many seconds (default: never). */
  timeoutSeconds?: number;
  /** Called after every poll with the queued tasks. */
  onPoll?: (queued: Map<number, string>) => void;
}

/** Waits until no task of the array is queued or running, then reports every task. */
export async function followSlurm(
  sub: SlurmSubmission,
  o: FollowOptions = {},
): Promise<SlurmTaskResult[]> {
  const t0 = Date.now();
  while (true) {
    const queued = await queuedTasks(sub.jobId);
    o.onPoll?.(queued);
    if (queued.size === 0) break;
    if (o.timeoutSeconds !== undefined && (Date.now() - t0) / 1000 > o.timeoutSeconds) {
      throw new Error(
        `slurm: job ${sub.jobId} still has ${queued.size} task(s) queued or running after ` +
          `${o.timeoutSeconds} s`,
      );
    }
    await new Promise((r) => setTimeout(r, (o.pollSeconds ?? 5) * 1000));
  }
  const acct = await accountedStates(sub.jobId);
  return sub.dirs.map((dir, task) => {
    const complete = new RunFolder(dir).state() === "complete";
    return {
      task,
      dir,
      log: sub.logPattern.replace("%a", String(task)),
      state: complete ? "COMPLETED" : acct?.get(task) ?? "UNKNOWN",
      complete,
    };
  });
}
