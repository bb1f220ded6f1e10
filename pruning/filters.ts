/**
 * Structured filter pruning by filter norm (Li et al. 2017, "Pruning filters for efficient
 * ConvNets") for sequential networks, producing a physically smaller network: each pruned
 * convolution keeps its filters of largest L1 (or L2) norm, and the layers that consume its
 * output shrink with it — the batch norm's channels, the next convolution's input channels,
 * or, across a Flatten, the next linear layer's input features of those channels. Hidden
 * linear units can be pruned the same way (`units`). The plan (kept indices per layer) is
 * plain data: it is recorded with a run and re-applied to a fresh model on resume.
 * {@link zeroFilters} is the masked counterpart (filters, their biases and batch-norm
 * channels zeroed in a model of the original size), which computes the same outputs.
 * @module
 */

import {
  BatchNorm2d,
  type Classifier,
  Conv2d,
  copyFromHost,
  Flatten,
  keptCount,
  Linear,
  noGrad,
  ReLU,
} from "@topiary/core";
import { groupNorms, topGroups } from "./projection.ts";
import { consumer, leaves } from "./_sequence.ts";

/** Norm ranking the filters. */
export type FilterNorm = "l1" | "l2";

/** Options of {@link planFilters}. */
export interface FilterPruneOptions {
  /** Fraction of each pruned layer's filters (or units) removed, in [0, 1). */
  sparsity: number;
  /** Filter norm (default l1, as Li et al.). */
  norm?: FilterNorm;
  /** Also prune hidden Linear units (default false: convolutions only). */
  units?: boolean;
  /** Module names left whole. */
  exclude?: readonly string[];
}

/** Kept output indices (increasing) per pruned module name. */
export type FilterPlan = Record<string, number[]>;

/** Which filters (or units) to keep: the largest by norm in each prunable layer. */
export function planFilters(model: Classifier, o: FilterPruneOptions): FilterPlan {
  if (!(o.sparsity >= 0 && o.sparsity < 1)) {
    throw new Error(`filter pruning: sparsity must be in [0, 1), got ${o.sparsity}`);
  }
  const norm = o.norm ?? "l1";
  if (norm !== "l1" && norm !== "l2") {
    throw new Error(`filter pruning: unknown norm "${norm}" (known: l1, l2)`);
  }
  const { seq, name } = leaves(model, "filter pruning");
  const exclude = new Set(o.exclude ?? []);
  for (const e of exclude) {
    if (![...name.values()].includes(e)) throw new Error(`filter pruning: no module "${e}"`);
  }
  const plan: FilterPlan = {};
  seq.forEach((m, i) => {
    const n = name.get(m)!;
    if (!(m instanceof Conv2d || (o.units && m instanceof Linear)) || exclude.has(n)) return;
    // The output layer has no consumer: it is never pruned.
    if (consumer(seq, i, name) < 0) return;
    const w = m.weight.toArray() as Float32Array;
    const scores = norm === "l2"
      ? groupNorms(w, m.weight.shape, "filter")
      : l1Rows(w, m.weight.shape[0]);
    const keep = topGroups(scores, keptCount(scores.length, o.sparsity));
    plan[n] = [...keep.keys()].filter((k) => keep[k]);
  });
  return plan;
}

function l1Rows(w: Float32Array, rows: number): Float64Array {
  const inner = w.length / rows, out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < inner; j++) s += Math.abs(w[r * inner + j]);
    out[r] = s;
  }
  return out;
}

/**
 * Shrinks the model in place to the plan: pruned layers keep the planned filters or units,
 * their consumers the matching inputs. Optimizers and masks made before are invalid after.
 */
export function applyFilterPlan(model: Classifier, plan: FilterPlan): void {
  const { seq, name } = leaves(model, "filter pruning");
  const known = new Set(seq.map((m) => name.get(m)));
  for (const n of Object.keys(plan)) {
    if (!known.has(n)) throw new Error(`filter plan: the model has no layer "${n}"`);
  }
  seq.forEach((m, i) => {
    const keep = plan[name.get(m)!];
    if (!keep) return;
    if (!(m instanceof Conv2d || m instanceof Linear)) {
      throw new Error(`filter plan: "${name.get(m)}" is not a Conv2d or Linear layer`);
    }
    const j = consumer(seq, i, name);
    if (j < 0) throw new Error(`filter plan: "${name.get(m)}" is the output layer`);
    const before = m instanceof Conv2d ? m.outChannels : m.outFeatures;
    if (m instanceof Conv2d) m.selectChannels({ out: keep });
    else m.selectFeatures({ out: keep });
    let flattened = false;
    for (let k = i + 1; k < j; k++) {
      const c = seq[k];
      if (c instanceof BatchNorm2d) c.selectChannels(keep);
      if (c instanceof Flatten) flattened = true;
    }
    const c = seq[j];
    if (c instanceof Conv2d) {
      c.selectChannels({ in: keep });
    } else if (c instanceof Linear) {
      // Across a Flatten, channel k is the block of features [k·per, (k+1)·per).
      const per = flattened ? c.inFeatures / before : 1;
      if (!Number.isInteger(per)) {
        throw new Error(
          `filter plan: "${name.get(c)}" has ${c.inFeatures} inputs, not a ` +
            `multiple of the ${before} channels of "${name.get(m)}"`,
        );
      }
      c.selectFeatures({
        in: keep.flatMap((k) => Array.from({ length: per }, (_, p) => k * per + p)),
      });
    }
  });
}

