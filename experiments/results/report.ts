/**
 * `report`: an HTML page (figures as inline SVG, tables) and the same tables as Markdown,
 * from the results database: clean and robust accuracy per configuration with mean ± std
 * over seeds, per-attack accuracy, training curves, and the pruning sections (accuracy vs
 * sparsity per method, per-layer sparsity), which stay empty until pruned runs exist.
 * @module
 */

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { writeFileAtomicSync } from "@topiary/core";
import { flattenJson } from "../config/_check.ts";
import { type ReevaluationRow, reevaluationRows } from "./reevaluations.ts";
import {
  type AccuracyRow,
  accuracySpec,
  type ConnectivityRow,
  connectivitySpec,
  type CurvePoint,
  curvesSpec,
  type Figure,
  type HistogramRow,
  histogramSpec,
  type LayerRow,
  layersSpec,
  renderSvg,
  type SparsityPoint,
  sparsitySpec,
  type UnitRow,
  unitsSpec,
} from "./figures.ts";
import { type LotteryRow, lotteryRows } from "./lottery_rounds.ts";
import { renderHtml, renderMarkdown } from "./report_page.ts";
import { meanStd } from "./_stats.ts";

interface RunRow {
  run_id: string;
  config_id: string;
  name: string;
  seed: number;
  dir: string;
  dataset: string;
  model: string;
  objective: string;
  method: string;
  sparsity: number;
  parameters: number;
  nonzero_parameters: number;
  norm: string;
  eps: number;
  clean_accuracy: number;
  robust_accuracy: number;
  n: number;
  sanity_flags: string;
  config_json: string;
}

/** The unit-analysis rows of the report (mean over seeds) and one note per configuration. */
function unitFigureRows(
  db: DatabaseSync,
  configs: ConfigSummary[],
): { rows: UnitRow[]; notes: string[]; connectivity: ConnectivityRow[] } {
  const q = db.prepare(
    "SELECT u.layer, AVG(100.0 * u.no_input / u.units) AS no_input, " +
      "AVG(100.0 * u.no_path_to_output / u.units) AS no_path, " +
      "AVG(100.0 * u.dead_on_probe / u.units) AS dead, MIN(u.position) AS position " +
      "FROM units u JOIN runs r USING (run_id) WHERE r.config_id = ? " +
      "GROUP BY u.layer ORDER BY position",
  );
  const c = db.prepare(
    "SELECT AVG(100.0 * c.disconnected_weights / MAX(c.nonzero_weights, 1)) AS pct, " +
      "COUNT(*) AS n FROM connectivity c JOIN runs r USING (run_id) WHERE r.config_id = ?",
  );
  const rows: UnitRow[] = [], notes: string[] = [], connectivity: ConnectivityRow[] = [];
  for (const cfg of configs) {
    const layers = q.all(cfg.configId) as {
      layer: string;
      no_input: number;
      no_path: number;
      dead: number | null;
    }[];
    for (const l of layers) {
      rows.push({ label: cfg.label, layer: l.layer, state: "no input", percent: l.no_input });
      rows.push({
        label: cfg.label,
        layer: l.layer,
        state: "no path to output",
        percent: l.no_path,
      });
      if (l.dead !== null) {
        rows.push({ label: cfg.label, layer: l.layer, state: "dead on probe", percent: l.dead });
      }
    }
    const conn = c.get(cfg.configId) as { pct: number | null; n: number };
    if (conn.n > 0 && conn.pct !== null) {
      connectivity.push({ label: cfg.label, percent: conn.pct, runs: conn.n });
      notes.push(
        `${cfg.label}: ${conn.pct.toFixed(2)}% of the non-zero weights lie on no ` +
          `input-to-output path (mean over ${conn.n} run${conn.n === 1 ? "" : "s"}).`,
      );
    }
  }
  return { rows, notes, connectivity };
}

/** One configuration (the runs of one config over seeds). */
export interface ConfigSummary {
  label: string;
  /** Pruning method of the last prune stage ("dense" when none). */
  method: string;
  /** Sparsity of the prunable weights (0 for dense). */
  sparsity: number;
  /** Training objective of the runs ("pgd", "clean", ...). */
  objective: string;
  nonzeroParameters: number;
  name: string;
  configId: string;
  seeds: number[];
  n: number;
  threat: string;
  clean: { mean: number; std: number };
  robust: { mean: number; std: number };
  attacks: { name: string; mean: number; std: number }[];
  flags: string[];
}

