/**
 * Crash hooks for resume tests: `TOPIARY_KILL_AT` makes the run SIGKILL itself at a chosen
 * moment, so a test can stop a real process at a seeded, reproducible point:
 * - `step:N`: right after optimizer step N (1-based count of steps taken) of any stage;
 * - `checkpoint:N`: inside the N-th checkpoint write of this process, after the temporary
 *   file is written and synced, before the rename;
 * - `stage-end:NAME`: after stage NAME's outputs are written, before its done marker.
 * @module
 */

/** The moments a run can be killed at. */
export interface RunHooks {
  /** Called after every optimizer step with the number of steps taken so far. */
  afterStep(stepsTaken: number): void;
  /** Called inside every checkpoint write, between write and rename. */
  beforeRename(tmpPath: string): void;
  /** Called when a stage's outputs are saved, before it is marked done. */
  stageEnd(name: string): void;
}

/** Hooks that do nothing. */
export const noHooks: RunHooks = {
  afterStep() {},
  beforeRename() {},
  stageEnd() {},
};

function die(why: string): never {
  console.error(`TOPIARY_KILL_AT: killing the run ${why}`);
  Deno.kill(Deno.pid, "SIGKILL");
  throw new Error("unreachable: SIGKILL did not stop the process");
}

/** Hooks from `TOPIARY_KILL_AT` (no-ops when unset). */
export function hooksFromEnv(): RunHooks {
  const spec = Deno.env.get("TOPIARY_KILL_AT");
  if (!spec) return noHooks;
  const m = /^(step|checkpoint|stage-end):(.+)$/.exec(spec);
  if (!m) {
    throw new Error(
      `TOPIARY_KILL_AT must be step:N, checkpoint:N or stage-end:NAME, got "${spec}"`,
    );
  }
  const [, kind, arg] = m;
  let writes = 0;
  return {
    afterStep(n) {
      if (kind === "step" && n === Number(arg)) die(`after step ${n}`);
    },
    beforeRename(tmp) {
      if (kind === "checkpoint" && ++writes === Number(arg)) {
        die(`inside checkpoint write ${writes} (${tmp} written, not renamed)`);
      }
    },
    stageEnd(name) {
      if (kind === "stage-end" && name === arg) die(`at the end of stage ${name}`);
    },
  };
}
