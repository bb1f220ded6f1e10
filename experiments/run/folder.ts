/**
 * A run folder: the resolved config, metrics as JSON lines, training-state checkpoints,
 * each stage's model and done marker, and the final result record. Every file except the
 * metrics log is written atomically (temporary file, sync, rename), so a file that exists is
 * complete; the result record is written last and marks the run complete.
 * @module
 */

import { join } from "node:path";
import { writeFileAtomicSync } from "@topiary/core";
import type { ExperimentConfig } from "../config/schema.ts";
import { SET_ONLY_KEYS } from "../config/_check.ts";

/** What a folder holds. */
export type RunState = "new" | "partial" | "complete";

/** A run's folder and its file layout. */
export class RunFolder {
  /** The folder. */
  readonly dir: string;

  /** Wraps `dir` (nothing is created until {@link init}). */
  constructor(dir: string) {
    this.dir = dir;
  }

  /** The resolved config. */
  get configPath(): string {
    return join(this.dir, "config.json");
  }
  /** Metrics, one JSON record per line. */
  get metricsPath(): string {
    return join(this.dir, "metrics.jsonl");
  }
  /**
   * The library algorithms the run's processes chose (CUDA's cuDNN convolutions), reused by a
   * resumed process so it computes exactly what an unbroken one would.
   */
  get algorithmsPath(): string {
    return join(this.dir, "conv_algorithms.txt");
  }
  /** The final result record: present means complete. */
  get resultPath(): string {
    return join(this.dir, "result.json");
  }
  /** The latest training state of a stage (replaced at every checkpoint). */
  statePath(stage: string): string {
    return join(this.dir, `state-${stage}.safetensors`);
  }
  /** The model at the end of a stage. */
  modelPath(stage: string): string {
    return join(this.dir, `model-${stage}.safetensors`);
  }
  /** A stage's done marker (its summary). */
  donePath(stage: string): string {
    return join(this.dir, `done-${stage}.json`);
  }

  /** Whether the folder is new, part-way through, or complete. */
  state(): RunState {
    if (exists(this.resultPath)) return "complete";
    return exists(this.configPath) ? "partial" : "new";
  }

  /**
   * Creates the folder and writes the config, or checks that an existing folder holds the
   * same config (a different one is an error naming the first differing key). Keys the stored
   * config lacks are settings added to the code since the run started; new keys default to
   * the old behaviour, so they are accepted and the stored config is updated (but not the
   * settings of SET_ONLY_KEYS, which change the run).
   */
  init(config: ExperimentConfig): void {
    Deno.mkdirSync(this.dir, { recursive: true });
    const text = JSON.stringify(config, null, 2) + "\n";
    if (exists(this.configPath)) {
      const old = this.readJson<ExperimentConfig>(this.configPath, "config");
      const diff = firstDifference(old, config, "", true);
      if (diff === null && JSON.stringify(old) !== JSON.stringify(config)) {
        this.writeJson(this.configPath, config, text);
      }
      if (diff !== null) {
        throw new Error(
          `run folder ${this.dir} holds a different config (${diff}); use another folder or ` +
            `remove it`,
        );
      }
      return;
    }
    this.writeJson(this.configPath, config, text);
  }

  /** Reads a JSON file of the folder; a corrupt file is an error naming it. */
  readJson<T>(path: string, what: string): T {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      throw new Error(`run folder: cannot read the ${what} ${path}: ${(e as Error).message}`);
    }
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new Error(
        `run folder: the ${what} ${path} is not valid JSON (${(e as Error).message}); ` +
          `remove it to redo that part of the run`,
      );
    }
  }

  /** Writes a JSON file atomically. */
  writeJson(path: string, value: unknown, text = JSON.stringify(value, null, 2) + "\n"): void {
    writeFileAtomicSync(path, new TextEncoder().encode(text));
  }
}

/** Whether a path exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * The dotted path of the first difference between two JSON values, or null. With
 * `allowAdded`, keys missing from `a` (added since `a` was written) are not differences.
 */
export function firstDifference(
  a: unknown,
  b: unknown,
  path = "",
  allowAdded = false,
): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (
    allowAdded && a === undefined && path !== "" &&
    !SET_ONLY_KEYS.has(path.slice(path.lastIndexOf(".") + 1))
  ) return null;
  const sameShape = Array.isArray(a) === Array.isArray(b) &&
    (!Array.isArray(a) || a.length === (b as unknown[]).length);
  if (typeof a === "object" && a && typeof b === "object" && b && sameShape) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDifference(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
        allowAdded,
      );
      if (d !== null) return d;
    }
    // Every key matched (or was added): no difference.
    return null;
  }
  return `${path || "the document"}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}
