/**
 * The report's page: the results table, the re-evaluations, the lottery rounds, the figures
 * and the notes, as Markdown and as self-contained HTML (figures inline as SVG, no scripts).
 * @module
 */

import type { Figure } from "./figures.ts";
import { lotteryMarkdown, type LotteryRow } from "./lottery_rounds.ts";
import { pm } from "./_stats.ts";
import {
  REEVALUATION_COLUMNS,
  reevaluationCells,
  reevaluationMarkdown,
  type ReevaluationRow,
} from "./reevaluations.ts";
import type { ConfigSummary } from "./report.ts";

/** What a report page shows. */
export interface ReportPage {
  title: string;
  /** Number of runs (config × seed). */
  runs: number;
  configs: ConfigSummary[];
  lottery: LotteryRow[];
  /** Re-evaluations of the runs with other attacks (`deno task exp evaluate`). */
  reevaluations: ReevaluationRow[];
  figures: Figure[];
  notes: string[];
}

/** The results table as Markdown. */
export function markdownTable(configs: ConfigSummary[]): string {
  const head =
    "| configuration | method | sparsity | nonzero params | threat | seeds | test images | " +
    "clean (%) | robust (%) | after each attack (%) | sanity flags |\n" +
    "|---|---|---|---|---|---|---|---|---|---|---|\n";
  return head +
    configs.map((c) =>
      `| ${c.label} | ${c.method} | ${
        (100 * c.sparsity).toFixed(1)
      }% | ${c.nonzeroParameters} | ${c.threat} | ${c.seeds.join(", ")} | ${c.n} | ${
        pm(c.clean, c.seeds.length)
      } | ` +
      `${pm(c.robust, c.seeds.length)} | ` +
      `${c.attacks.map((a) => `${a.name} ${pm(a, c.seeds.length)}`).join("; ")} | ` +
      `${c.flags.join(", ") || "none"} |`
    ).join("\n") + "\n";
}

const REEVAL_INTRO = "The runs' final models evaluated again with other attacks " +
  "(`deno task exp evaluate`); robust accuracy is the point-wise worst case over that " +
  "evaluation's attacks, next to the runs' own.";

/** The re-evaluations as an HTML table (empty for none). */
function reevaluationHtml(rows: ReevaluationRow[]): string {
  if (!rows.length) return "";
  return `<h2>Re-evaluations</h2>\n<p>${esc(REEVAL_INTRO)}</p>\n<table><thead><tr>` +
    REEVALUATION_COLUMNS.map((c) => `<th>${esc(c)}</th>`).join("") + "</tr></thead><tbody>\n" +
    rows.map((r) => `<tr>${reevaluationCells(r).map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`)
      .join("\n") +
    "\n</tbody></table>";
}

/** The lottery rounds as an HTML table (empty for none). */
function lotteryHtml(rows: LotteryRow[]): string {
  if (!rows.length) return "";
  const cells = (r: LotteryRow) =>
    [r.label, String(r.round), `${(100 * r.sparsity).toFixed(2)}%`, r.who, String(r.seeds)]
      .concat([String(r.n), pm(r.clean, r.seeds), pm(r.robust, r.seeds)])
      .map((c) => `<td>${esc(c)}</td>`).join("");
  return "<h2>Lottery tickets per round</h2>\n<table><thead><tr><th>configuration</th>" +
    "<th>round</th><th>sparsity</th><th>model</th><th>seeds</th><th>test images</th>" +
    "<th>clean</th><th>robust</th></tr></thead><tbody>\n" +
    rows.map((r) => `<tr>${cells(r)}</tr>`).join("\n") + "\n</tbody></table>";
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function esc(s: string): string {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!,
  );
}

/** The page as Markdown (figures linked from figures/). */
export function renderMarkdown(p: ReportPage): string {
  const { title, configs, lottery, reevaluations, figures, notes } = p;
  const table = markdownTable(configs);
  const count = `${plural(p.runs, "run")} in ${plural(configs.length, "configuration")}`;
  return `# ${title}\n\n${count}; robust accuracy ` +
    `is the point-wise worst case over the listed attacks.\n\n${table}\n` +
    (reevaluations.length
      ? `## Re-evaluations\n\n${REEVAL_INTRO}\n\n${reevaluationMarkdown(reevaluations)}\n`
      : "") +
    (lottery.length
      ? `## Lottery tickets per round\n\nEach round's ticket and the controls trained at that ` +
        `round, on the round's evaluation subset.\n\n${lotteryMarkdown(lottery)}\n`
      : "") +
    figures.map((f) => `![${f.title}](figures/${f.id}.svg)\n`).join("\n") +
    (notes.length ? `\n${notes.map((n) => `- ${n}`).join("\n")}\n` : "");
}

/** The page as one self-contained HTML document. */
export function renderHtml(p: ReportPage): string {
  const { title, configs, lottery, figures, notes } = p;
  const count = `${plural(p.runs, "run")} in ${plural(configs.length, "configuration")}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
figure{margin:2em 0}figcaption{font-weight:600;margin-bottom:.5em}.note{color:#666}</style></head>
<body><h1>${esc(title)}</h1>
<p>${count}. Accuracy in %, mean ± sample std over seeds; robust accuracy is the point-wise worst case over the attacks, in the order listed.</p>
<table><thead><tr><th>configuration</th><th>method</th><th>sparsity</th><th>nonzero params</th><th>threat</th><th>seeds</th><th>test images</th><th>clean</th><th>robust</th><th>after each attack</th><th>sanity flags</th></tr></thead><tbody>
${
    configs.map((c) =>
      `<tr><td>${esc(c.label)}</td><td>${esc(c.method)}</td><td>${
        (100 * c.sparsity).toFixed(1)
      }%</td><td>${c.nonzeroParameters}</td><td>${esc(c.threat)}</td><td>${
        c.seeds.join(", ")
      }</td><td>${c.n}</td><td>${pm(c.clean, c.seeds.length)}</td><td>${
        pm(c.robust, c.seeds.length)
      }</td><td>${
        esc(c.attacks.map((a) => `${a.name} ${pm(a, c.seeds.length)}`).join("; "))
      }</td><td>${esc(c.flags.join(", ") || "none")}</td></tr>`
    ).join("\n")
  }
</tbody></table>
${reevaluationHtml(p.reevaluations)}
${lotteryHtml(lottery)}
${
    figures.map((f) =>
      `<figure id="fig-${f.id}"><figcaption>${esc(f.title)}</figcaption>${f.svg}</figure>`
    ).join("\n")
  }
${notes.map((n) => `<p class="note">${esc(n)}</p>`).join("\n")}
</body></html>
`;
}
