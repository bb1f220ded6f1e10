/**
 * The tables of docs/results/pruning_mnist.md, from the finished runs under runs/ (their
 * result.json and evaluation-strong.json): the summary per model (mean ± sample std over seeds),
 * the per-seed cascade, every lottery round's ticket and control, and the per-seed paired
 * differences of the rounds. Prints them as Markdown, or with --write puts them in place of the
 * page's tables (then `deno fmt` aligns them).
 *   deno run -A experiments/configs/prune_mnist/tables.ts [RUNS_DIR] [--write]
 * @module
 */

import { join } from "node:path";
import type { RobustnessRecord } from "@topiary/attacks";
import type { Reevaluation } from "../../run/reevaluate.ts";
import { meanStd } from "../../results/_stats.ts";
import {
  pct,
  readJson as read,
  seedsCell,
  tablesOf,
  writeTables,
} from "../../results/page_tables.ts";
import type { RunResult } from "../../run/run.ts";

const write = Deno.args.includes("--write");
const runs = Deno.args.find((a) => a !== "--write") ?? "runs";
const PAGE = new URL("../../../docs/results/pruning_mnist.md", import.meta.url).pathname;
const out: string[] = [];
const emit = (text: string) => void out.push(text);
const SEEDS = [0, 1, 2];
const HYDRA = "epochs=10,lr=0.1";
/** Table rows: label and run folder pattern ({s}: the seed). */
const MODELS: [string, string][] = [
  ["dense", "prune-mnist-dense/seed-{s}"],
  ...[0.9, 0.95, 0.99].flatMap((p): [string, string][] => [
    [`LWM ${p * 100}%`, `prune-mnist/pruned/method=lwm,sparsity=${p}/seed-{s}`],
    [`HYDRA ${p * 100}%`, `prune-mnist/pruned/method=hydra,sparsity=${p},${HYDRA}/seed-{s}`],
    [
      `IMP ${p * 100}%`,
      p === 0.99 ? "prune-mnist-imp/seed-{s}" : `prune-mnist-imp-targets/sparsity=${p}/seed-{s}`,
    ],
  ]),
];

/** Examples Square broke that the attacks before it left. */
function squareOnly(r: RobustnessRecord): number | string {
  return r.attacks.find((a) => a.name === "square")?.newlyBroken ?? "–";
}

const summary: string[] = [], perSeed: string[] = [];
for (const [label, pattern] of MODELS) {
  const found = SEEDS.map((s) => {
    const dir = join(runs, pattern.replace("{s}", String(s)));
    const run = read<RunResult>(join(dir, "result.json"));
    return run && { s, run, strong: read<Reevaluation>(join(dir, "evaluation-strong.json")) };
  }).filter((x) => x !== null);
  if (!found.length) continue;
  const strong = found.filter((f) => f.strong).map((f) => f.strong!.record.robustAccuracy);
  const strongCell = seedsCell(strong, found.length);
  summary.push(
    `| ${label} | ${found[0].run.measurements.nonzeroParameters.toLocaleString("en")} | ` +
      `${found.map((f) => f.s).join(",")} | ${
        pct(found.map((f) => f.run.evaluation.cleanAccuracy))
      } | ${pct(found.map((f) => f.run.evaluation.robustAccuracy))} | ${strongCell} | ${
        found.map((f) =>
          `${squareOnly(f.run.evaluation)} → ${f.strong ? squareOnly(f.strong.record) : "…"}`
        ).join(", ")
      } |`,
  );
  for (const { s, run, strong } of found) {
    const e = run.evaluation;
    const cascade = e.attacks.map((a) => `${(100 * a.accuracyCumulative).toFixed(2)}%`);
    const smooth = strong?.record.attacks.filter((a) => a.name.includes("smooth")).at(-1);
    perSeed.push(
      `| ${label} | ${s} | ${(100 * e.cleanAccuracy).toFixed(2)}% | ${cascade.join(" | ")} | ${
        smooth ? `${(100 * smooth.accuracyCumulative).toFixed(2)}%` : "…"
      } | ${strong ? `**${(100 * strong.record.robustAccuracy).toFixed(2)}%**` : "…"} | ${
        strong ? strong.record.sanity.raised.join(", ") || "none" : "…"
      } |`,
    );
  }
}
emit(
  "| model | non-zero params | seeds | clean | worst case, run's cascade | worst case, strong | " +
    "Square-only (run → strong) |\n|---|---:|---|---:|---:|---:|---|",
);
emit(summary.join("\n") + "\n");
emit(
  "| model | seed | clean | PGD-CE 50×5 | + APGD-CE | + APGD-T | + Square 1000 (run) | " +
    "strong: + smooth attacks | strong: + Square = worst case | strong: flags |\n" +
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
);
emit(perSeed.join("\n") + "\n");

