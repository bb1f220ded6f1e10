/**
 * The `filter` stage: structured filter pruning by filter norm (Li et al. 2017) that makes the
 * network physically smaller (`pruneFilters`): each convolution (and with `units`, each hidden
 * linear layer) keeps its `1 − sparsity` largest-norm filters and the layers after it shrink to
 * match. The kept indices are recorded in the stage summary and in the metadata of every later
 * model file, so loading such a file (on resume, or in another run's `load` stage) rebuilds the
 * smaller network first. A following `train` stage fine-tunes the smaller network
 * (it is dense: every remaining weight trains).
 * @module
 */

import type { JsonValue } from "@topiary/core";
import { type FilterNorm, pruneFilters } from "@topiary/pruning";
import {
  bool,
  choice,
  ConfigError,
  fractionBelowOne,
  keyOf,
  list,
  opt,
  type Raw,
  str,
} from "../config/_check.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";

/** Settings of a filter stage. */
export interface FilterSettings {
  sparsity: number;
  norm: FilterNorm;
  units: boolean;
  /** Module names left whole. */
  exclude: string[];
}

function validate(raw: Raw, path: string): Record<string, unknown> {
  if (raw.sparsity === undefined) throw new ConfigError(keyOf(path, "sparsity"), "is required");
  const s: FilterSettings = {
    sparsity: fractionBelowOne(raw.sparsity, keyOf(path, "sparsity")),
    norm: opt(raw, path, "norm", (x, p) => choice(x, p, ["l1", "l2"] as const), "l1"),
    units: opt(raw, path, "units", bool, false),
    exclude: opt(
      raw,
      path,
      "exclude",
      (x, p) => list(x, p).map((e, i) => str(e, keyOf(p, i))),
      [] as string[],
    ),
  };
  return s as unknown as Record<string, unknown>;
}

function runFilter(ctx: StageContext): StageOutcome {
  const s = ctx.stage.settings as unknown as FilterSettings;
  if (ctx.pruning.masks) {
    throw new Error(
      `${ctx.stage.name}: the model carries masks from an earlier stage; filter pruning ` +
        `starts from a dense model`,
    );
  }
  const t0 = performance.now();
  const sizes = () =>
    new Map(ctx.model.namedParameters().map(([n, t]) => [n, t.shape] as [string, number[]]));
  const before = sizes(), params = ctx.model.parameterCount();
  const plan = pruneFilters(ctx.model, {
    sparsity: s.sparsity,
    norm: s.norm,
    units: s.units,
    exclude: s.exclude,
  });
  ctx.pruning.filterPlans = [...ctx.pruning.filterPlans, plan];
  const after = sizes();
  const layers = [...before].filter(([n, shape]) => after.get(n)!.join() !== shape.join())
    .map(([n, shape]) => ({ name: n, before: shape, after: after.get(n)! }));
  return {
    seconds: (performance.now() - t0) / 1000,
    summary: {
      method: "filter",
      norm: s.norm,
      plan: plan as unknown as JsonValue,
      layers: layers as unknown as JsonValue,
      parametersBefore: params,
      parametersAfter: ctx.model.parameterCount(),
      // The share of parameters removed (what reports plot as the run's sparsity).
      sparsity: { sparsity: 1 - ctx.model.parameterCount() / params },
    },
  };
}

/** The filter stage's definition. */
export const filterStage: StageDefinition = {
  kind: "filter",
  summary: "filter pruning by filter norm (l1 | l2) to a physically smaller network; `units` " +
    "also prunes hidden linear units; later train stages fine-tune the smaller network",
  keys: ["sparsity", "norm", "units", "exclude"],
  validate,
  run: runFilter,
  prunes: () => true,
};
