/**
 * A tiny two-layer network and synthetic data for the resume tests, written inline (not with
 * core/nn's layers) so the checkpoint tests depend only on Module, ops and the optimizers.
 * @module
 */

import * as T from "@topiary/core";
import { grad, philoxPermutation, philoxUniform, type Tensor, tidy } from "@topiary/core";
import { Module } from "../../../core/nn/module.ts";
import type { Optimizer, Schedule } from "../../../core/optim/mod.ts";
import type { TrainPosition } from "../../../core/checkpoint/mod.ts";

/** Sizes of the synthetic problem. */
export const FEATURES = 8, CLASSES = 3, EXAMPLES = 96, BATCH = 16;
/** Batches per epoch (no partial batch). */
export const BATCHES_PER_EPOCH = EXAMPLES / BATCH;

/** A linear layer with a pruning mask buffer (weight_mask, f32 0/1). */
class MaskedLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly mask: Tensor;

  constructor(inF: number, outF: number, seed: number, layer: number) {
    super();
    const bound = 1 / Math.sqrt(inF);
    const u = philoxUniform(inF * outF + outF, seed, "init", layer);
    const w = Float32Array.from(u.subarray(0, inF * outF), (v) => (2 * v - 1) * bound);
    const b = Float32Array.from(u.subarray(inF * outF), (v) => (2 * v - 1) * bound);
    this.weight = this.registerParameter("weight", T.tensor(w, [outF, inF]));
    this.bias = this.registerParameter("bias", T.tensor(b, [outF]));
    const m = Float32Array.from({ length: inF * outF }, (_, i) => (i % 5 === 2 ? 0 : 1));
    this.mask = this.registerBuffer("weight_mask", T.tensor(m, [outF, inF]));
  }

  forward(x: Tensor): Tensor {
    return T.linear(x, this.weight, this.bias);
  }
}

/** fc1 → relu → fc2, plus a `num_batches_tracked` i32 counter as batch norm keeps one. */
export class TinyNet extends Module {
  readonly fc1: MaskedLinear;
  readonly fc2: MaskedLinear;
  readonly tracked: Tensor;

  constructor(seed: number) {
    super();
    this.fc1 = this.registerModule("fc1", new MaskedLinear(FEATURES, 16, seed, 1));
    this.fc2 = this.registerModule("fc2", new MaskedLinear(16, CLASSES, seed, 2));
    this.tracked = this.registerBuffer("num_batches_tracked", T.tensor([0], [], { dtype: "i32" }));
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(T.relu(this.fc1.forward(x)));
  }

  /** Masks by parameter name, for the optimizer. */
  masks(): Map<string, Tensor> {
    return new Map([["fc1.weight", this.fc1.mask], ["fc2.weight", this.fc2.mask]]);
  }
}

/** Synthetic, learnable data: labels are the argmax of a fixed projection of the inputs. */
export function syntheticData(): { x: Float32Array; y: Int32Array } {
  const x = philoxUniform(EXAMPLES * FEATURES, 99, "data", 0);
  const p = philoxUniform(FEATURES * CLASSES, 99, "projection", 0);
  const y = new Int32Array(EXAMPLES);
  for (let n = 0; n < EXAMPLES; n++) {
    let best = -Infinity;
    for (let c = 0; c < CLASSES; c++) {
      let s = 0;
      for (let f = 0; f < FEATURES; f++) {
        s += (x[n * FEATURES + f] - 0.5) * (p[c * FEATURES + f] - 0.5);
      }
      if (s > best) [best, y[n]] = [s, c];
    }
  }
  return { x, y };
}

/** One training step at `pos` (data order from the seed and epoch); advances `pos`. */
export function trainStep(
  net: TinyNet,
  opt: Optimizer,
  schedule: Schedule,
  data: { x: Float32Array; y: Int32Array },
  seed: number,
  pos: TrainPosition,
): void {
  tidy(() => {
    const perm = philoxPermutation(EXAMPLES, seed, "shuffle", pos.epoch);
    const xb = new Float32Array(BATCH * FEATURES), yb = new Int32Array(BATCH);
    for (let i = 0; i < BATCH; i++) {
      const n = perm[pos.batch * BATCH + i];
      xb.set(data.x.subarray(n * FEATURES, (n + 1) * FEATURES), i * FEATURES);
      yb[i] = data.y[n];
    }
    const loss = T.softmaxCrossEntropy(
      net.forward(T.tensor(xb, [BATCH, FEATURES])),
      T.tensor(yb, [BATCH], { dtype: "i32" }),
    );
    const grads = grad(loss, net.parameters());
    opt.lr = schedule(pos.step);
    opt.step(grads);
    const nbt = net.tracked.toArray() as Int32Array;
    T.copyFromHost(net.tracked, Int32Array.of(nbt[0] + 1));
  });
  pos.step++;
  if (++pos.batch === BATCHES_PER_EPOCH) {
    pos.batch = 0;
    pos.epoch++;
  }
}