/** Leaves of a config by dotted path, stages by name ("prune.method"), lists kept whole. */
function leaves(config: Record<string, unknown>): Map<string, string> {
  const { pipeline, ...rest } = config;
  const out = flattenJson(rest, { listsAsLeaves: true });
  for (const s of pipeline as { kind: string; name: string; settings: unknown }[]) {
    out.set(`${s.name}.stage`, JSON.stringify(s.kind));
    flattenJson(s.settings, { listsAsLeaves: true }, s.name, out);
  }
  return out;
}

/** Labels: the name plus the settings that differ between configurations of that name. */
function labels(groups: Map<string, RunRow[]>): Map<string, string> {
  const byName = new Map<string, string[]>();
  for (const [id, rows] of groups) {
    byName.set(rows[0].name, [...(byName.get(rows[0].name) ?? []), id]);
  }
  const out = new Map<string, string>();
  for (const [name, ids] of byName) {
    const flat = ids.map((id) => leaves(JSON.parse(groups.get(id)![0].config_json)));
    // Informative keys: values that differ among the configs that have them, and the stage
    // kinds where the pipelines differ.
    const set = (f: Map<string, string>, k: string) =>
      f.get(k) !== undefined && f.get(k) !== "null";
    const informative = (k: string) => {
      const have = flat.filter((f) => set(f, k));
      if (k.endsWith(".stage")) return have.length !== flat.length;
      return have.some((f) => f.get(k) !== have[0].get(k));
    };
    const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))].filter((k) =>
      k !== "seed" && !k.startsWith("seeds") && !k.startsWith("deviations")
    );
    const part = (i: number, k: string) => `${k.split(".").slice(-2).join(".")}=${flat[i].get(k)}`;
    const label = ids.map((_, i) =>
      keys.filter((k) => informative(k) && set(flat[i], k)).map((k) => part(i, k))
    );
    // Configs still alike differ in optional keys set in some only: name those.
    const same = new Map<string, number[]>();
    label.forEach((l, i) => same.set(l.join(" "), [...(same.get(l.join(" ")) ?? []), i]));
    for (const group of same.values()) {
      if (group.length < 2) continue;
      const extra = keys.filter((k) =>
        !informative(k) && group.some((i) => set(flat[i], k)) &&
        group.some((i) => flat[i].get(k) !== flat[group[0]].get(k))
      );
      for (const i of group) {
        label[i].push(...extra.filter((k) => set(flat[i], k)).map((k) => part(i, k)));
      }
    }
    ids.forEach((id, i) =>
      out.set(id, (label[i].length ? `${name} ${label[i].join(" ")}` : name).replaceAll('"', ""))
    );
  }
  return out;
}

/** Reads the database into per-configuration summaries. */
export function summarize(db: DatabaseSync, name?: string): {
  configs: ConfigSummary[];
  runs: RunRow[];
  labelOf: Map<string, string>;
} {
  const runs =
    (name
      ? db.prepare("SELECT * FROM runs WHERE name = ? ORDER BY name, config_id, seed").all(name)
      : db.prepare("SELECT * FROM runs ORDER BY name, config_id, seed")
        .all()) as unknown as RunRow[];
  const groups = new Map<string, RunRow[]>();
  for (const r of runs) groups.set(r.config_id, [...(groups.get(r.config_id) ?? []), r]);
  const labelOf = labels(groups);
  const att = db.prepare(
    "SELECT position, name, accuracy_cumulative FROM attacks WHERE run_id = ? ORDER BY position",
  );
  const configs = [...groups.entries()].map(([id, rows]) => {
    const perAttack = new Map<string, number[]>();
    for (const r of rows) {
      for (const a of att.all(r.run_id) as { name: string; accuracy_cumulative: number }[]) {
        perAttack.set(a.name, [...(perAttack.get(a.name) ?? []), a.accuracy_cumulative]);
      }
    }
    return {
      label: labelOf.get(id)!,
      method: rows[0].method,
      sparsity: rows[0].sparsity,
      objective: rows[0].objective,
      nonzeroParameters: rows[0].nonzero_parameters,
      name: rows[0].name,
      configId: id,
      seeds: rows.map((r) => r.seed),
      n: rows[0].n,
      threat: `${rows[0].norm} eps ${rows[0].eps}`,
      clean: meanStd(rows.map((r) => 100 * r.clean_accuracy)),
      robust: meanStd(rows.map((r) => 100 * r.robust_accuracy)),
      attacks: [...perAttack.entries()].map(([n, xs]) => ({
        name: n,
        ...meanStd(xs.map((x) => 100 * x)),
      })),
      flags: [...new Set(rows.flatMap((r) => r.sanity_flags ? r.sanity_flags.split(",") : []))],
    };
  });
  return { configs, runs, labelOf };
}

