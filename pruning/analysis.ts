/**
 * What pruning does to a network, beyond its sparsity: per layer, the units (filters or
 * linear units) left with no incoming weight, the units with no path of non-zero weights from
 * the input or to the output, and the units never active on a probe batch (ReLU output zero
 * for every image and position); in total, the non-zero weights that lie on no input-to-output
 * path. Such weights carry no signal from the input: at most the constant output of an upstream
 * unit with no input (its bias, through the ReLU), which could be folded into the next layer's
 * bias before removing them. Biases are not part of the paths. Channels are the nodes: a
 * convolution connects input channel c to filter d when any weight W[d, c, :, :] is non-zero;
 * across a Flatten, channel c feeds the linear layer's features [c·HW, (c+1)·HW).
 * Sequential networks only (`Classifier.sequence`).
 * @module
 */

import {
  BatchNorm2d,
  type Classifier,
  Conv2d,
  Flatten,
  Linear,
  max,
  MaxPool2d,
  noGrad,
  ReLU,
  type Tensor,
  tidy,
} from "@topiary/core";
import { leaves } from "./_sequence.ts";

/** One layer's units. */
export interface UnitAnalysis {
  /** Module name. */
  name: string;
  kind: "conv" | "linear";
  /** Output channels (conv) or features (linear). */
  units: number;
  weights: number;
  nonzero: number;
  /** Units all of whose incoming weights are zero (they output a constant). */
  noInput: number;
  /** Units with no path of non-zero weights from the input. */
  unreachable: number;
  /** Units with no path of non-zero weights to the output. */
  noPathToOutput: number;
  /** Units whose ReLU never fires on the probe batch (null: no probe, or no ReLU after). */
  deadOnProbe: number | null;
}

/** The analysis of a network. */
export interface NetworkAnalysis {
  layers: UnitAnalysis[];
  nonzeroWeights: number;
  /** Non-zero weights on no input-to-output path (no input signal; see the module doc). */
  disconnectedWeights: number;
  /** Images in the probe batch (0: none). */
  probeImages: number;
}

/** conn[d][c]: does input group c reach unit d through a non-zero weight? Plus counts. */
function connections(w: Float32Array, units: number, groups: number) {
  const per = w.length / (units * groups);
  const conn: Uint8Array[] = [];
  const nonzeroIn: number[] = [];
  for (let d = 0; d < units; d++) {
    const row = new Uint8Array(groups);
    let n = 0;
    for (let c = 0; c < groups; c++) {
      const b = (d * groups + c) * per;
      for (let k = 0; k < per; k++) {
        if (w[b + k] !== 0) {
          row[c] = 1;
          break;
        }
      }
      n += row[c];
    }
    conn.push(row);
    nonzeroIn.push(n);
  }
  return { conn, nonzeroIn, per };
}

/** Analyses a sequential network; `probe` (a batch of inputs) adds the dead-unit counts. */
export function analyzeNetwork(model: Classifier, probe?: Tensor): NetworkAnalysis {
  const { seq, name } = leaves(model, "the network analysis");
  const idx = seq.map((m, i) => (m instanceof Conv2d || m instanceof Linear ? i : -1)).filter(
    (i) => i >= 0,
  );
  if (idx.length === 0) throw new Error("analysis: the network has no conv or linear layer");
  type L = { m: Conv2d | Linear; conn: Uint8Array[]; w: Float32Array; per: number };
  const layers: L[] = [];
  const out: UnitAnalysis[] = [];
  // Input groups of each layer are the previous layer's units (the first: the input channels).
  let prevUnits = 0;
  idx.forEach((i, li) => {
    const m = seq[i] as Conv2d | Linear;
    const w = m.weight.toArray() as Float32Array;
    const units = m.weight.shape[0];
    const inputs = m.weight.shape[1];
    // A linear layer after a Flatten of conv channels groups its inputs by channel.
    const groups = li === 0 ? (m instanceof Conv2d ? inputs : 1) : prevUnits;
    if (inputs % groups !== 0) {
      throw new Error(`analysis: "${name.get(m)}" has ${inputs} inputs for ${groups} channels`);
    }
    const c = connections(w, units, groups);
    layers.push({ m, conn: c.conn, w, per: c.per });
    let nz = 0;
    for (const v of w) if (v !== 0) nz++;
    out.push({
      name: name.get(m)!,
      kind: m instanceof Conv2d ? "conv" : "linear",
      units,
      weights: w.length,
      nonzero: nz,
      noInput: c.nonzeroIn.filter((n) => n === 0).length,
      unreachable: 0,
      noPathToOutput: 0,
      deadOnProbe: null,
    });
    prevUnits = units;
  });
  // Forward reachability from the input, backward reachability from the output.
  const fwd: Uint8Array[] = [], bwd: Uint8Array[] = new Array(layers.length);
  layers.forEach((l, li) => {
    const prev = li === 0 ? null : fwd[li - 1];
    fwd.push(Uint8Array.from(l.conn, (row) => row.some((x, c) => x && (!prev || prev[c])) ? 1 : 0));
  });
  for (let li = layers.length - 1; li >= 0; li--) {
    const units = layers[li].conn.length;
    if (li === layers.length - 1) bwd[li] = new Uint8Array(units).fill(1);
    else {
      const next = layers[li + 1], r = new Uint8Array(units);
      next.conn.forEach((row, d) => {
        if (bwd[li + 1][d]) row.forEach((x, c) => (r[c] ||= x));
      });
      bwd[li] = r;
    }
  }
  let nonzeroWeights = 0, disconnected = 0;
  layers.forEach((l, li) => {
    out[li].unreachable = fwd[li].filter((x) => !x).length;
    out[li].noPathToOutput = bwd[li].filter((x) => !x).length;
    const groups = l.conn[0].length;
    for (let d = 0; d < l.conn.length; d++) {
      for (let c = 0; c < groups; c++) {
        const onPath = bwd[li][d] && (li === 0 || fwd[li - 1][c]);
        const b = (d * groups + c) * l.per;
        for (let k = 0; k < l.per; k++) {
          if (l.w[b + k] === 0) continue;
          nonzeroWeights++;
          if (!onPath) disconnected++;
        }
      }
    }
  });
  if (probe) countDead(seq, idx, out, probe, model);
  return {
    layers: out,
    nonzeroWeights,
    disconnectedWeights: disconnected,
    probeImages: probe ? probe.shape[0] : 0,
  };
}

/** Runs the probe through the sequence (eval mode) and counts units whose ReLU never fires. */
function countDead(
  seq: ReturnType<typeof leaves>["seq"],
  idx: number[],
  out: UnitAnalysis[],
  probe: Tensor,
  model: Classifier,
): void {
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() =>
      tidy(() => {
        let h = probe, owner = -1;
        seq.forEach((m, i) => {
          h = m.forward(h);
          const li = idx.indexOf(i);
          if (li >= 0) owner = li;
          else if (m instanceof ReLU && owner >= 0) {
            const axes = h.ndim === 4 ? [0, 2, 3] : [0];
            const peak = max(h, axes).toArray() as Float32Array;
            out[owner].deadOnProbe = peak.filter((v) => v <= 0).length;
            owner = -1;
          } else if (
            !(m instanceof BatchNorm2d || m instanceof MaxPool2d || m instanceof Flatten)
          ) {
            // Batch norm and max pooling keep a unit's channel; anything else ends it.
            owner = -1;
          }
        });
      })
    );
  } finally {
    model.train(wasTraining);
  }
}
