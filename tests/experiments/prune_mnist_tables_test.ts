/**
 * The MNIST pruning experiment's documented numbers come from its archived runs: tables.ts,
 * run on docs/results/prune_mnist/runs, gives the rows of docs/results/pruning_mnist.md for the
 * finished models (dense, and LWM, HYDRA and the lottery tickets at 99%).
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A Markdown table row's cells, trimmed. */
function cells(row: string): string {
  return row.split("|").map((c) => c.trim()).join("|");
}

Deno.test("pruning_mnist.md: the finished rows equal tables.ts on the archived runs", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}experiments/configs/prune_mnist/tables.ts`,
      `${ROOT}docs/results/prune_mnist/runs`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const generated = new TextDecoder().decode(out.stdout).split("\n").filter((l) =>
    l.startsWith("|")
  );
  const doc = new Set(
    Deno.readTextFileSync(`${ROOT}docs/results/pruning_mnist.md`).split("\n")
      .filter((l) => l.startsWith("|")).map(cells),
  );
  const finished = /^\| (dense|LWM 99%|HYDRA 99%|IMP 99%) \|/;
  const rows = generated.filter((l) => finished.test(l));
  // Summary and per-seed rows: 4 + 4 × 3.
  assert.equal(rows.length, 16, rows.join("\n"));
  for (const r of rows) assert(doc.has(cells(r)), `not in pruning_mnist.md: ${r}`);
  // The lottery rounds of all three seeds.
  const round7 = generated.find((l) => l.startsWith("| 7 | 99% | 93.9 / 59.9"));
  assert(round7 && doc.has(cells(round7)), round7);
});
