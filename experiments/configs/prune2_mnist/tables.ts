/**
 * The tables of docs/results/pruning2_mnist.md, from the finished runs (result.json and
 * evaluation-strong.json) of this experiment and of Pruning I: ADMM and ATMC next to LWM, HYDRA
 * and IMP at each sparsity (mean ± sample std over seeds), ATMC's model sizes, the edge-popup
 * subnetworks against the dense robust network, and the connectivity analysis of dense and
 * 99%-sparse networks, clean and robust. Runs are found through the sweeps' own expansion, so
 * folder names never drift from the configs. Prints Markdown, or with --write puts the tables in
 * place of the page's (then `deno fmt` aligns them).
 *   deno run -A experiments/configs/prune2_mnist/tables.ts [RUNS [PRUNING1_RUNS]] [--write]
 * RUNS holds runs/prune2-mnist (default "runs"; the archive: docs/results/prune2_mnist/runs),
 * PRUNING1_RUNS the Pruning I runs (default RUNS; the archive: docs/results/prune_mnist/runs).
 * @module
 */

import { join, relative } from "node:path";
import type { RobustnessRecord } from "@topiary/attacks";
import { meanStd } from "../../results/_stats.ts";
import { pct, readJson, seedsCell, tablesOf, writeTables } from "../../results/page_tables.ts";
import type { Reevaluation } from "../../run/reevaluate.ts";
import type { RunResult } from "../../run/run.ts";
import { expandSweep, loadSweep, type SweepRun } from "../../sweep/grid.ts";

const args = Deno.args.filter((a) => a !== "--write");
const write = Deno.args.includes("--write");
const runs = args[0] ?? "runs";
const pruning1 = args[1] ?? runs;
const here = new URL(".", import.meta.url).pathname;
const PAGE = new URL("../../../docs/results/pruning2_mnist.md", import.meta.url).pathname;
const SEEDS = [0, 1, 2];
const SPARSITIES = [0.9, 0.95, 0.99];

/** A finished run: its record and, when measured, the strong re-evaluation. */
interface Found {
  seed: number;
  run: RunResult;
  strong: RobustnessRecord | null;
}

/** The finished runs in `dir` pattern ({s}: the seed) under `root`. */
function find(root: string, pattern: string): Found[] {
  return SEEDS.flatMap((seed) => {
    const dir = join(root, pattern.replace("{s}", String(seed)));
    const run = readJson<RunResult>(join(dir, "result.json"));
    const strong = readJson<Reevaluation>(join(dir, "evaluation-strong.json"));
    return run ? [{ seed, run, strong: strong?.record ?? null }] : [];
  });
}

/** The runs of a sweep config, as folders relative to runs/ (its `out` starts with runs/). */
function sweepRuns(file: string): (SweepRun & { rel: string })[] {
  return expandSweep(loadSweep(join(here, file))).map((r) => ({
    ...r,
    rel: relative("runs", r.dir).replace(/seed-\d+$/, "seed-{s}"),
  })).filter((r) => r.seed === SEEDS[0]);
}

/** The pipeline stage of a grid point with this kind. */
function stageOf(r: SweepRun, kind: string): Record<string, unknown> {
  const pipeline = (r.values.pipeline ?? r.config.pipeline) as Record<string, unknown>[];
  const s = pipeline.find((p) => p.stage === kind || p.kind === kind);
  if (!s) throw new Error(`tables.ts: ${r.point} has no ${kind} stage`);
  return (s.settings as Record<string, unknown> | undefined) ?? s;
}

const cell = (xs: number[]) => (xs.length ? pct(xs) : "pending");
const seeds = (f: Found[]) => f.map((x) => x.seed).join(",");
const nonzero = (f: Found[]) => f[0].run.measurements.nonzeroParameters.toLocaleString("en");
/** Worst case of the strong evaluation: bold when every seed has it. */
function strongCell(f: Found[], own = false): string {
  const xs = f.map((x) => own ? x.run.evaluation.robustAccuracy : x.strong?.robustAccuracy)
    .filter((x): x is number => x !== undefined);
  return seedsCell(xs, f.length);
}

const out: string[] = [];
const emit = (t: string) => void out.push(t);

