/**
 * Crash safety of the pruning stages: a run SIGKILLed inside HYDRA's score optimisation (its
 * scores are checkpointed with the model), inside a lottery round, or inside ADMM or ATMC
 * (Z and U checkpointed) resumes to the result record of an uninterrupted run, timing fields
 * aside.
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { readYamlFile } from "../../experiments/config/load.ts";
import { withoutTimings } from "../../experiments/run/run.ts";

const CLI = new URL("../../experiments/cli.ts", import.meta.url).pathname;
const TINY = new URL("./fixtures/tiny.yaml", import.meta.url).pathname;

async function run(cfg: string, out: string, env: Record<string, string> = {}) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "run", cfg, "--seed", "0", "--out", out, "--quiet"],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, signal: r.signal, text: new TextDecoder().decode(r.stderr) };
}

function result(dir: string): string {
  const r = JSON.parse(Deno.readTextFileSync(join(dir, "seed-0", "result.json")));
  return JSON.stringify(withoutTimings(r));
}

const CASES: [string, unknown[], string, RegExp][] = [
  [
    "HYDRA score optimisation",
    [
      { stage: "train", epochs: 1 },
      { stage: "prune", method: "hydra", sparsity: 0.9, epochs: 1 },
      { stage: "train", name: "finetune", epochs: 1, lr: 0.001 },
    ],
    // train: 5 step checkpoints + epoch end + model file = 7 writes; the 10th is in HYDRA.
    "checkpoint:10",
    /state-prune\.safetensors/,
  ],
  [
    "a lottery round",
    [{ stage: "lottery", sparsity: 0.75, rate: 0.5, rewindStep: 5, epochs: 1 }],
    // round 0: 5 step checkpoints, the rewinding point, epoch end, model = 8; then round 1.
    "checkpoint:11",
    /state-lottery-r1\.safetensors/,
  ],
  [
    "a per-round lottery control",
    [{
      stage: "lottery",
      sparsity: 0.75,
      rate: 0.5,
      rewindStep: 5,
      epochs: 1,
      evaluateRounds: 16,
      roundControls: ["reinit", "random-mask"],
    }],
    // round 0: 8 writes; round 1's ticket: 4 step checkpoints, epoch end, model = 14; then
    // its reinit control (the random-mask control and round 2 follow on resume).
    "checkpoint:16",
    /state-lottery-r1-reinit\.safetensors/,
  ],
  [
    "ADMM, just after a Z/U update",
    [
      { stage: "train", epochs: 1 },
      { stage: "admm", sparsity: 0.8, epochs: 2, every: 1 },
      { stage: "train", name: "retrain", epochs: 1, lr: 0.001 },
    ],
    // train: 7 writes; admm epoch 0: 5 step checkpoints + epoch end (13); the update at the
    // start of epoch 1 happens, then the kill at its first checkpoint: the resumed stage
    // restores the epoch-end state and redoes the update.
    "checkpoint:14",
    /state-admm\.safetensors/,
  ],
  [
    "ATMC (l0 projection, quantization by ADMM)",
    [
      { stage: "train", epochs: 1 },
      { stage: "atmc", sparsity: 0.9, bits: 2, epochs: 1, quantEvery: 4 },
    ],
    "checkpoint:10",
    /state-atmc\.safetensors/,
  ],
  [
    "a training stage after edge-popup (its random network is rebuilt for the histograms)",
    [
      { stage: "prune", method: "edgepopup", sparsity: 0.5, epochs: 1 },
      { stage: "train", name: "finetune", epochs: 1, lr: 0.001 },
    ],
    // edge-popup: 5 step checkpoints + epoch end + model = 7 writes; the 9th is in finetune.
    "checkpoint:9",
    /state-finetune\.safetensors/,
  ],
  [
    "the fine-tuning of a filter-pruned (smaller) network",
    [
      { stage: "train", epochs: 1 },
      { stage: "filter", sparsity: 0.5, units: true },
      { stage: "train", name: "finetune", epochs: 1, lr: 0.001 },
    ],
    // train: 7 writes, the filter stage's model file the 8th; the resumed run rebuilds the
    // smaller layers from the recorded plan before loading them.
    "checkpoint:10",
    /state-finetune\.safetensors/,
  ],
];

for (const [what, pipeline, moment, file] of CASES) {
  Deno.test({
    name: `runs: a run killed inside ${what} resumes to the identical result`,
    sanitizeResources: false,
    fn: async () => {
      const root = Deno.makeTempDirSync({ prefix: "topiary-resume-prune-" });
      try {
        const doc = { ...(readYamlFile(TINY) as Record<string, unknown>), pipeline, seeds: [0] };
        const cfg = join(root, "c.yaml");
        Deno.writeTextFileSync(cfg, JSON.stringify(doc));
        const a = await run(cfg, join(root, "a"));
        assertEquals(a.code, 0, a.text);
        const k = await run(cfg, join(root, "b"), { TOPIARY_KILL_AT: moment });
        assertEquals(k.signal, "SIGKILL", k.text);
        assert(file.test(k.text), `killed in the wrong place: ${k.text}`);
        const b = await run(cfg, join(root, "b"));
        assertEquals(b.code, 0, b.text);
        assertEquals(result(join(root, "b")), result(join(root, "a")));
      } finally {
        Deno.removeSync(root, { recursive: true });
      }
    },
  });
}
