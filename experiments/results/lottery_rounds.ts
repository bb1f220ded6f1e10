/**
 * The lottery-ticket rounds of the results database: for every configuration with a lottery
 * stage, each round's ticket and each control trained at that round's mask (`roundControls`),
 * clean and robust accuracy on the round's evaluation subset as mean ± std over seeds. The
 * report plots them and prints them as a table.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { meanStd, pm } from "./_stats.ts";

/** A round's evaluation (ticket or control), as the lottery stage records it. */
interface RoundEval {
  cleanAccuracy: number;
  robustAccuracy: number;
  n: number;
}

/** One row: a ticket (`who` "ticket") or a control at one round, over seeds. */
export interface LotteryRow {
  /** Configuration label. */
  label: string;
  round: number;
  /** Sparsity of the prunable weights after the round's pruning. */
  sparsity: number;
  /** "ticket", or the control's name ("reinit", "random-mask"). */
  who: string;
  /** Accuracies in %. */
  clean: { mean: number; std: number };
  robust: { mean: number; std: number };
  seeds: number;
  /** Test images of the evaluation subset. */
  n: number;
}

/** Rows for every lottery configuration of `labelOf` (config id → label), in round order. */
export function lotteryRows(db: DatabaseSync, labelOf: Map<string, string>): LotteryRow[] {
  const q = db.prepare(
    "SELECT r.config_id, s.name AS stage, s.summary_json FROM stages s JOIN runs r USING (run_id) " +
      "WHERE s.kind = 'lottery' ORDER BY r.config_id, r.seed",
  ).all() as { config_id: string; stage: string; summary_json: string }[];
  const acc = new Map<
    string,
    { row: Omit<LotteryRow, "clean" | "robust" | "seeds">; c: number[]; r: number[] }
  >();
  for (const row of q) {
    const base = labelOf.get(row.config_id);
    if (base === undefined) continue;
    // A stage not named "lottery" (e.g. one of two lottery stages) is named in the label.
    const label = row.stage === "lottery" ? base : `${base} (${row.stage})`;
    const sum = JSON.parse(row.summary_json) as {
      rounds: {
        round: number;
        sparsity: number;
        evaluation: RoundEval | null;
        controls?: Record<string, { evaluation: RoundEval | null }>;
      }[];
    };
    for (const r of sum.rounds) {
      const evs: [string, RoundEval | null][] = [
        ["ticket", r.evaluation],
        ...Object.entries(r.controls ?? {}).map(([c, x]) =>
          [c, x.evaluation] as [string, RoundEval | null]
        ),
      ];
      for (const [who, ev] of evs) {
        if (!ev) continue;
        const key = JSON.stringify([row.config_id, row.stage, r.round, who]);
        const a = acc.get(key) ??
          { row: { label, round: r.round, sparsity: r.sparsity, who, n: ev.n }, c: [], r: [] };
        a.c.push(100 * ev.cleanAccuracy);
        a.r.push(100 * ev.robustAccuracy);
        acc.set(key, a);
      }
    }
  }
  return [...acc.values()]
    .map((a) => ({ ...a.row, clean: meanStd(a.c), robust: meanStd(a.r), seeds: a.c.length }))
    .sort((x, y) =>
      x.label.localeCompare(y.label) || x.round - y.round ||
      (x.who === "ticket" ? -1 : y.who === "ticket" ? 1 : x.who.localeCompare(y.who))
    );
}

/** The rows as a Markdown table (empty string for no rows). */
export function lotteryMarkdown(rows: LotteryRow[]): string {
  if (!rows.length) return "";
  return "| configuration | round | sparsity | model | seeds | test images | clean (%) | robust (%) |\n" +
    "|---|---|---|---|---|---|---|---|\n" +
    rows.map((r) =>
      `| ${r.label} | ${r.round} | ${(100 * r.sparsity).toFixed(2)}% | ${r.who} | ${r.seeds} | ` +
      `${r.n} | ${pm(r.clean, r.seeds)} | ${pm(r.robust, r.seeds)} |`
    ).join("\n") + "\n";
}
