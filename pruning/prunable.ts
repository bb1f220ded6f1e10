/**
 * Which weights can be pruned: the weights of Conv2d and Linear layers (biases and batch-norm
 * parameters never are), optionally without the output layer, filtered by name patterns.
 * @module
 */

import { Conv2d, Linear, type Module, type Tensor } from "@topiary/core";

/** A prunable layer: its module, the weight's parameter name and the weight. */
export interface PrunableLayer {
  /** Dotted module name, e.g. "conv1". */
  module: string;
  /** Parameter name of the weight, e.g. "conv1.weight". */
  name: string;
  layer: Conv2d | Linear;
  /** The stored weight. */
  weight: Tensor;
}

/** Options choosing the prunable layers. */
export interface PrunableOptions {
  /** Leave the last Linear layer (the classifier) dense (default false). */
  excludeOutput?: boolean;
  /** Only weights whose parameter name matches one of these (default: all). */
  include?: readonly (string | RegExp)[];
  /** Leave weights whose parameter name matches one of these dense. */
  exclude?: readonly (string | RegExp)[];
}

function matches(name: string, pats: readonly (string | RegExp)[]): boolean {
  return pats.some((
    p,
  ) => (typeof p === "string" ? name === p || name.startsWith(p + ".") : p.test(name)));
}

/** The prunable layers of a model, in module order. */
export function prunableLayers(model: Module, o: PrunableOptions = {}): PrunableLayer[] {
  const all: PrunableLayer[] = [];
  for (const [module, m] of model.namedModules()) {
    if (m instanceof Conv2d || m instanceof Linear) {
      const name = module ? `${module}.weight` : "weight";
      all.push({ module, name, layer: m, weight: m.weight });
    }
  }
  let out = all;
  if (o.excludeOutput) {
    const lastLinear = [...all].reverse().find((l) => l.layer instanceof Linear);
    out = out.filter((l) => l !== lastLinear);
  }
  if (o.include?.length) out = out.filter((l) => matches(l.name, o.include!));
  if (o.exclude?.length) out = out.filter((l) => !matches(l.name, o.exclude!));
  if (out.length === 0) {
    throw new Error(
      `no prunable layers left (the model has ${all.map((l) => l.name).join(", ") || "none"})`,
    );
  }
  for (const p of [...(o.include ?? []), ...(o.exclude ?? [])]) {
    if (typeof p === "string" && !all.some((l) => matches(l.name, [p]))) {
      throw new Error(
        `prunable layer pattern "${p}" matches no weight (weights: ${
          all.map((l) => l.name).join(", ")
        })`,
      );
    }
  }
  return out;
}

/** Host copies of the layers' weights by name (e.g. the dense side of weight histograms). */
export function weightSnapshot(layers: readonly PrunableLayer[]): Map<string, Float32Array> {
  return new Map(layers.map((l) => [l.name, l.weight.toArray() as Float32Array]));
}