/**
 * The points of the accuracy-vs-sparsity figure: clean and robust accuracy of every
 * configuration and its re-evaluations (a line style each), one line per method, and per method
 * and training objective where the configurations train with more than one.
 */
export function sparsityPoints(
  configs: ConfigSummary[],
  reevaluations: ReevaluationRow[],
): SparsityPoint[] {
  const mixed = new Set(configs.map((c) => c.objective)).size > 1;
  const series = (c: ConfigSummary) => mixed ? `${c.method} (${c.objective})` : c.method;
  return configs.flatMap((c) => [
    ...(["clean", "robust"] as const).map((metric) => ({
      method: series(c),
      sparsity: 100 * c.sparsity,
      metric,
      value: c[metric].mean,
    })),
    ...reevaluations.filter((r) => r.label === c.label).map((r) => ({
      method: series(c),
      sparsity: 100 * c.sparsity,
      metric: `robust (${r.name})`,
      value: r.robust.mean,
    })),
  ]);
}

/** Options of {@link writeReport}. */
export interface ReportOptions {
  /** Only experiments of this name. */
  name?: string;
  /** Page title. */
  title?: string;
}

/** Writes `out/index.html`, `out/results.md` and `out/figures/*.svg`. */
export async function writeReport(
  dbPath: string,
  out: string,
  o: ReportOptions = {},
): Promise<{ html: string; markdown: string; figures: number; runs: number }> {
  try {
    Deno.statSync(dbPath);
  } catch {
    throw new Error(`report: no results database ${dbPath}; run "deno task exp collect" first`);
  }
  const db = new DatabaseSync(dbPath, { readOnly: true });
  const figures: Figure[] = [];
  let configs: ConfigSummary[], runCount: number;
  let lottery: LotteryRow[] = [];
  let reevaluations: ReevaluationRow[] = [];
  const notes: string[] = [];
  try {
    const s = summarize(db, o.name);
    configs = s.configs;
    runCount = s.runs.length;
    if (runCount === 0) {
      throw new Error(
        `report: the database ${dbPath} holds no runs${o.name ? ` named ${o.name}` : ""}`,
      );
    }
    const acc: AccuracyRow[] = configs.flatMap((c) =>
      (["clean", "robust"] as const).map((metric) => {
        const m = c[metric];
        return {
          label: c.label,
          metric,
          mean: m.mean,
          lo: m.mean - m.std,
          hi: m.mean + m.std,
          seeds: c.seeds.length,
        };
      })
    );
    figures.push({
      id: "accuracy",
      title: "Clean and robust test accuracy",
      svg: await renderSvg(accuracySpec(acc)),
    });
    const curves: CurvePoint[] = [];
    const cq = db.prepare("SELECT * FROM curves WHERE run_id = ? ORDER BY stage, epoch");
    for (const r of s.runs) {
      for (const c of cq.all(r.run_id) as Record<string, number | null>[]) {
        const add = (metric: string, v: number | null) =>
          v !== null &&
          curves.push({
            label: s.labelOf.get(r.config_id)!,
            seed: r.seed,
            epoch: (c.epoch as number) + 1,
            metric,
            value: 100 * v,
          });
        add("train (adversarial)", c.train_accuracy);
        add("validation clean", c.val_accuracy);
        add("validation robust", c.val_robust_accuracy);
      }
    }
    if (curves.length) {
      figures.push({
        id: "curves",
        title: "Training curves",
        svg: await renderSvg(curvesSpec(curves)),
      });
    } else notes.push("No training curves: the runs have no train stage.");
    reevaluations = reevaluationRows(db, s.labelOf);
    // Lottery tickets: every round's ticket and its controls (mean over seeds per round).
    lottery = lotteryRows(db, s.labelOf);
    if (lottery.length) {
      const oneLottery = new Set(lottery.map((r) => r.label)).size === 1;
      const pts: SparsityPoint[] = lottery.flatMap((r) =>
        (["clean", "robust"] as const).map((metric) => ({
          method: oneLottery ? r.who : `${r.label}, ${r.who}`,
          sparsity: 100 * r.sparsity,
          metric,
          value: r[metric].mean,
        }))
      );
      figures.push({
        id: "lottery",
        title:
          "Lottery tickets: every round's ticket and its controls (evaluation subset; mean over seeds)",
        svg: await renderSvg(sparsitySpec(pts)),
      });
    }
    const layers = db.prepare(
      "SELECT r.config_id, s.layer, SUM(s.kept) AS kept, SUM(s.total) AS total FROM sparsity s " +
        "JOIN runs r USING (run_id) GROUP BY r.config_id, s.layer ORDER BY r.config_id, s.layer",
    ).all() as { config_id: string; layer: string; kept: number; total: number }[];
    const pruned = new Set(configs.filter((c) => c.method !== "dense").map((c) => c.configId));
    const mine = layers.filter((l) => pruned.has(l.config_id));
    if (mine.length) {
      const pts = sparsityPoints(configs, reevaluations);
      figures.push({
        id: "sparsity",
        title: "Accuracy vs sparsity per method (mean over seeds)",
        svg: await renderSvg(sparsitySpec(pts)),
      });
      const rows: LayerRow[] = mine.map((l) => ({
        label: s.labelOf.get(l.config_id)!,
        layer: l.layer,
        kept: 100 * l.kept / l.total,
      }));
      figures.push({
        id: "layers",
        title: "Per-layer sparsity",
        svg: await renderSvg(layersSpec(rows)),
      });
      const hq = db.prepare(
        "SELECT which, lo, hi, count FROM histograms WHERE run_id = ? ORDER BY which, bin",
      );
      const hist: HistogramRow[] = [];
      for (const c of configs.filter((c) => pruned.has(c.configId))) {
        const first = s.runs.find((r) => r.config_id === c.configId)!;
        for (
          const h of hq.all(first.run_id) as {
            which: string;
            lo: number;
            hi: number;
            count: number;
          }[]
        ) {
          hist.push({ label: c.label, which: h.which, center: (h.lo + h.hi) / 2, count: h.count });
        }
      }
      if (hist.length) {
        figures.push({
          id: "histograms",
          title: "Weight histograms, dense vs pruned (first seed)",
          svg: await renderSvg(histogramSpec(hist)),
        });
      }
    } else {
      notes.push(
        "Accuracy vs sparsity, per-layer sparsity and weight histograms appear here once pruned runs are collected.",
      );
    }
    const unitRows = unitFigureRows(db, configs);
    if (unitRows.rows.length) {
      figures.push({
        id: "units",
        title: "Units with no input, with no path to the output, and never active on the " +
          "probe images (mean over seeds)",
        svg: await renderSvg(unitsSpec(unitRows.rows)),
      });
      notes.push(...unitRows.notes);
    }
    if (unitRows.connectivity.some((r) => r.percent > 0)) {
      figures.push({
        id: "connectivity",
        title: "Non-zero weights on no input-to-output path (mean over seeds)",
        svg: await renderSvg(connectivitySpec(unitRows.connectivity)),
      });
    }
  } finally {
    db.close();
  }
  Deno.mkdirSync(join(out, "figures"), { recursive: true });
  const enc = new TextEncoder();
  for (const f of figures) {
    writeFileAtomicSync(join(out, "figures", `${f.id}.svg`), enc.encode(f.svg));
  }
  const title = o.title ?? `Topiary report${o.name ? `: ${o.name}` : ""}`;
  const page = { title, runs: runCount, configs, lottery, reevaluations, figures, notes };
  const md = renderMarkdown(page), html = renderHtml(page);
  const htmlPath = join(out, "index.html"), mdPath = join(out, "results.md");
  writeFileAtomicSync(htmlPath, enc.encode(html));
  writeFileAtomicSync(mdPath, enc.encode(md));
  return { html: htmlPath, markdown: mdPath, figures: figures.length, runs: runCount };
}
