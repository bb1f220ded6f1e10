/**
 * The documented numbers of the MNIST pruning experiments come from their archived runs: every
 * row each experiment's tables.ts prints from the archives is a row of its results page, and a
 * folder without the experiment's runs is refused before --write can blank the page.
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A Markdown table row's cells, trimmed. */
function cells(row: string): string {
  return row.split("|").map((c) => c.trim()).join("|");
}

/** Runs a tables.ts with arguments; exit code, stdout and stderr. */
async function tables(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}experiments/configs/${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

const PAGES = [
  {
    // Headers, the summary (one per model: 8 at least), each seed's cascade, the lottery
    // rounds and their paired differences.
    script: "prune_mnist/tables.ts",
    archives: ["docs/results/prune_mnist/runs"],
    page: "docs/results/pruning_mnist.md",
    minRows: 4 + 8 + 8 * 3 + 2 * 8,
    refused: ["/no/such/runs"],
  },
  {
    // Headers, the method comparison (dense and 5 methods at 3 sparsities), ATMC's sizes (3),
    // the edge-popup table (6 subnetworks, the random-biases ablation and the dense reference)
    // and the analysis (8 networks).
    script: "prune2_mnist/tables.ts",
    archives: ["docs/results/prune2_mnist/runs", "docs/results/prune_mnist/runs"],
    page: "docs/results/pruning2_mnist.md",
    minRows: 4 + 16 + 3 + 8 + 8,
    // Pruning I's runs alone (they fill its reference rows) are not this experiment's.
    refused: ["/no/such/runs", `${ROOT}docs/results/prune_mnist/runs`],
  },
];

for (const p of PAGES) {
  Deno.test(`${p.page}: its tables equal ${p.script} on the archived runs`, async () => {
    const out = await tables(p.script, p.archives.map((a) => ROOT + a));
    assert.equal(out.code, 0, out.stderr);
    const separator = /^\|[-:| ]+\|$/;
    const generated = out.stdout.split("\n").filter((l) => l.startsWith("|") && !separator.test(l));
    const doc = new Set(
      Deno.readTextFileSync(ROOT + p.page).split("\n").filter((l) => l.startsWith("|")).map(cells),
    );
    // A run archived without `tables.ts --write` fails here.
    assert(generated.length >= p.minRows, generated.join("\n"));
    for (const r of generated) assert(doc.has(cells(r)), `not in ${p.page}: ${r}`);
  });

  for (const folder of p.refused) {
    Deno.test(`${p.script}: ${folder.replace(ROOT, "")} is refused, the page untouched`, async () => {
      const page = Deno.readTextFileSync(ROOT + p.page);
      const out = await tables(p.script, [folder, "--write"]);
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, /no finished run of the experiment under /);
      assert.equal(Deno.readTextFileSync(ROOT + p.page), page);
    });
  }
}
