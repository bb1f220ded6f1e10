/**
 * Report figures: Vega-Lite specs rendered to standalone SVG on the server (no browser-side
 * code), so the report opens anywhere and tests can count its data marks.
 * @module
 */

import * as vega from "vega";
import * as vl from "vega-lite";

/** A rendered figure. */
export interface Figure {
  id: string;
  title: string;
  svg: string;
}

/** Renders a Vega-Lite spec to SVG (legend labels are never cut: they name configurations). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const config = { ...spec.config, legend: { labelLimit: 0, ...spec.config?.legend } };
  const compiled = vl.compile({ ...spec, config } as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const WIDTH = 420;

/** One configuration's accuracy summary. */
export interface AccuracyRow {
  label: string;
  metric: "clean" | "robust";
  mean: number;
  lo: number;
  hi: number;
  seeds: number;
}

/** Clean and robust accuracy per configuration (mean with a ±std bar). */
export function accuracySpec(rows: AccuracyRow[]): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: WIDTH,
    data: { values: rows },
    encoding: {
      y: { field: "label", type: "nominal", title: null },
      yOffset: { field: "metric" },
      color: { field: "metric", type: "nominal", title: "accuracy" },
    },
    layer: [
      {
        mark: { type: "point", filled: true, size: 60 },
        encoding: {
          x: {
            field: "mean",
            type: "quantitative",
            title: "test accuracy (%) — mean ± std over seeds",
            scale: { zero: false },
          },
        },
      },
      {
        mark: { type: "rule" },
        encoding: { x: { field: "lo", type: "quantitative" }, x2: { field: "hi" } },
      },
    ],
  };
}

/** One point of a training curve. */
export interface CurvePoint {
  label: string;
  seed: number;
  epoch: number;
  metric: string;
  value: number;
}

/** Training curves: accuracy per epoch, one panel per configuration, one line per metric and
 * seed. */
export function curvesSpec(points: CurvePoint[]): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values: points },
    facet: { field: "label", type: "nominal", title: null },
    columns: 2,
    spec: {
      width: 360,
      height: 220,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "epoch", type: "quantitative", title: "epoch" },
        y: { field: "value", type: "quantitative", title: "accuracy (%)", scale: { zero: false } },
        color: { field: "metric", type: "nominal", title: "metric" },
        detail: { field: "seed", type: "nominal" },
      },
    },
  };
}

/** One point of accuracy against sparsity. */
export interface SparsityPoint {
  method: string;
  sparsity: number;
  metric: string;
  value: number;
}

/**
 * Accuracy against sparsity, one line per method and metric (filled by pruning runs). The x axis
 * is the share of weights kept on a reversed log scale, so 90%, 95% and 99% sparsity (10, 5, 1%
 * kept) are spread out instead of crowded at the right edge; dense sits at 100% kept.
 */
export function sparsitySpec(points: SparsityPoint[]): vl.TopLevelSpec {
  // A log axis has no 0: a 100%-sparse point is drawn at the smallest share of one weight in 10^4.
  const values = points.map((p) => ({ ...p, kept: Math.max(100 - p.sparsity, 0.01) }));
  // The axis ends at the largest tick at or below the smallest share kept (with a tolerance:
  // 100 - 99.9 is 0.0999...), and at 10% at the most, so an all-dense figure has a range.
  const least = Math.min(100, ...values.map((v) => v.kept));
  const candidates = [100, 50, 30, 10, 5, 3, 1, 0.5, 0.3, 0.1, 0.05, 0.01];
  const low = Math.min(candidates.find((t) => t <= least * 1.001) ?? 0.01, 10);
  const ticks = candidates.filter((t) => t >= low);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: WIDTH,
    height: 260,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: {
        field: "kept",
        type: "quantitative",
        title: "weights kept (%, log scale)",
        scale: { type: "log", reverse: true, domain: [low, 100] },
        axis: { values: ticks },
      },
      y: { field: "value", type: "quantitative", title: "test accuracy (%)" },
      color: { field: "method", type: "nominal" },
      strokeDash: {
        field: "metric",
        type: "nominal",
        // Dashed strokes as legend symbols (with a fill set, vega-lite hides their stroke).
        legend: {
          symbolType: "stroke",
          symbolStrokeColor: "#444",
          symbolFillColor: "transparent",
          symbolStrokeWidth: 2,
        },
      },
    },
  };
}

/** One layer's kept fraction. */
export interface LayerRow {
  label: string;
  layer: string;
  kept: number;
}

/** Per-layer kept fraction of the pruned runs. */
export function layersSpec(rows: LayerRow[]): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: WIDTH,
    data: { values: rows },
    mark: "bar",
    encoding: {
      y: { field: "layer", type: "nominal", sort: null },
      x: { field: "kept", type: "quantitative", title: "weights kept (%)" },
      color: { field: "label", type: "nominal", title: "configuration" },
      yOffset: { field: "label" },
    },
  };
}

/** One histogram bin. */
export interface HistogramRow {
  label: string;
  /** "dense" (before pruning) or "pruned" (nonzero weights after). */
  which: string;
  center: number;
  count: number;
}

/** Weight histograms, dense vs pruned, one panel per configuration (log-scaled counts). */
export function histogramSpec(rows: HistogramRow[]): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values: rows.map((r) => ({ ...r, count1: r.count + 1 })) },
    facet: { field: "label", type: "nominal", title: null },
    columns: 2,
    spec: {
      width: 360,
      height: 200,
      mark: { type: "line", interpolate: "step" },
      encoding: {
        x: { field: "center", type: "quantitative", title: "weight value" },
        y: { field: "count1", type: "quantitative", title: "count + 1", scale: { type: "log" } },
        color: { field: "which", type: "nominal", title: "weights" },
      },
    },
  };
}

/** One layer's share of units in one state (mean over seeds). */
export interface UnitRow {
  label: string;
  layer: string;
  /** "no input", "no path to output" or "dead on probe". */
  state: string;
  /** Percent of the layer's units. */
  percent: number;
}

/** Units with no input, no path to the output, or never active, per layer and configuration. */
export function unitsSpec(rows: UnitRow[]): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values: rows },
    facet: { field: "label", type: "nominal", title: null },
    columns: 2,
    spec: {
      width: 300,
      mark: "bar",
      encoding: {
        y: { field: "layer", type: "nominal", sort: null },
        x: { field: "percent", type: "quantitative", title: "units (%)" },
        color: { field: "state", type: "nominal", title: "unit" },
        yOffset: { field: "state" },
      },
    },
  };
}

/** Share of a configuration's non-zero weights on no input-output path (mean over seeds). */
export interface ConnectivityRow {
  label: string;
  percent: number;
  /** Runs averaged. */
  runs: number;
}

/** Weights on no input-to-output path, one bar per configuration. */
export function connectivitySpec(rows: ConnectivityRow[]): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values: rows },
    width: 420,
    mark: "bar",
    encoding: {
      y: { field: "label", type: "nominal", sort: null, title: null, axis: { labelLimit: 0 } },
      x: {
        field: "percent",
        type: "quantitative",
        title: "non-zero weights on no input-output path (%)",
        scale: { domain: [0, 100] },
      },
      tooltip: [{ field: "label" }, { field: "percent", format: ".1f" }, { field: "runs" }],
    },
  };
}
