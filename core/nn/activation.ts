/**
 * Parameter-free layers: `ReLU`, `Flatten`, `Identity`.
 * @module
 */

import { relu } from "../ops/elementwise.ts";
import { flatten } from "../ops/layout.ts";
import type { Tensor } from "../tensor.ts";
import { identity } from "./_identity.ts";
import { Module } from "./module.ts";

/** max(x, 0); keeps blocked layouts (relu(0) = 0). */
export class ReLU extends Module {
  /** Applies max(x, 0). */
  forward(x: Tensor): Tensor {
    return relu(x);
  }

  override toString(): string {
    return "ReLU()";
  }
}

/** Flattens dims from `startDim` (default 1) to the end, as nn.Flatten; gives a plain layout. */
export class Flatten extends Module {
  /** First dim to flatten. */
  readonly startDim: number;

  constructor(startDim = 1) {
    super();
    this.startDim = startDim;
  }

  /** Flattens x. */
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim);
  }

  override toString(): string {
    return `Flatten(${this.startDim})`;
  }
}

/** Returns its input (a new handle on the same values), as nn.Identity. */
export class Identity extends Module {
  /** Returns x through a new handle. */
  forward(x: Tensor): Tensor {
    return identity(x);
  }

  override toString(): string {
    return "Identity()";
  }
}