// 1. ADMM and ATMC next to Pruning I's methods.
const admm = sweepRuns("admm.yaml"), atmc = sweepRuns("atmc.yaml");
const sparsityOf = (r: SweepRun, kind: string) => Number(stageOf(r, kind).sparsity);
const HYDRA = "epochs=10,lr=0.1";
/** Rows: label, runs root, folder pattern, and whether the runs are this experiment's own. */
const methodRows: [string, string, string, boolean][] = [
  ["dense", pruning1, "prune-mnist-dense/seed-{s}", false],
];
for (const p of SPARSITIES) {
  methodRows.push(
    [`LWM ${p * 100}%`, pruning1, `prune-mnist/pruned/method=lwm,sparsity=${p}/seed-{s}`, false],
    [
      `HYDRA ${p * 100}%`,
      pruning1,
      `prune-mnist/pruned/method=hydra,sparsity=${p},${HYDRA}/seed-{s}`,
      false,
    ],
    [
      `IMP ${p * 100}%`,
      pruning1,
      p === 0.99 ? "prune-mnist-imp/seed-{s}" : `prune-mnist-imp-targets/sparsity=${p}/seed-{s}`,
      false,
    ],
  );
  for (const [label, list, kind] of [["ADMM", admm, "admm"], ["ATMC", atmc, "atmc"]] as const) {
    const at = list.filter((x) => sparsityOf(x, kind) === p);
    if (at.length > 1) throw new Error(`tables.ts: ${kind}.yaml has ${at.length} points at ${p}`);
    // No such grid point: a row that stays pending (and says so).
    const rel = at[0]?.rel ?? `${kind}-has-no-point-at-${p}`;
    methodRows.push([`${label} ${p * 100}%`, runs, rel, true]);
  }
}
const methods: string[] = [];
let found = 0;
for (const [label, root, pattern, own] of methodRows) {
  const f = find(root, pattern);
  if (!f.length) {
    methods.push(`| ${label} | – | – | pending | pending | pending |`);
    continue;
  }
  if (own) found += f.length;
  methods.push(
    `| ${label} | ${nonzero(f)} | ${seeds(f)} | ${
      cell(f.map((x) => x.run.evaluation.cleanAccuracy))
    } | ${cell(f.map((x) => x.run.evaluation.robustAccuracy))} | ${strongCell(f)} |`,
  );
}
emit(
  "| model | non-zero params | seeds | clean | worst case, run's cascade | worst case, strong |\n" +
    "|---|---:|---|---:|---:|---:|\n" + methods.join("\n") + "\n",
);

// 2. ATMC's model sizes (8-bit codes, CSR-style index bits, codebooks).
interface AtmcSummary {
  bits: number;
  modelSizeBits: { bits: number; codes: number; index: number; codebook: number };
  denseSizeBits: number;
}
const sizes: string[] = [];
for (const r of atmc) {
  const f = find(runs, r.rel);
  if (!f.length) continue;
  const s = f.map((x) =>
    x.run.stages.find((st) => st.kind === "atmc")!.summary as never as AtmcSummary
  );
  const bits = meanStd(s.map((x) => x.modelSizeBits.bits)).mean;
  sizes.push(
    `| ATMC ${sparsityOf(r, "atmc") * 100}% | ${seeds(f)} | ${nonzero(f)} | ${s[0].bits} | ${
      Math.round(bits).toLocaleString("en")
    } | ${s[0].denseSizeBits.toLocaleString("en")} | ${(s[0].denseSizeBits / bits).toFixed(1)}x |`,
  );
}
emit(
  "| ATMC model | seeds | non-zero params | bits per weight | model size, bits (mean) | " +
    "dense float32, bits | smaller by |\n|---|---|---:|---:|---:|---:|---:|\n" +
    (sizes.join("\n") || "| pending | – | – | – | – | – | – |") + "\n",
);

// 3. Edge-popup subnetworks of random SmallCNNs against the dense robust SmallCNN.
/** Accuracy after the attacks before the first smooth-gradient one (PGD, APGD-CE, APGD-T). */
function afterGradient(e: RobustnessRecord): number {
  const plain = e.attacks.filter((a) => !a.name.includes("smooth") && a.name !== "square");
  return plain.at(-1)?.accuracyCumulative ?? e.robustAccuracy;
}
const squareOnly = (e: RobustnessRecord) =>
  e.attacks.find((a) => a.name === "square")?.newlyBroken ?? "–";
