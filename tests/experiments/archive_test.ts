/**
 * `experiments/configs/_archive.sh`, which keeps the documented experiments across machines:
 * finished runs (with or without training metrics) go into the store with their named model,
 * unfinished runs do not, and `restore` brings them back where a run is missing, plus
 * re-evaluations a restored run lacks.
 * @module
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SCRIPT = new URL("../../experiments/configs/_archive.sh", import.meta.url).pathname;

/** Runs the script copied into `root` (it works relative to its own folder). */
async function archive(root: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [join(root, "experiments/configs/_archive.sh"), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text;
}

/** Writes `files` (name → content) into `dir`. */
function put(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

Deno.test("_archive.sh: archive keeps finished runs, restore brings them back", async () => {
  const root = Deno.makeTempDirSync({ prefix: "topiary-archive-" });
  try {
    put(join(root, "experiments/configs"), { "_archive.sh": readFileSync(SCRIPT, "utf8") });
    const run = (p: string) => join(root, "runs", p);
    // A trained run, a run that only loads and evaluates (no metrics.jsonl), an unfinished run.
    put(run("exp/a/seed-0"), {
      "config.json": "{}",
      "result.json": '{"a":0}',
      "metrics.jsonl": "{}\n",
      "done-train.json": "{}",
      "evaluation-strong.json": "{}",
      "model-train.safetensors": "weights",
      "state-train.safetensors": "optimizer state",
    });
    put(run("exp/b/seed-0"), {
      "config.json": "{}",
      "result.json": '{"b":0}',
      "done-load.json": "{}",
      "model-train.safetensors": "weights b",
    });
    put(run("exp/c/seed-0"), { "config.json": "{}", "metrics.jsonl": "{}\n" });
    const text = await archive(root, "archive", "store", "runs/exp=model-train.safetensors");
    assert.match(text, /archived 2 finished runs into store/);
    const stored = (p: string) => existsSync(join(root, "store", p));
    for (const f of ["config.json", "result.json", "metrics.jsonl", "done-train.json"]) {
      assert(stored(`exp/a/seed-0/${f}`), f);
    }
    assert(stored("exp/a/seed-0/evaluation-strong.json"));
    assert(stored("exp/a/seed-0/model-train.safetensors"));
    assert(!stored("exp/a/seed-0/state-train.safetensors"), "optimizer state stays behind");
    // The run without training is archived whole, and so is everything after it.
    assert(stored("exp/b/seed-0/done-load.json"));
    assert(stored("exp/b/seed-0/model-train.safetensors"));
    assert(!stored("exp/c"), "unfinished runs are not archived");

    // A fresh clone: no runs/. Restore brings back both finished runs.
    Deno.removeSync(join(root, "runs"), { recursive: true });
    put(join(root, "store/exp/a/seed-0"), { "evaluation-more.json": "{}" });
    await archive(root, "restore", "store");
    assert.equal(readFileSync(run("exp/a/seed-0/result.json"), "utf8"), '{"a":0}');
    assert.equal(readFileSync(run("exp/b/seed-0/model-train.safetensors"), "utf8"), "weights b");
    // A re-evaluation archived later reaches a run that is already there; nothing is overwritten.
    put(join(root, "store/exp/b/seed-0"), { "evaluation-late.json": "{}", "result.json": "new" });
    await archive(root, "restore", "store");
    assert(existsSync(run("exp/b/seed-0/evaluation-late.json")));
    assert.equal(readFileSync(run("exp/b/seed-0/result.json"), "utf8"), '{"b":0}');
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
