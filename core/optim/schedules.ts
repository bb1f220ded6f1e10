/**
 * Learning-rate schedules as pure functions of the step: `schedule(step)` is the learning rate
 * of optimizer step `step` (counting from 0). They keep no state, so a run (or a lottery-ticket
 * rewind) can start a fresh optimizer and continue the schedule at any step k. Set
 * `opt.lr = schedule(step)` before each `opt.step(grads)`.
 *
 * PyTorch's schedulers are stepped once per epoch or once per batch; the closed forms below
 * are those of PyTorch with `step` as its `last_epoch` counter. Wrap an epoch-wise schedule in
 * {@link perEpoch} to drive it per batch as a PyTorch loop calling `scheduler.step()` at each
 * epoch's end would.
 * @module
 */

/** A learning-rate schedule: the learning rate of step `step` (an integer from 0). */
export type Schedule = (step: number) => number;

function checkNum(op: string, name: string, v: number, min = 0, strict = false): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || (strict && v === min)) {
    throw new Error(
      `${op}: ${name} must be a finite number ${strict ? ">" : ">="} ${min}, got ${v}`,
    );
  }
}

function checkInt(op: string, name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) {
    throw new Error(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
  }
}

function checked(op: string, fn: Schedule): Schedule {
  return (step: number) => {
    checkInt(op, "step", step, 0);
    return fn(step);
  };
}

/** The same learning rate at every step. */
export function constantLR(lr: number): Schedule {
  checkNum("constantLR", "lr", lr);
  return checked("constantLR", () => lr);
}

/** Options of {@link stepLR}. */
export interface StepLROptions {
  /** Initial learning rate. */
  lr: number;
  /** Steps between decays. */
  stepSize: number;
  /** Decay factor (default 0.1). */
  gamma?: number;
}

/** PyTorch's StepLR: lr · gamma^⌊step / stepSize⌋. */
export function stepLR(o: StepLROptions): Schedule {
  const { lr, stepSize, gamma = 0.1 } = o;
  checkNum("stepLR", "lr", lr);
  checkInt("stepLR", "stepSize", stepSize, 1);
  checkNum("stepLR", "gamma", gamma);
  return checked("stepLR", (s) => lr * gamma ** Math.floor(s / stepSize));
}

/** Options of {@link multiStepLR}. */
export interface MultiStepLROptions {
  /** Initial learning rate. */
  lr: number;
  /** Steps at which the rate is multiplied by gamma (repeats multiply again, as PyTorch). */
  milestones: readonly number[];
  /** Decay factor (default 0.1). */
  gamma?: number;
}

/**
 * PyTorch's MultiStepLR: lr · gamma^(number of milestones ≤ step). At a milestone the decayed
 * rate already applies: with milestones [100], steps 0..99 use lr and step 100 uses lr·gamma
 * (PyTorch's `bisect_right`; the epoch index equal to a milestone is the first decayed one).
 */
export function multiStepLR(o: MultiStepLROptions): Schedule {
  const { lr, gamma = 0.1 } = o;
  checkNum("multiStepLR", "lr", lr);
  checkNum("multiStepLR", "gamma", gamma);
  const ms = [...o.milestones].sort((a, b) => a - b);
  for (const m of ms) checkInt("multiStepLR", "milestone", m, 0);
  return checked("multiStepLR", (s) => {
    let n = 0;
    while (n < ms.length && ms[n] <= s) n++;
    return lr * gamma ** n;
  });
}

/** Options of {@link cosineLR}. */
export interface CosineLROptions {
  /** Initial (maximum) learning rate. */
  lr: number;
  /** Steps of the annealing (PyTorch's T_max). */
  totalSteps: number;
  /** Final (minimum) learning rate (PyTorch's eta_min, default 0). */
  minLr?: number;
}

/**
 * PyTorch's CosineAnnealingLR in closed form: minLr + (lr − minLr)(1 + cos(π·step/T))/2, so
 * step 0 is lr and step T is minLr. Differences: from step T on the rate stays at minLr
 * (PyTorch's closed form rises again, a warm restart without a reset), and the value is the
 * closed form, which PyTorch's recursive update matches only up to rounding.
 */
export function cosineLR(o: CosineLROptions): Schedule {
  const { lr, totalSteps, minLr = 0 } = o;
  checkNum("cosineLR", "lr", lr);
  checkNum("cosineLR", "minLr", minLr);
  checkInt("cosineLR", "totalSteps", totalSteps, 1);
  return checked(
    "cosineLR",
    (s) =>
      s >= totalSteps
        ? minLr
        : minLr + ((lr - minLr) * (1 + Math.cos((Math.PI * s) / totalSteps))) / 2,
  );
}

