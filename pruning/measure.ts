/**
 * Measurements a pruned model's result record carries: parameters (total and nonzero), the
 * multiply-accumulates of one forward pass for one image (dense and with pruned weights
 * skipped), per-layer kept counts, and weight histograms (dense vs pruned).
 * @module
 */

import { Conv2d, Linear, type Module, noGrad, type Tensor, tidy, zeros } from "@topiary/core";

/** One prunable layer's counts. */
export interface LayerMeasure {
  name: string;
  total: number;
  nonzero: number;
  /** Output positions per image (conv: H_out·W_out; linear: 1). */
  positions: number;
  /** Multiply-accumulates per image: dense and counting only nonzero weights. */
  macs: number;
  nonzeroMacs: number;
}

/** Whole-model counts. */
export interface ModelMeasure {
  parameters: number;
  nonzeroParameters: number;
  /** Multiply-accumulates of conv and linear layers per image. */
  macs: number;
  nonzeroMacs: number;
  layers: LayerMeasure[];
}

function nonzeros(t: Tensor): number {
  const a = t.toArray();
  let n = 0;
  for (const v of a) if (v !== 0) n++;
  return n;
}

/** Counts parameters and MACs, running one forward pass on a zero image of `inputShape`. */
export function measureModel(model: Module, inputShape: readonly number[]): ModelMeasure {
  const positions = new Map<Module, number>();
  const patched: [Conv2d | Linear, (x: Tensor) => Tensor][] = [];
  for (const [, m] of model.namedModules()) {
    if (m instanceof Conv2d || m instanceof Linear) {
      const orig = m.forward.bind(m);
      patched.push([m, m.forward]);
      m.forward = (x: Tensor) => {
        const y = orig(x);
        positions.set(m, m instanceof Conv2d ? y.shape[2] * y.shape[3] : 1);
        return y;
      };
    }
  }
  const wasTraining = (model as { training?: boolean }).training ?? false;
  model.eval();
  try {
    noGrad(() =>
      tidy(() =>
        void (model as unknown as { forward(x: Tensor): Tensor }).forward(zeros([1, ...inputShape]))
      )
    );
  } finally {
    for (const [m, f] of patched) m.forward = f;
    model.train(wasTraining);
  }
  const layers: LayerMeasure[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Conv2d || m instanceof Linear)) continue;
    const w = m.weight, nz = nonzeros(w), pos = positions.get(m) ?? 0;
    layers.push({
      name: name ? `${name}.weight` : "weight",
      total: w.size,
      nonzero: nz,
      positions: pos,
      macs: w.size * pos,
      nonzeroMacs: nz * pos,
    });
  }
  let parameters = 0, nonzeroParameters = 0;
  for (const [, p] of model.namedParameters()) {
    parameters += p.size;
    nonzeroParameters += nonzeros(p);
  }
  return {
    parameters,
    nonzeroParameters,
    macs: layers.reduce((a, l) => a + l.macs, 0),
    nonzeroMacs: layers.reduce((a, l) => a + l.nonzeroMacs, 0),
    layers,
  };
}

/** A histogram: bin edges (bins + 1) and counts. */
export interface Histogram {
  edges: number[];
  counts: number[];
}

/**
 * Histograms of the weights (all prunable layers together) on shared bins over
 * [-max|w|, max|w|] of both sets: `dense` (before pruning) and `pruned` (nonzero weights of
 * the final model).
 */
export function weightHistograms(
  dense: Iterable<Float32Array>,
  pruned: Iterable<Float32Array>,
  bins = 60,
): { dense: Histogram; pruned: Histogram } {
  const d = [...dense], p = [...pruned];
  let m = 0;
  for (const a of [...d, ...p]) for (const v of a) m = Math.max(m, Math.abs(v));
  if (m === 0) m = 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => -m + (2 * m * i) / bins);
  const count = (arrs: Float32Array[], skipZero: boolean) => {
    const c = new Array(bins).fill(0);
    for (const a of arrs) {
      for (const v of a) {
        if (skipZero && v === 0) continue;
        c[Math.min(bins - 1, Math.floor(((v + m) / (2 * m)) * bins))]++;
      }
    }
    return c;
  };
  return { dense: { edges, counts: count(d, false) }, pruned: { edges, counts: count(p, true) } };
}
