/**
 * Helpers of the PyTorch equivalence test: is Debian's PyTorch there, write our tensors as
 * safetensors, run `torch_models.py` on a job.
 * @module
 */

import { encodeSafetensors } from "../../../core/checkpoint/mod.ts";
import type { Tensor } from "@topiary/core";

/** The Python that has Debian's python3-torch. */
export const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./torch_models.py", import.meta.url).pathname;

/** Whether PYTHON can import torch (checked without importing it: fast). */
export function torchAvailable(): boolean {
  try {
    const out = new Deno.Command(PYTHON, {
      args: [
        "-c",
        "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') else 1)",
      ],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * Writes named tensors to `path` as safetensors (num_batches_tracked as I64), with the
 * checkpoint module's encoder but without its atomic fsync'd write: these are scratch files.
 */
export function writeTensors(path: string, tensors: Iterable<readonly [string, Tensor]>): void {
  const host = [...tensors].map(([name, t]) =>
    [name, { dtype: t.dtype, shape: t.shape, data: t.toArray() }] as const
  );
  Deno.writeFileSync(path, encodeSafetensors(host));
}

/** A model entry of a job: our registry name plus constructor arguments. */
export interface TorchSpec {
  name: string;
  model: string;
  args?: Record<string, unknown>;
}

/** What `torch_models.py` reports for a run. */
export interface RunResult {
  error?: string;
  y_train: number;
  y_eval: number;
  gx: number;
  gx_scale: number;
  y_scale: number;
  buffers: number;
  buffer_count: number;
}

/** What `torch_models.py` reports for a names check. */
export interface NamesResult {
  error?: string;
  names: [string, number[], string][];
  params: number;
}

/** The parsed answer of `torch_models.py`. */
export interface TorchResult {
  torch: string;
  runs: Record<string, RunResult>;
  names: Record<string, NamesResult>;
}

/**
 * The Python side, started early: it imports torch while the caller computes, then takes
 * the job on stdin. Call {@link TorchProcess.finish} once, or {@link TorchProcess.kill}.
 */
export class TorchProcess {
  private readonly child: Deno.ChildProcess;
  private readonly output: Promise<Deno.CommandOutput>;

  constructor() {
    this.child = new Deno.Command(PYTHON, {
      args: [SCRIPT, "-"],
      env: { OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.output = this.child.output();
  }

  /** Sends the job and waits for the answer. */
  async finish(dir: string, job: { names: TorchSpec[]; runs: TorchSpec[] }): Promise<TorchResult> {
    const w = this.child.stdin.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify({ dir, ...job }) + "\n"));
    await w.close();
    const out = await this.output;
    const stdout = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr);
      throw new Error(`${PYTHON} ${SCRIPT} failed (exit ${out.code}):\n${stderr}\n${stdout}`);
    }
    return JSON.parse(stdout.trim().split("\n").pop()!);
  }

  /** Stops the process (after a failure on our side). */
  async kill(): Promise<void> {
    try {
      this.child.kill();
    } catch {
      // Already exited.
    }
    await this.output.catch(() => {});
  }
}
