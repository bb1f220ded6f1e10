/**
 * `status`: the run folders under some folders, each new, partial or complete, with its
 * results or how far it got.
 * @module
 */

import { join } from "node:path";
import { readMetrics } from "@topiary/core";
import { RunFolder, type RunState } from "../run/folder.ts";
import type { RunResult } from "../run/run.ts";

/** One run folder's state. */
export interface FolderState {
  dir: string;
  state: RunState;
  detail: string;
}

/** Run folders (folders holding config.json) under `roots`, sorted. */
export function folderStates(roots: string[]): FolderState[] {
  const out: FolderState[] = [];
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    if (entries.some((e) => e.isFile && e.name === "config.json")) {
      out.push(describe(dir));
      return;
    }
    for (const e of entries) if (e.isDirectory) walk(join(dir, e.name));
  };
  for (const r of roots) walk(r);
  return out.sort((a, b) => a.dir.localeCompare(b.dir));
}

function describe(dir: string): FolderState {
  const f = new RunFolder(dir);
  const state = f.state();
  try {
    if (state === "complete") {
      const r = f.readJson<RunResult>(f.resultPath, "result record");
      const ev = r.evaluation;
      return {
        dir,
        state,
        detail: `clean ${(100 * ev.cleanAccuracy).toFixed(2)}%, robust ` +
          `${(100 * ev.robustAccuracy).toFixed(2)}% (n ${ev.n})`,
      };
    }
    const m = readMetrics(f.metricsPath);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name);
    const done = files.filter((n) => /^done-.*\.json$/.test(n)).length;
    if (m.length === 0 && done === 0 && !files.some((n) => n.startsWith("state-"))) {
      return { dir, state, detail: "not started" };
    }
    const last = m.length ? m[m.length - 1] : null;
    const where = last ? `; last metrics: ${last.stage ?? "train"} step ${last.step}` : "";
    return { dir, state, detail: `${done} stage(s) done${where}` };
  } catch (e) {
    return { dir, state, detail: `unreadable: ${(e as Error).message}` };
  }
}