/** NumPy's `interp` for one point: xs non-decreasing, constant beyond the ends. */
function interp(xs: readonly number[], ys: readonly number[], x: number): number {
  const n = xs.length;
  if (x < xs[0]) return ys[0];
  if (x > xs[n - 1]) return ys[n - 1];
  let j = 0; // the last j with xs[j] <= x, as NumPy's binary search finds it
  while (j + 1 < n && xs[j + 1] <= x) j++;
  if (j === n - 1 || x === xs[j]) return ys[j];
  const slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
  return slope * (x - xs[j]) + ys[j];
}

/**
 * Piecewise-linear interpolation through `(step, lr)` points with non-decreasing steps,
 * constant beyond the ends (NumPy's `interp`, which the fast adversarial training code uses).
 */
export function piecewiseLinearLR(points: readonly (readonly [number, number])[]): Schedule {
  const op = "piecewiseLinearLR";
  if (points.length === 0) throw new Error(`${op}: no points`);
  points.forEach(([x, y], i) => {
    checkNum(op, `step of point ${i}`, x);
    checkNum(op, `lr of point ${i}`, y);
    if (i > 0 && x < points[i - 1][0]) {
      throw new Error(`${op}: steps must not decrease (point ${i}: ${x} < ${points[i - 1][0]})`);
    }
  });
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  return checked(op, (s) => interp(xs, ys, s));
}

/** Options of {@link triangularLR}. */
export interface TriangularLROptions {
  /** Peak learning rate. */
  maxLr: number;
  /** Step at which the peak is reached. */
  peakStep: number;
  /** Step at which the rate is back at `endLr` (and stays there). */
  totalSteps: number;
  /** Rate at step 0 (default 0). */
  startLr?: number;
  /** Rate at `totalSteps` (default 0). */
  endLr?: number;
}

/**
 * The one-cycle triangular schedule of Wong et al. (fast adversarial training): linear from
 * startLr (0) at step 0 up to maxLr at peakStep, then linear down to endLr (0) at totalSteps.
 * Their code evaluates it after each batch, at t = epoch + (i + 1)/batches in epochs with the
 * peak at ⌊2·epochs/5⌋ epochs; {@link fastATCyclicLR} reproduces that exactly. This is not
 * PyTorch's OneCycleLR (see {@link oneCycleLR}).
 */
export function triangularLR(o: TriangularLROptions): Schedule {
  const { maxLr, peakStep, totalSteps, startLr = 0, endLr = 0 } = o;
  if (!(peakStep >= 0 && peakStep <= totalSteps && totalSteps > 0)) {
    throw new Error(
      `triangularLR: need 0 <= peakStep <= totalSteps and totalSteps > 0, got peakStep ` +
        `${peakStep}, totalSteps ${totalSteps}`,
    );
  }
  return piecewiseLinearLR([[0, startLr], [peakStep, maxLr], [totalSteps, endLr]]);
}

/**
 * Wong et al.'s schedule exactly as their code computes it for batch i of epoch e:
 * np.interp(e + (i + 1)/stepsPerEpoch, [0, ⌊2·epochs/5⌋, epochs], [0, maxLr, 0]), where
 * step = e·stepsPerEpoch + i. The first step thus already has a non-zero rate.
 */
export function fastATCyclicLR(
  o: { maxLr: number; epochs: number; stepsPerEpoch: number },
): Schedule {
  const op = "fastATCyclicLR";
  checkNum(op, "maxLr", o.maxLr);
  checkInt(op, "epochs", o.epochs, 1);
  checkInt(op, "stepsPerEpoch", o.stepsPerEpoch, 1);
  const xs = [0, Math.floor((o.epochs * 2) / 5), o.epochs], ys = [0, o.maxLr, 0];
  const spe = o.stepsPerEpoch;
  return checked(op, (s) => interp(xs, ys, Math.floor(s / spe) + ((s % spe) + 1) / spe));
}

/** Options of {@link oneCycleLR} (defaults as torch.optim.lr_scheduler.OneCycleLR). */
export interface OneCycleLROptions {
  /** Peak learning rate. */
  maxLr: number;
  /** Length of the cycle in steps. */
  totalSteps: number;
  /** Fraction of the cycle spent increasing the rate (default 0.3). */
  pctStart?: number;
  /** Annealing shape (default "cos"). */
  anneal?: "cos" | "linear";
  /** initialLr = maxLr / divFactor (default 25). */
  divFactor?: number;
  /** minLr = initialLr / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** Three phases (up, down to initialLr, down to minLr) instead of two (default false). */
  threePhase?: boolean;
}

