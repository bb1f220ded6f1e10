/**
 * The training loop: epochs of batches from a `BatchLoader`, a pluggable objective (clean
 * cross-entropy here; adversarial objectives come from `@topiary/attacks`), the optimizer
 * and a stateless schedule, validation at epoch ends, metrics as JSON lines, a progress bar,
 * and hooks for checkpoints. Every position is (epoch, batch, step), so a run resumed from a
 * checkpoint continues exactly where it stopped.
 * @module
 */

import { grad } from "../autograd/grad.ts";
import { noGrad } from "../autograd/node.ts";
import type { BatchLoader } from "../data/loader.ts";
import type { Module } from "../nn/module.ts";
import type { StochasticContext } from "../nn/dropout.ts";
import { setStochasticContext } from "../nn/dropout.ts";
import { cast } from "../ops/cast.ts";
import { eq } from "../ops/elementwise.ts";
import { softmaxCrossEntropy } from "../ops/loss.ts";
import { argmax, sum } from "../ops/reduce.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { Schedule } from "../optim/schedules.ts";
import { tidy } from "../scope.ts";
import type { Tensor } from "../tensor.ts";
import type { MetricsWriter } from "./metrics.ts";
import { Progress } from "./progress.ts";

/** Where a step sits in a run. */
export interface Position {
  /** Epoch (from 0). */
  epoch: number;
  /** Batch index within the epoch. */
  batch: number;
  /** Global optimizer step (from 0): steps done before this one. */
  step: number;
}

/** Running sums of the epoch in progress (saved in checkpoints so a resumed epoch's summary
 * equals the uninterrupted one). */
export interface EpochTotals {
  /** Sum of per-example losses. */
  lossSum: number;
  /** Correct predictions. */
  correct: number;
  /** Examples seen. */
  seen: number;
}

/** A training objective: the loss of a batch (and the logits used for accuracy). */
export interface Objective {
  /** Name recorded in metrics and settings. */
  name: string;
  /** Settings recorded with the run (eps, steps, ...). */
  settings?: Record<string, unknown>;
  /** The loss of a batch; `logits` (clean or adversarial) feed the accuracy counter. */
  loss(model: Module, x: Tensor, y: Tensor, pos: Position): { loss: Tensor; logits?: Tensor };
}

/** Plain cross-entropy on clean inputs. */
export const cleanObjective: Objective = {
  name: "clean",
  loss(model, x, y) {
    const logits = model.forward(x);
    return { loss: softmaxCrossEntropy(logits, y), logits };
  },
};

/** Options of {@link fit}. */
export interface FitOptions {
  model: Module;
  optimizer: Optimizer;
  /** Learning rate per step (default: the optimizer's lr throughout). */
  schedule?: Schedule;
  train: BatchLoader;
  /** Evaluated (clean loss and accuracy, eval mode) at the end of every epoch. */
  validation?: BatchLoader;
  /** Total epochs of the run (a resumed run counts from its start). */
  epochs: number;
  objective?: Objective;
  /** Dropout and other stochastic layers draw from this context (seed, step). */
  stochastic?: StochasticContext;
  metrics?: MetricsWriter;
  /** Write a train record every this many steps (default: once per epoch only). */
  logEvery?: number;
  /** Resume position (default: the start). */
  start?: Position;
  /** Called before every step (e.g. to recompute pruning masks from scores once per step). */
  beforeStep?: (here: Position) => void;
  /** Running sums of the epoch being resumed (default: zero; see {@link EpochTotals}). */
  startTotals?: EpochTotals;
  /**
   * Called after every step with the position of the next step and the epoch's running
   * sums; return "stop" to end the run there. Checkpoints are written from here.
   */
  afterStep?: (next: Position, totals: EpochTotals) => void | "stop";
  /** Called after each epoch's validation. */
  afterEpoch?: (epoch: number, summary: EpochSummary, next: Position) => void | "stop";
  /** Progress bar label ("" or quiet: none). */
  label?: string;
  quiet?: boolean;
}

/** Per-epoch figures. */
export interface EpochSummary {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  seconds: number;
  imagesPerSecond: number;
}

/** What a run did. */
export interface FitResult {
  epochs: EpochSummary[];
  /** Where the run stopped (the next step's position). */
  end: Position;
  /** Whether it stopped early through a hook. */
  stopped: boolean;
}

