/**
 * The report's accuracy-vs-sparsity figure: a reversed log axis of the share of weights kept
 * that reaches the sparsest point, and dashed legend strokes for the metrics.
 * @module
 */

import assert from "node:assert/strict";
import {
  connectivitySpec,
  renderSvg,
  type SparsityPoint,
  sparsitySpec,
} from "../../experiments/results/figures.ts";
import type { ReevaluationRow } from "../../experiments/results/reevaluations.ts";
import { type ConfigSummary, sparsityPoints } from "../../experiments/results/report.ts";

/** The points of one method at the given sparsities (%), clean and robust. */
function points(method: string, sparsities: number[]): SparsityPoint[] {
  return sparsities.flatMap((sparsity) => [
    { method, sparsity, metric: "clean", value: 90 },
    { method, sparsity, metric: "robust", value: 50 },
  ]);
}

Deno.test("sparsitySpec: weights kept on a reversed log axis down to the sparsest point", async () => {
  // 99% of the prunable weights can be 98.9997% of all (a dense output layer): the axis still
  // ends at the 1% tick, not at 3%.
  const spec = sparsitySpec(points("imp", [0, 50, 90, 98.9997])) as unknown as {
    encoding: { x: { scale: { type: string; reverse: boolean; domain: number[] } } };
    data: { values: { kept: number }[] };
  };
  assert.deepEqual(spec.encoding.x.scale, { type: "log", reverse: true, domain: [1, 100] });
  assert.deepEqual(spec.data.values.map((v) => +v.kept.toFixed(4)), [
    100,
    100,
    50,
    50,
    10,
    10,
    1.0003,
    1.0003,
  ]);
  const svg = await renderSvg(sparsitySpec(points("lwm", [0, 90, 99.9])));
  assert(svg.includes("weights kept (%, log scale)"));
  // Ticks from 100% down to 0.1% kept (99.9% sparse), none beyond (x axis only: the y axis
  // has labels of its own).
  const xAxis = svg.slice(svg.indexOf('aria-label="X-axis'), svg.indexOf('aria-label="Y-axis'));
  assert(xAxis.includes("log scale"), "the x axis comes before the y axis in the SVG");
  for (const t of ["100", "10", "1", "0.1"]) assert(xAxis.includes(`>${t}</text>`), t);
  assert(!xAxis.includes(">0.05</text>"));
  // All dense: the axis still spans 100% to 10% kept.
  const dense = sparsitySpec(points("dense", [0])) as unknown as {
    encoding: { x: { scale: { domain: number[] } } };
  };
  assert.deepEqual(dense.encoding.x.scale.domain, [10, 100]);
  // A fully pruned point stays on the axis (a log scale has no 0).
  const full = sparsitySpec(points("lwm", [100])) as unknown as {
    data: { values: { kept: number }[] };
  };
  assert.equal(full.data.values[0].kept, 0.01);
  // The metric legend's symbols are visible strokes.
  assert(/role-legend-symbol[^]*?stroke="#444"[^]*?stroke-dasharray/.test(svg));
});

/** A configuration summary with the fields the figure reads. */
function config(label: string, method: string, objective: string, sparsity: number): ConfigSummary {
  const acc = { mean: 80, std: 1 };
  return {
    label,
    method,
    sparsity,
    objective,
    nonzeroParameters: 1,
    name: label,
    configId: label,
    seeds: [0],
    n: 10,
    threat: "linf eps 0.3",
    clean: acc,
    robust: acc,
    attacks: [],
    flags: [],
  };
}

Deno.test("sparsityPoints: a line per method, split by objective only where objectives differ", () => {
  const robust = [config("a", "lwm", "pgd", 0.9), config("b", "lwm", "pgd", 0.99)];
  assert.deepEqual(new Set(sparsityPoints(robust, []).map((p) => p.method)), new Set(["lwm"]));
  // Clean-trained and adversarially trained LWM are two lines, not one zigzag.
  const mixed = [...robust, config("c", "lwm", "clean", 0.99), config("d", "dense", "clean", 0)];
  assert.deepEqual(
    new Set(sparsityPoints(mixed, []).map((p) => p.method)),
    new Set(["lwm (pgd)", "lwm (clean)", "dense (clean)"]),
  );
  // A re-evaluation is a metric (line style) of its configuration's line.
  const re = { label: "b", name: "strong", robust: { mean: 40, std: 0 } } as ReevaluationRow;
  const pts = sparsityPoints(robust, [re]).filter((p) => p.metric === "robust (strong)");
  assert.deepEqual(pts, [{ method: "lwm", sparsity: 99, metric: "robust (strong)", value: 40 }]);
});

Deno.test("connectivitySpec: one bar per configuration on a 0-100% axis", async () => {
  const rows = [
    { label: "lwm 99%", percent: 74.1, runs: 2 },
    { label: "hydra 99%", percent: 29.9, runs: 2 },
  ];
  const svg = await renderSvg(connectivitySpec(rows));
  assert(svg.includes("non-zero weights on no input-output path (%)"));
  for (const r of rows) assert(svg.includes(r.label), r.label);
  // Two bars (vega's bar marks are paths with the "mark-rect" role).
  assert.equal(
    (svg.match(/role="graphics-symbol"[^>]*aria-roledescription="bar"/g) ?? []).length,
    2,
  );
});