/**
 * PyTorch's OneCycleLR (Smith's 1cycle), learning rate only: from maxLr/divFactor up to maxLr
 * at step pctStart·T − 1, then down to maxLr/(divFactor·finalDivFactor) at step T − 1, with
 * cosine or linear annealing; steps past T are an error, as in PyTorch. Unlike PyTorch it
 * does not cycle the momentum. For the linear triangle of Wong et al. see {@link triangularLR}.
 */
export function oneCycleLR(o: OneCycleLROptions): Schedule {
  const op = "oneCycleLR";
  const { maxLr, totalSteps, pctStart = 0.3, anneal = "cos", divFactor = 25 } = o;
  const { finalDivFactor = 1e4, threePhase = false } = o;
  checkNum(op, "maxLr", maxLr);
  checkInt(op, "totalSteps", totalSteps, 1);
  if (!(pctStart >= 0 && pctStart <= 1)) {
    throw new Error(`${op}: pctStart must be in [0, 1], got ${pctStart}`);
  }
  checkNum(op, "divFactor", divFactor, 0, true);
  checkNum(op, "finalDivFactor", finalDivFactor, 0, true);
  if (anneal !== "cos" && anneal !== "linear") {
    throw new Error(`${op}: anneal must be "cos" or "linear", got "${anneal}"`);
  }
  const initial = maxLr / divFactor, min = initial / finalDivFactor;
  const phases: [number, number, number][] = threePhase
    ? [
      [pctStart * totalSteps - 1, initial, maxLr],
      [2 * pctStart * totalSteps - 2, maxLr, initial],
      [totalSteps - 1, initial, min],
    ]
    : [[pctStart * totalSteps - 1, initial, maxLr], [totalSteps - 1, maxLr, min]];
  phases.forEach(([end], i) => {
    const start = i === 0 ? 0 : phases[i - 1][0];
    if (!(end > start)) {
      throw new Error(
        `${op}: phase ${i + 1} is empty (it would end at step ${end}, start at ${start}); ` +
          `choose pctStart and totalSteps so that every phase has at least one step`,
      );
    }
  });
  const f = anneal === "cos"
    ? (a: number, b: number, pct: number) => b + ((a - b) / 2) * (Math.cos(Math.PI * pct) + 1)
    : (a: number, b: number, pct: number) => (b - a) * pct + a;
  return checked(op, (s) => {
    if (s > totalSteps) {
      throw new Error(`${op}: step ${s} is past the cycle's ${totalSteps} steps`);
    }
    let start = 0;
    for (let i = 0; i < phases.length; i++) {
      const [end, a, b] = phases[i];
      if (s <= end || i === phases.length - 1) return f(a, b, (s - start) / (end - start));
      start = end;
    }
    return min; // unreachable
  });
}

/** Options of {@link linearWarmup}. */
export interface WarmupOptions {
  /** Warm-up length in steps. */
  steps: number;
  /** Factor at step 0, rising linearly to 1 at `steps` (default 1/3, PyTorch's LinearLR). */
  startFactor?: number;
  /**
   * false (default): the warm-up factor multiplies the inner schedule, which runs from step 0
   * (PyTorch's LinearLR chained with it). true: the inner schedule starts after the warm-up,
   * which ramps towards its step-0 rate (PyTorch's SequentialLR with milestone `steps`).
   */
  sequential?: boolean;
}

/**
 * Linear warm-up composed with any schedule: factor(s) = startFactor + (1 − startFactor) ·
 * min(s, steps)/steps (PyTorch's LinearLR closed form), applied as {@link WarmupOptions}
 * describes.
 */
export function linearWarmup(inner: Schedule, o: WarmupOptions): Schedule {
  const op = "linearWarmup";
  const { steps, startFactor = 1 / 3, sequential = false } = o;
  checkInt(op, "steps", steps, 1);
  if (!(startFactor >= 0 && startFactor <= 1)) {
    throw new Error(`${op}: startFactor must be in [0, 1], got ${startFactor}`);
  }
  const factor = (s: number) => startFactor + ((1 - startFactor) * Math.min(s, steps)) / steps;
  return checked(op, (s) => {
    if (!sequential) return inner(s) * factor(s);
    return s < steps ? inner(0) * factor(s) : inner(s - steps);
  });
}

/**
 * An epoch-wise schedule driven per batch: the rate of step s is `inner(⌊s / stepsPerEpoch⌋)`,
 * as a PyTorch loop that calls `scheduler.step()` after each epoch.
 */
export function perEpoch(inner: Schedule, stepsPerEpoch: number): Schedule {
  checkInt("perEpoch", "stepsPerEpoch", stepsPerEpoch, 1);
  return checked("perEpoch", (s) => inner(Math.floor(s / stepsPerEpoch)));
}