/** Clean loss and accuracy of a model over a loader, in eval mode without gradients. */
export function evaluate(
  model: Module,
  loader: BatchLoader,
): { loss: number; accuracy: number; count: number } {
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0, correct = 0, count = 0;
  try {
    for (let b = 0; b < loader.batchesPerEpoch; b++) {
      tidy(() =>
        noGrad(() => {
          const { x, y } = loader.batch(0, b);
          const logits = model.forward(x);
          lossSum += softmaxCrossEntropy(logits, y, "sum").item();
          correct += countCorrect(logits, y);
          count += y.size;
        })
      );
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: lossSum / Math.max(1, count), accuracy: correct / Math.max(1, count), count };
}

/** Number of rows whose argmax equals the label. */
export function countCorrect(logits: Tensor, labels: Tensor): number {
  return tidy(() => sum(eq(cast(argmax(logits, 1), "f32"), cast(labels, "f32"))).item());
}

/** Trains `model` (synchronously); see {@link FitOptions}. */
export function fit(o: FitOptions): FitResult {
  const objective = o.objective ?? cleanObjective;
  // Differentiate what the optimizer updates (all parameters, or e.g. only pruning scores).
  const params = o.optimizer.params;
  const perEpoch = o.train.batchesPerEpoch;
  let pos: Position = { ...(o.start ?? { epoch: 0, batch: 0, step: 0 }) };
  if (pos.batch >= perEpoch) pos = { epoch: pos.epoch + 1, batch: 0, step: pos.step };
  const epochs: EpochSummary[] = [];
  if (o.stochastic) setStochasticContext(o.model, o.stochastic);
  let stopped = false;
  while (pos.epoch < o.epochs && !stopped) {
    const epoch = pos.epoch;
    const bar = new Progress({
      label: `${o.label ?? "train"} epoch ${epoch + 1}/${o.epochs}`,
      total: perEpoch,
      itemsPerStep: o.train.batchSize,
      quiet: o.quiet,
    });
    const resumed = epoch === o.start?.epoch && pos.batch > 0 ? o.startTotals : undefined;
    let lossSum = resumed?.lossSum ?? 0, correct = resumed?.correct ?? 0;
    let seen = resumed?.seen ?? 0;
    const t0 = performance.now();
    o.model.train();
    for (let b = pos.batch; b < perEpoch; b++) {
      const here: Position = { epoch, batch: b, step: pos.step };
      o.stochastic?.setStep(here.step);
      o.beforeStep?.(here);
      if (o.schedule) o.optimizer.lr = o.schedule(here.step);
      const { loss, right, n } = tidy(() => {
        const { x, y } = o.train.batch(epoch, b);
        const out = objective.loss(o.model, x, y, here);
        const grads = grad(out.loss, params);
        const lossValue = out.loss.item();
        if (!Number.isFinite(lossValue)) {
          throw new Error(
            `training diverged: the ${objective.name} loss is ${lossValue} at epoch ${epoch}, ` +
              `batch ${b}, step ${here.step} (lr ${o.optimizer.lr}); lower the learning rate ` +
              `or check the data`,
          );
        }
        o.optimizer.step(grads);
        return {
          loss: lossValue,
          right: out.logits ? countCorrect(out.logits, y) : NaN,
          n: y.size,
        };
      });
      lossSum += loss * n;
      correct += right;
      seen += n;
      pos = { epoch, batch: b + 1, step: here.step + 1 };
      bar.update(b + 1, { loss: lossSum / seen, acc: correct / seen });
      if (o.metrics && o.logEvery && pos.step % o.logEvery === 0) {
        o.metrics.write({
          step: pos.step,
          epoch,
          split: "train",
          loss,
          accuracy: right / n,
          lr: o.optimizer.lr,
        });
      }
      if (o.afterStep?.(pos, { lossSum, correct, seen }) === "stop") {
        stopped = true;
        break;
      }
    }
    if (stopped) break;
    const seconds = (performance.now() - t0) / 1000;
    const summary: EpochSummary = {
      epoch,
      trainLoss: lossSum / Math.max(1, seen),
      trainAccuracy: correct / Math.max(1, seen),
      seconds,
      imagesPerSecond: seen / Math.max(1e-9, seconds),
    };
    if (o.validation) {
      const v = evaluate(o.model, o.validation);
      summary.valLoss = v.loss;
      summary.valAccuracy = v.accuracy;
    }
    epochs.push(summary);
    pos = { epoch: epoch + 1, batch: 0, step: pos.step };
    o.metrics?.write({ step: pos.step, split: "epoch", ...summary });
    o.metrics?.sync();
    if (o.afterEpoch?.(epoch, summary, pos) === "stop") stopped = true;
  }
  return { epochs, end: pos, stopped };
}