// Lottery rounds (imp.yaml): every round's ticket and reinit control on the evaluation subset.
interface Round {
  sparsity: number;
  evaluation: { cleanAccuracy: number; robustAccuracy: number } | null;
  controls?: Record<string, { evaluation: Round["evaluation"] }>;
}
const lottery = SEEDS.map((s) => {
  const run = read<RunResult>(join(runs, `prune-mnist-imp/seed-${s}/result.json`));
  return run && { s, rounds: (run.stages[0].summary as unknown as { rounds: Round[] }).rounds };
}).filter((x) => x !== null);
if (lottery.length) {
  const cell = (e: Round["evaluation"] | undefined) =>
    e ? `${(100 * e.cleanAccuracy).toFixed(1)} / ${(100 * e.robustAccuracy).toFixed(1)}` : "–";
  const pm = (xs: number[]) => {
    if (xs.length < 2) return "–";
    const { mean, std } = meanStd(xs);
    return `${mean >= 0 ? "+" : ""}${mean.toFixed(1)} ± ${std.toFixed(1)}`;
  };
  const sparsity = (r: Round) => `${+(100 * r.sparsity).toFixed(2)}%`;
  const reinit = (r: Round) => r.controls?.reinit?.evaluation;
  emit(
    `| round | sparsity | ${
      lottery.map(({ s }) => `ticket, seed ${s} | reinit, seed ${s}`).join(" | ")
    } | ticket robust, mean ± std | reinit robust, mean ± std |\n|---:|---:|${
      lottery.map(() => "---|---|").join("")
    }---|---|`,
  );
  const n = lottery[0].rounds.length;
  for (let i = 0; i < n; i++) {
    const cells = lottery.map(({ rounds }) =>
      `${cell(rounds[i].evaluation)} | ${cell(reinit(rounds[i]))}`
    );
    const robust = (e: Round["evaluation"] | undefined) => e ? [100 * e.robustAccuracy] : [];
    const mean = (f: (r: Round) => Round["evaluation"] | undefined) =>
      pm(lottery.flatMap(({ rounds }) => robust(f(rounds[i])))).replace(/^\+/, "");
    emit(
      `| ${i} | ${sparsity(lottery[0].rounds[i])} | ${cells.join(" | ")} | ${
        mean((r) => r.evaluation)
      } | ${mean(reinit)} |`,
    );
  }
  emit(
    "\n| round | sparsity | ticket − round 0, robust | ticket − reinit, robust | " +
      "ticket − round 0, clean |\n|---:|---:|---:|---:|---:|",
  );
  for (let i = 0; i < n; i++) {
    const d = (f: (r: Round[]) => number | null) =>
      pm(lottery.map(({ rounds }) => f(rounds)).filter((x) => x !== null).map((x) => 100 * x));
    const robust = (r: Round) => r.evaluation!.robustAccuracy;
    emit(
      `| ${i} | ${sparsity(lottery[0].rounds[i])} | ${d((r) => robust(r[i]) - robust(r[0]))} | ${
        d((r) => {
          const c = reinit(r[i]);
          return c ? robust(r[i]) - c.robustAccuracy : null;
        })
      } | ${d((r) => r[i].evaluation!.cleanAccuracy - r[0].evaluation!.cleanAccuracy)} |`,
    );
  }
}

if (!summary.length) {
  console.error(`tables.ts: no finished run of the experiment under ${runs}`);
  Deno.exit(2);
}
const tables = tablesOf(out.join("\n"));
if (write) await writeTables(PAGE, tables);
else console.log(tables.join("\n\n"));