const popup: string[] = [];
const dense = find(pruning1, "prune-mnist-dense/seed-{s}").filter((x) => x.strong);
if (dense.length) {
  popup.push(
    `| dense SmallCNN (PGD-10 trained weights) | pgd | 100% | ${seeds(dense)} | ${
      pct(dense.map((x) => x.strong!.cleanAccuracy))
    } | ${pct(dense.map((x) => afterGradient(x.strong!)))} | **${
      pct(dense.map((x) => x.strong!.robustAccuracy))
    }** | ${dense.map((x) => squareOnly(x.strong!)).join(", ")} |`,
  );
}
// The edge-popup grid (zero biases), then its PGD ablation with frozen random biases.
for (
  const [file, network] of [
    ["edgepopup.yaml", "edge-popup, random weights"],
    ["edgepopup_biases.yaml", "edge-popup, random weights and biases"],
  ]
) {
  for (const r of sweepRuns(file)) {
    const f = find(runs, r.rel);
    const loss = String(r.config.training.objective.name);
    const density = `${Math.round(100 * (1 - Number(stageOf(r, "prune").sparsity)))}%`;
    if (!f.length) {
      popup.push(`| ${network} | ${loss} | ${density} | – | pending | pending | pending | – |`);
      continue;
    }
    found += f.length;
    const e = f.map((x) => x.run.evaluation);
    popup.push(
      `| ${network} | ${loss} | ${density} | ${seeds(f)} | ${
        pct(e.map((x) => x.cleanAccuracy))
      } | ${pct(e.map(afterGradient))} | ${strongCell(f, true)} | ${
        e.map(squareOnly).join(", ")
      } |`,
    );
  }
}
emit(
  "| network | training loss | density | seeds | clean | after PGD/APGD | worst case " +
    "(strong cascade) | Square-only |\n|---|---|---:|---|---:|---:|---:|---|\n" +
    popup.join("\n") + "\n",
);

// 4. Connectivity and dead units, dense vs 99% sparse, robust vs clean.
interface Analysis {
  layers: { noInput: number; noPathToOutput: number; deadOnProbe: number | null }[];
  nonzeroWeights: number;
  disconnectedWeights: number;
  probeImages: number;
}
/** Rows: label, runs root, folder pattern (Pruning I's early seeds predate the analysis). */
const analysed: [string, string, string][] = [
  ["dense, PGD-10", runs, "prune2-mnist/robust-dense/base/seed-{s}"],
  ["dense, clean", runs, "prune2-mnist/clean-dense/base/seed-{s}"],
  ["LWM 99%, PGD-10", pruning1, "prune-mnist/pruned/method=lwm,sparsity=0.99/seed-{s}"],
  [
    "HYDRA 99%, PGD-10",
    pruning1,
    `prune-mnist/pruned/method=hydra,sparsity=0.99,${HYDRA}/seed-{s}`,
  ],
  ["IMP 99%, PGD-10", pruning1, "prune-mnist-imp/seed-{s}"],
  ...admm.filter((r) => sparsityOf(r, "admm") === 0.99).map((r): [string, string, string] => [
    "ADMM 99%, PGD-10",
    runs,
    r.rel,
  ]),
  ...atmc.filter((r) => sparsityOf(r, "atmc") === 0.99).map((r): [string, string, string] => [
    "ATMC 99%, PGD-10",
    runs,
    r.rel,
  ]),
  ["LWM 99%, clean", runs, "prune2-mnist/clean-lwm99/base/seed-{s}"],
];
/** Mean ± std with `d` decimals (one value: itself). */
const ms = (xs: number[], d = 1) => {
  const { mean, std } = meanStd(xs);
  const f = (v: number) =>
    v.toLocaleString("en", { minimumFractionDigits: d, maximumFractionDigits: d });
  return xs.length > 1 ? `${f(mean)} ± ${f(std)}` : f(mean);
};
const rows: string[] = [];
for (const [label, root, pattern] of analysed) {
  const f = find(root, pattern).filter((x) => (x.run as { analysis?: Analysis }).analysis);
  if (!f.length) {
    rows.push(`| ${label} | – | pending | pending | pending | pending | pending |`);
    continue;
  }
  const a = f.map((x) => (x.run as { analysis?: Analysis }).analysis!);
  const sum = (g: (l: Analysis["layers"][number]) => number) =>
    ms(a.map((x) => x.layers.reduce((t, l) => t + g(l), 0)));
  rows.push(
    `| ${label} | ${seeds(f)} | ${ms(a.map((x) => x.nonzeroWeights), 0)} | ${
      sum((l) => l.noInput)
    } | ${sum((l) => l.noPathToOutput)} | ${sum((l) => l.deadOnProbe ?? 0)} | ${
      ms(a.map((x) => 100 * x.disconnectedWeights / Math.max(1, x.nonzeroWeights)))
    }% |`,
  );
}
emit(
  "| network | seeds | non-zero weights | units with no input | units with no path to the " +
    "output | hidden units never active | non-zero weights on no input-output path |\n" +
    "|---|---|---:|---:|---:|---:|---:|\n" + rows.join("\n") + "\n",
);

if (!found && !find(runs, "prune2-mnist/robust-dense/base/seed-{s}").length) {
  console.error(`tables.ts: no finished run of the experiment under ${runs}`);
  Deno.exit(2);
}
const tables = tablesOf(out.join("\n"));
if (write) await writeTables(PAGE, tables);
else console.log(tables.join("\n\n"));
