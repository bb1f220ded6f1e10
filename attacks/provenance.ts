/**
 * Provenance of a result: the code (git commit and dirty flag), the runtime (Deno, V8,
 * TypeScript), the native backend (oneDNN version, ISA, threads, denormal flushing), the
 * machine (OS, CPU model, cores, memory) and the time. Evaluation records and experiment
 * runs embed it so every number can be traced to what produced it.
 * @module
 */

import { getDefaultBackend } from "@topiary/core";
import type { Backend } from "@topiary/ffi";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** The git state of the repository holding the code. */
export interface GitInfo {
  /** `git rev-parse HEAD`, or "unknown" when git or the repository is unavailable. */
  commit: string;
  /**
   * Whether tracked files differ from the commit (`git status --porcelain
   * --untracked-files=no` prints anything; untracked files are ignored, as `git describe
   * --dirty` does); null when unknown.
   */
  dirty: boolean | null;
  /** The directory git was asked about. */
  dir: string;
}

/** Where and with what a result was produced. */
export interface Provenance {
  /** The code's git state. */
  git: GitInfo;
  /** Runtime versions (`Deno.version`). */
  deno: { deno: string; v8: string; typescript: string };
  /** The native backend's `info()`: backend, abi, onednn, isa, threads, flush_denormal, ... */
  backend: Record<string, unknown>;
  /** Operating system and hardware. */
  machine: {
    os: string;
    arch: string;
    /** Kernel release (`Deno.osRelease()`), or "unknown". */
    release: string;
    /** CPU model name from /proc/cpuinfo, or "unknown". */
    cpu: string;
    /** Logical cores (`navigator.hardwareConcurrency`). */
    cores: number;
    /** Total memory in bytes, or null when unavailable. */
    memoryBytes: number | null;
  };
  /** When the provenance was taken (ISO 8601, UTC). */
  timestamp: string;
}

/** Options of {@link collectProvenance}. */
export interface ProvenanceOptions {
  /** Directory inside the repository to describe (default: the one holding this file). */
  repoDir?: string;
  /** Backend to describe (default: the default backend). */
  backend?: Backend;
  /** Timestamp to record (default: now). */
  now?: Date;
}

/** The directory of this source file, or null when it is not a local file. */
function codeDir(): string | null {
  const url = import.meta.url;
  return url.startsWith("file:") ? dirname(fileURLToPath(url)) : null;
}

/** Runs git with `args` in `dir`; its trimmed stdout, or null on any failure. */
function runGit(dir: string, args: string[]): string | null {
  try {
    const out = new Deno.Command("git", {
      args: ["-C", dir, ...args],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null; // git missing, no --allow-run, ...
  }
}

/** The git commit and dirty flag of the repository containing `dir` (default: this code). */
export function gitInfo(dir: string | null = codeDir()): GitInfo {
  if (dir === null) return { commit: "unknown", dirty: null, dir: "unknown" };
  const commit = runGit(dir, ["rev-parse", "HEAD"]);
  if (commit === null || !/^[0-9a-f]{40,64}$/.test(commit)) {
    return { commit: "unknown", dirty: null, dir };
  }
  const status = runGit(dir, ["status", "--porcelain", "--untracked-files=no"]);
  return { commit, dirty: status === null ? null : status.length > 0, dir };
}

/** The CPU model name from /proc/cpuinfo ("unknown" elsewhere). */
export function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const m = info.match(/^(?:model name|Model|Hardware)\s*:\s*(.+)$/m);
    return m ? m[1].trim() : "unknown";
  } catch {
    return "unknown";
  }
}

function tryOr<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

/** Collects the provenance of a result now (see {@link Provenance}); never throws for missing tools. */
export function collectProvenance(opts: ProvenanceOptions = {}): Provenance {
  const backend = opts.backend ?? getDefaultBackend();
  return {
    git: gitInfo(opts.repoDir ?? codeDir()),
    deno: { deno: Deno.version.deno, v8: Deno.version.v8, typescript: Deno.version.typescript },
    backend: { ...backend.info() },
    machine: {
      os: Deno.build.os,
      arch: Deno.build.arch,
      release: tryOr(() => Deno.osRelease(), "unknown"),
      cpu: cpuModel(),
      cores: navigator.hardwareConcurrency,
      memoryBytes: tryOr(() => Deno.systemMemoryInfo().total, null),
    },
    timestamp: (opts.now ?? new Date()).toISOString(),
  };
}