/** Plans and applies filter pruning; returns the plan. */
export function pruneFilters(model: Classifier, o: FilterPruneOptions): FilterPlan {
  const plan = planFilters(model, o);
  applyFilterPlan(model, plan);
  return plan;
}

/**
 * The masked counterpart of a plan, in place on a model of the original size: removed
 * filters get zero weights and bias, and a batch norm after them zero scale and shift, so
 * their channels are exactly zero (what the physically smaller network computes).
 */
export function zeroFilters(model: Classifier, plan: FilterPlan): void {
  const { seq, name } = leaves(model, "filter pruning");
  noGrad(() => {
    seq.forEach((m, i) => {
      const keep = plan[name.get(m)!];
      if (!keep || !(m instanceof Conv2d || m instanceof Linear)) return;
      const kept = new Set(keep);
      const rows = m.weight.shape[0];
      const zeroRows = (
        t: { toArray(): unknown } & Parameters<typeof copyFromHost>[0],
        inner: number,
      ) => {
        const v = t.toArray() as Float32Array;
        for (let r = 0; r < rows; r++) if (!kept.has(r)) v.fill(0, r * inner, (r + 1) * inner);
        copyFromHost(t, v);
      };
      zeroRows(m.weight, m.weight.size / rows);
      if (m.bias) zeroRows(m.bias, 1);
      for (let k = i + 1; k < consumer(seq, i, name); k++) {
        const c = seq[k];
        if (c instanceof BatchNorm2d) {
          if (!c.affine) {
            throw new Error(
              `zeroFilters: batch norm "${name.get(c)}" is not affine: a removed channel ` +
                `would output -mean/std, not zero`,
            );
          }
          zeroRows(c.weight!, 1);
          zeroRows(c.bias!, 1);
        }
      }
    });
  });
}

/**
 * The filters (and, for linear layers, units) of a masked model whose output is exactly zero
 * at inference (eval mode): all incoming weights zero, and the constant they output (the bias,
 * through the batch norm's running statistics and a ReLU, until the next conv or linear layer)
 * is zero. Removing them changes no output, so the plan of the others turns a filter-pruned
 * masked model (ADMM `structure: filter`, `zeroFilters`) into the physically smaller network:
 * `applyFilterPlan(model, deadFilterPlan(model))`. Layers with no dead filter are left out.
 */
export function deadFilterPlan(model: Classifier): FilterPlan {
  const { seq, name } = leaves(model, "the dead-filter export");
  const plan: FilterPlan = {};
  seq.forEach((m, i) => {
    if (!(m instanceof Conv2d || m instanceof Linear)) return;
    const j = consumer(seq, i, name);
    if (j < 0) return; // the output layer
    const rows = m.weight.shape[0];
    const w = m.weight.toArray() as Float32Array, inner = w.length / rows;
    const bias = m.bias ? (m.bias.toArray() as Float32Array) : null;
    // The constant each row outputs when its weights are zero, pushed through to the consumer.
    const c = Float64Array.from({ length: rows }, (_, r) => (bias ? bias[r] : 0));
    for (let k = i + 1; k < j; k++) {
      const x = seq[k];
      if (x instanceof BatchNorm2d) {
        const mu = x.runningMean?.toArray() as Float32Array | undefined;
        const v = x.runningVar?.toArray() as Float32Array | undefined;
        const g = x.weight?.toArray() as Float32Array | undefined;
        const b = x.bias?.toArray() as Float32Array | undefined;
        if (!mu || !v) return; // batch statistics at inference: not a constant
        for (let r = 0; r < rows; r++) {
          c[r] = (c[r] - mu[r]) / Math.sqrt(v[r] + x.eps) * (g ? g[r] : 1) + (b ? b[r] : 0);
        }
      } else if (x instanceof ReLU) {
        for (let r = 0; r < rows; r++) c[r] = Math.max(0, c[r]);
      }
    }
    const keep: number[] = [];
    for (let r = 0; r < rows; r++) {
      let zero = c[r] === 0;
      for (let q = 0; zero && q < inner; q++) zero = w[r * inner + q] === 0;
      if (!zero) keep.push(r);
    }
    // Keep at least one filter: a layer cannot shrink to nothing.
    if (keep.length === 0) keep.push(0);
    if (keep.length < rows) plan[name.get(m)!] = keep;
  });
  return plan;
}
