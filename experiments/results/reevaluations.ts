/**
 * The re-evaluations of the results database (`deno task exp evaluate`): per configuration
 * and re-evaluation name, clean and robust accuracy as mean ± std over the seeds that have
 * it, next to the robust accuracy of the runs' own evaluation, with the accuracy after each
 * attack of the re-evaluation's cascade and its sanity flags, for the report's table.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { meanStd, pm } from "./_stats.ts";

/** One row: a configuration's re-evaluation `name`, over the seeds that have it. */
export interface ReevaluationRow {
  /** Configuration label. */
  label: string;
  /** The re-evaluation's name. */
  name: string;
  seeds: number;
  /** Test images. */
  n: number;
  /** Accuracies in %. */
  clean: { mean: number; std: number };
  robust: { mean: number; std: number };
  /** The runs' own robust accuracy (their result.json), same seeds. */
  runRobust: { mean: number; std: number };
  attacks: { name: string; mean: number; std: number }[];
  flags: string[];
}

/** Rows for the configurations of `labelOf` (config id → label), by label and name. */
export function reevaluationRows(
  db: DatabaseSync,
  labelOf: Map<string, string>,
): ReevaluationRow[] {
  const q = db.prepare(
    "SELECT r.config_id, r.robust_accuracy AS run_robust, e.* FROM reevaluations e " +
      "JOIN runs r USING (run_id) ORDER BY r.config_id, e.name, r.seed",
  ).all() as {
    config_id: string;
    run_robust: number;
    name: string;
    clean_accuracy: number;
    robust_accuracy: number;
    n: number;
    sanity_flags: string;
    attacks_json: string;
  }[];
  const groups = new Map<string, typeof q>();
  for (const row of q) {
    if (!labelOf.has(row.config_id)) continue;
    const key = JSON.stringify([row.config_id, row.name]);
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()].map((rows) => {
    const perAttack = new Map<string, number[]>();
    for (const r of rows) {
      for (
        const a of JSON.parse(r.attacks_json) as { name: string; accuracyCumulative: number }[]
      ) {
        perAttack.set(a.name, [...(perAttack.get(a.name) ?? []), 100 * a.accuracyCumulative]);
      }
    }
    return {
      label: labelOf.get(rows[0].config_id)!,
      name: rows[0].name,
      seeds: rows.length,
      n: rows[0].n,
      clean: meanStd(rows.map((r) => 100 * r.clean_accuracy)),
      robust: meanStd(rows.map((r) => 100 * r.robust_accuracy)),
      runRobust: meanStd(rows.map((r) => 100 * r.run_robust)),
      attacks: [...perAttack].map(([name, xs]) => ({ name, ...meanStd(xs) })),
      flags: [...new Set(rows.flatMap((r) => r.sanity_flags ? r.sanity_flags.split(",") : []))],
    };
  }).sort((a, b) => a.name.localeCompare(b.name) || a.label.localeCompare(b.label));
}

/** The cells of a row, in the table's column order. */
export function reevaluationCells(r: ReevaluationRow): string[] {
  return [
    r.label,
    r.name,
    String(r.seeds),
    String(r.n),
    pm(r.clean, r.seeds),
    pm(r.runRobust, r.seeds),
    pm(r.robust, r.seeds),
    r.attacks.map((a) => `${a.name} ${pm(a, r.seeds)}`).join("; "),
    r.flags.join(", ") || "none",
  ];
}

/** The table's column headers. */
export const REEVALUATION_COLUMNS = [
  "configuration",
  "re-evaluation",
  "seeds",
  "test images",
  "clean (%)",
  "robust, run's evaluation (%)",
  "robust, re-evaluated (%)",
  "after each attack (%)",
  "sanity flags",
];

/** The rows as a Markdown table. */
export function reevaluationMarkdown(rows: ReevaluationRow[]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(REEVALUATION_COLUMNS),
    line(REEVALUATION_COLUMNS.map(() => "---")),
    ...rows.map((r) => line(reevaluationCells(r))),
  ].join("\n") + "\n";
}
