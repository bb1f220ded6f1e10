/**
 * Edge-popup (Ramanujan et al. 2020, "What's hidden in a randomly weighted neural network?"):
 * the weights stay at a random initialisation and only scores are trained; the subnetwork is
 * the layer-wise top-k of |scores| ({@link ScoreSet} with the `kaiming_uniform` score init).
 * This module puts a model into edge-popup's starting state:
 * - every Conv2d/Linear weight redrawn as a signed constant ±sqrt(2/fan_in) or Kaiming normal
 *   N(0, 2/fan_in); with `scaleFan`, a pruned layer's fan is multiplied by its kept fraction k
 *   (the paper's scaling, keeping the subnetwork's activations at unit scale). The reference
 *   code (allenai/hidden-networks, `scale_fan`) multiplies by 1 − prune_rate while its masks
 *   keep the fraction prune_rate, which equals the paper only at k = 0.5;
 * - biases zero (the reference layers have `bias=False`; the MNIST nets here have biases, held
 *   at zero and frozen, which is the same network), or, with `biases: "uniform"`, frozen at a
 *   random draw U(−1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's bias init): without biases every
 *   ReLU unit is positively homogeneous in the input and cannot threshold pixel intensities;
 * - affine batch norm reset to γ = 1, β = 0: the optimizer sees only the scores, so these stay
 *   fixed, which is the reference's `NonAffineBatchNorm` (running statistics still update).
 *   SmallCNN and Madry's CNN have no batch norm; nothing is changed there.
 * @module
 */

import {
  affine,
  assignFromCpu,
  BatchNorm2d,
  DEFAULT_INIT,
  drawWeight,
  fill,
  initBias,
  keptCount,
  type Module,
  noGrad,
  type Tensor,
} from "@topiary/core";
import { type PrunableLayer, prunableLayers } from "./prunable.ts";

/** The random weights edge-popup searches: signed constant or Kaiming normal (fan_in, ReLU gain). */
export type EdgePopupInit = "signed_constant" | "kaiming_normal";

/** The frozen biases of edge-popup's random network: zero (the reference) or a uniform draw. */
export type EdgePopupBiases = "zero" | "uniform";

/** Options of {@link randomizeForEdgePopup}. */
export interface EdgePopupOptions {
  /** Fraction of each pruned layer's weights the subnetwork removes (k = 1 − sparsity). */
  sparsity: number;
  init: EdgePopupInit;
  /** Scale a pruned layer's fan by its kept fraction (the paper's "scaled" variants). */
  scaleFan: boolean;
  /** Frozen biases (default zero, as the reference's bias-free layers). */
  biases?: EdgePopupBiases;
  /** The run's seed; each weight draws from the stream of its parameter name. */
  seed: number;
}

/** What {@link randomizeForEdgePopup} did. */
export interface EdgePopupReport {
  init: EdgePopupInit;
  scaleFan: boolean;
  biases: EdgePopupBiases;
  /** Per weight: the scale of its draw (constant magnitude, or normal std). */
  scales: Record<string, number>;
  /** Biases held fixed: zero, or drawn at random with `biases: "uniform"`. */
  frozenBiases: string[];
  /** Batch norms whose affine parameters were reset to the identity (frozen). */
  identityBatchNorms: string[];
}

/**
 * Redraws a model's weights as edge-popup's random network (in place; see the module doc).
 * `pruned` are the layers the scores will prune; other Conv2d/Linear weights are redrawn with
 * the unscaled fan and stay dense.
 */
export function randomizeForEdgePopup(
  model: Module,
  pruned: readonly PrunableLayer[],
  o: EdgePopupOptions,
): EdgePopupReport {
  if (!(o.sparsity >= 0 && o.sparsity < 1)) {
    throw new Error(`edge-popup: sparsity must be in [0, 1), got ${o.sparsity}`);
  }
  if (o.init !== "signed_constant" && o.init !== "kaiming_normal") {
    throw new Error(
      `edge-popup: unknown init "${o.init}" (known: signed_constant, kaiming_normal)`,
    );
  }
  const biases = o.biases ?? "zero";
  if (biases !== "zero" && biases !== "uniform") {
    throw new Error(`edge-popup: unknown biases "${biases}" (known: zero, uniform)`);
  }
  const prunedNames = new Set(pruned.map((l) => l.name));
  const report: EdgePopupReport = {
    init: o.init,
    scaleFan: o.scaleFan,
    biases,
    scales: {},
    frozenBiases: [],
    identityBatchNorms: [],
  };
  noGrad(() => {
    for (const l of prunableLayers(model)) {
      const fan = l.weight.shape.slice(1).reduce((a, b) => a * b, 1);
      // Kept fraction as the mask will realise it (an exact count).
      const k = keptCount(l.weight.size, o.sparsity) / l.weight.size;
      const scale = o.scaleFan && prunedNames.has(l.name) ? 1 / Math.sqrt(k) : 1;
      // Drawn on the CPU from (seed, parameter name), scaled there, then copied to the device.
      const w = drawWeight(l.weight.shape, { scheme: o.init }, o.seed, l.name);
      let scaled: Tensor;
      try {
        scaled = affine(w, scale, 0);
      } finally {
        w.dispose();
      }
      assignFromCpu(l.weight, scaled);
      report.scales[l.name] = scale * Math.SQRT2 / Math.sqrt(fan);
      const b = l.layer.bias;
      if (b) {
        const name = `${l.module ? l.module + "." : ""}bias`;
        if (biases === "zero") fill(b, 0);
        else initBias(b, fan, DEFAULT_INIT, o.seed, name);
        report.frozenBiases.push(name);
      }
    }
    for (const [name, m] of model.namedModules()) {
      if (m instanceof BatchNorm2d && m.affine) {
        fill(m.weight!, 1);
        fill(m.bias!, 0);
        report.identityBatchNorms.push(name);
      }
    }
  });
  return report;
}
