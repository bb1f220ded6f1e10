/**
 * One run of Auto-PGD (Croce & Hein 2020) on a batch: momentum steps, step-size halving at
 * the checkpoints, restarts from the best point; every iterate is offered to the tracker.
 * @module
 */

import {
  add,
  copyFromHost,
  div,
  type Module,
  mul,
  noGrad,
  projectToBall,
  sign,
  sub,
  type Tensor,
  tensor,
  tidy,
  withReluSurrogate,
} from "@topiary/core";
import { type BestTracker, lossGrad } from "./_engine.ts";
import { normalizedStart, rowNorms, rowShape } from "./_start.ts";
import { copyOf, copyRows } from "./_util.ts";
import type { AttackContext, Norm } from "./types.ts";

/**
 * The iterations (1-based) after which APGD checks whether to halve the step size, for
 * `steps` iterations: p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06),
 * in the integer form of the reference implementation (first interval floor(0.22 n),
 * shrinking by floor(0.03 n) down to floor(0.06 n), each at least 1). For 100 iterations:
 * 22, 41, 57, 70, 80, 87, 93, 99.
 */
export function apgdCheckpoints(steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`apgdCheckpoints: steps must be an integer >= 1, got ${steps}`);
  }
  let k = Math.max(Math.floor(0.22 * steps), 1);
  const decrease = Math.max(Math.floor(0.03 * steps), 1);
  const least = Math.max(Math.floor(0.06 * steps), 1);
  const out: number[] = [];
  for (let t = k; t <= steps; t += k) {
    out.push(t);
    k = Math.max(k - decrease, least);
  }
  return out;
}

/**
 * The step-size decision at a checkpoint, per example: halve (1) when fewer than rho of the
 * `interval` steps since the last checkpoint increased the loss (condition 1), or when the
 * step size was not halved at the last checkpoint and the best loss has not grown since
 * (condition 2).
 */
export function apgdReduce(
  increases: ArrayLike<number>,
  interval: number,
  rho: number,
  reducedAtCheck: ArrayLike<number>,
  bestAtCheck: ArrayLike<number>,
  lossBest: ArrayLike<number>,
): Uint8Array {
  const out = new Uint8Array(increases.length);
  for (let j = 0; j < out.length; j++) {
    const stalled = !reducedAtCheck[j] && bestAtCheck[j] >= lossBest[j];
    // "<=" as the reference implementation (the paper writes "<").
    out[j] = increases[j] <= rho * interval || stalled ? 1 : 0;
  }
  return out;
}

/** Settings of one APGD run. */
export interface ApgdConfig {
  norm: Norm;
  eps: number;
  steps: number;
  /** Condition 1 threshold on the fraction of loss-increasing steps (0.75). */
  rho: number;
  /** Momentum (0.75). */
  momentum: number;
  /** Initial step size as a multiple of eps (2). */
  initialStep: number;
  /** β of the smooth ReLU gradient (null: exact; see core's withReluSurrogate). */
  reluSurrogate: number | null;
}

/** One step from x: z = P(x + eta * dir(g)); x' = P(x + a (z - x) + (1 - a)(x - xPrev)). */
function step(
  c: ApgdConfig,
  x: Tensor,
  xPrev: Tensor,
  x0: Tensor,
  g: Tensor,
  eta: Tensor,
  a: number,
): Tensor {
  return tidy(() =>
    noGrad(() => {
      const dir = c.norm === "linf" ? sign(g) : div(g, add(rowNorms(g), 1e-12));
      const z = add(x, mul(dir, eta));
      projectToBall(c.norm, z, x0, c.eps);
      if (a === 1) return z;
      const v = add(mul(z, a), mul(sub(mul(x, 2), xPrev), 1 - a));
      projectToBall(c.norm, v, x0, c.eps);
      return v;
    })
  );
}

/**
 * Runs APGD from a random start (stream "<name>-start:<k>") on x0 [n, ...] (dense), whose
 * rows are batch rows `rows`; `lossOf` gives per-example losses, `key` the tracker's
 * ranking loss (default: the same losses).
 */
export function apgdRun(
  model: Module,
  c: ApgdConfig,
  x0: Tensor,
  lossOf: (logits: Tensor) => Tensor,
  rows: Int32Array,
  tracker: BestTracker,
  ctx: AttackContext,
  name: string,
  k: number,
  key?: (loss: Float32Array, logits: Float32Array) => ArrayLike<number>,
): void {
  tidy(() => {
    const n = x0.shape[0];
    const offer = (x: Tensor, loss: Float32Array, logits: Float32Array) =>
      tracker.offer(x, rows, key ? key(loss, logits) : loss, logits);
    let x = normalizedStart(c.norm, c.eps, x0, ctx, name, k);
    x.requiresGrad = true;
    const beta = c.reluSurrogate;
    const gradAt = (xi: Tensor) =>
      beta === null
        ? lossGrad(model, xi, lossOf, true)
        : withReluSurrogate(beta, () => lossGrad(model, xi, lossOf, true));
    let p = gradAt(x);
    offer(x, p.loss!, p.logits!);
    let g = p.g;
    const xBest = copyOf(x), gBest = copyOf(g);
    const lossBest = Float64Array.from(p.loss!);
    const lastLoss = Float64Array.from(p.loss!);
    const eta = new Float32Array(n).fill(c.initialStep * c.eps);
    const etaT = tensor(eta, rowShape(x0), { backend: x0.backend });
    let xPrev = copyOf(x);
    const increases = new Int32Array(n);
    let bestAtCheck = lossBest.slice();
    let reducedAtCheck: Uint8Array = new Uint8Array(n).fill(1);
    const checks = apgdCheckpoints(c.steps);
    let next = 0, lastCheck = 0;
    for (let i = 0; i < c.steps; i++) {
      const xNew = step(c, x, xPrev, x0, g, etaT, i === 0 ? 1 : c.momentum);
      xPrev.dispose();
      g.dispose();
      xPrev = x;
      xPrev.requiresGrad = false;
      x = xNew;
      x.requiresGrad = true;
      p = gradAt(x);
      g = p.g;
      const loss = p.loss!;
      offer(x, loss, p.logits!);
      const better: number[] = [];
      for (let j = 0; j < n; j++) {
        if (loss[j] > lastLoss[j]) increases[j]++;
        lastLoss[j] = loss[j];
        if (loss[j] > lossBest[j]) {
          lossBest[j] = loss[j];
          better.push(j);
        }
      }
      if (better.length) {
        copyRows(xBest, better, x, better);
        copyRows(gBest, better, g, better);
      }
      if (i + 1 !== checks[next]) continue;
      const interval = checks[next] - lastCheck;
      const reduce = apgdReduce(increases, interval, c.rho, reducedAtCheck, bestAtCheck, lossBest);
      const back: number[] = [];
      for (let j = 0; j < n; j++) {
        if (reduce[j]) {
          eta[j] /= 2;
          back.push(j);
        }
      }
      if (back.length) {
        copyRows(x, back, xBest, back);
        copyRows(g, back, gBest, back);
        copyFromHost(etaT, eta);
      }
      reducedAtCheck = reduce;
      bestAtCheck = lossBest.slice();
      increases.fill(0);
      lastCheck = checks[next++];
    }
    x.requiresGrad = false;
  });
}
