/**
 * The forward sequence of a sequential network with nested Sequentials expanded, and which
 * layer consumes each layer's output: what filter pruning and the connectivity analysis walk.
 * @module
 */

import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  BatchNorm2d,
  type Classifier,
  Conv2d,
  Dropout,
  Flatten,
  Identity,
  Linear,
  MaxPool2d,
  type Module,
  ReLU,
  Sequential,
} from "@topiary/core";

/** Modules that pass channels through unchanged. */
export function passesChannels(m: Module): boolean {
  return m instanceof ReLU || m instanceof MaxPool2d || m instanceof AvgPool2d ||
    m instanceof AdaptiveAvgPool2d || m instanceof Dropout || m instanceof Identity;
}

/** The model's forward sequence with nested Sequentials expanded, and module names. */
export function leaves(
  model: Classifier,
  what: string,
): { seq: Module[]; name: Map<Module, string> } {
  const top = model.sequence();
  if (!top) {
    throw new Error(
      `${what} needs a sequential network; ${model.constructor.name} is not one`,
    );
  }
  const seq: Module[] = [];
  const expand = (m: Module) => {
    if (m instanceof Sequential) m.modules().forEach(expand);
    else seq.push(m);
  };
  top.forEach(expand);
  const name = new Map(model.namedModules().map(([n, m]) => [m, n] as [Module, string]));
  return { seq, name };
}

/** Index of the layer that consumes layer i's output, checking what lies between. */
export function consumer(seq: Module[], i: number, name: Map<Module, string>): number {
  for (let j = i + 1; j < seq.length; j++) {
    const c = seq[j];
    if (c instanceof Conv2d || c instanceof Linear) return j;
    if (!(passesChannels(c) || c instanceof BatchNorm2d || c instanceof Flatten)) {
      throw new Error(
        `filter pruning: ${c.constructor.name} "${name.get(c) ?? j}" after ` +
          `"${name.get(seq[i])}" is not supported`,
      );
    }
  }
  return -1;
}
