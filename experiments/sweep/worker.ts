/**
 * The command that runs (or resumes) one run folder in its own process: the same for the
 * local executor and Slurm array tasks.
 * @module
 */

import { fileURLToPath } from "node:url";

/** Absolute path of the experiments CLI. */
export const CLI_PATH: string = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** argv of the process that resumes run folder `dir` (Deno binary first). */
export function workerArgv(dir: string): string[] {
  return [Deno.execPath(), "run", "-A", CLI_PATH, "resume", dir, "--quiet"];
}
