/**
 * The MNIST pruning experiment's documented numbers come from its archived runs: every row
 * tables.ts prints from docs/results/prune_mnist/runs is a row of docs/results/pruning_mnist.md.
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A Markdown table row's cells, trimmed. */
function cells(row: string): string {
  return row.split("|").map((c) => c.trim()).join("|");
}

Deno.test("pruning_mnist.md: its tables equal tables.ts on the archived runs", async () => {
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
  const separator = /^\|[-:| ]+\|$/;
  const generated = new TextDecoder().decode(out.stdout).split("\n")
    .filter((l) => l.startsWith("|") && !separator.test(l));
  const doc = new Set(
    Deno.readTextFileSync(`${ROOT}docs/results/pruning_mnist.md`).split("\n")
      .filter((l) => l.startsWith("|")).map(cells),
  );
  // Every row: the headers, the summary (one per model: 8 at least), each seed's cascade, the
  // lottery rounds and their paired differences. A run archived without `tables.ts --write`
  // fails here.
  assert(generated.length >= 4 + 8 + 8 * 3 + 2 * 8, generated.join("\n"));
  for (const r of generated) assert(doc.has(cells(r)), `not in pruning_mnist.md: ${r}`);
});

Deno.test("tables.ts: a folder without the experiment's runs is refused, the page untouched", async () => {
  const page = Deno.readTextFileSync(`${ROOT}docs/results/pruning_mnist.md`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}experiments/configs/prune_mnist/tables.ts`,
      "/no/such/runs",
      "--write",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /no finished run .* under \/no\/such\/runs/);
  assert.equal(Deno.readTextFileSync(`${ROOT}docs/results/pruning_mnist.md`), page);
});
