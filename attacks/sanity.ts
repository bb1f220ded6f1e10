/**
 * Gradient-masking checks, as AutoAttack raises them: zero input gradients, a
 * non-deterministic forward pass, the score-based attack beating the gradient attacks, and
 * robust accuracy that does not fall as eps grows. Each check gives a {@link SanityCheck}
 * with a message that says what was seen and what it may mean.
 * @module
 */

import {
  argmax,
  detach,
  grad,
  type Module,
  noGrad,
  softmaxCrossEntropy,
  type Tensor,
  tidy,
  withGrad,
} from "@topiary/core";
import type { Attack, Norm } from "./types.ts";

/** Names of the checks. */
export type SanityId =
  | "zero-gradients"
  | "non-deterministic"
  | "gradient-free-beats-gradient"
  | "eps-not-decreasing";

/** The outcome of one check. */
export interface SanityCheck {
  /** Which check. */
  id: SanityId;
  /** Whether it raised a flag. */
  raised: boolean;
  /** Whether it could not run (then `raised` is false and the message says why). */
  skipped: boolean;
  /** What was found, in words. */
  message: string;
  /** The numbers behind the message. */
  details: Record<string, unknown>;
}

/** The checks of an evaluation and the ids of those raised. */
export interface SanityReport {
  /** Ids of the raised flags (empty when all is well). */
  raised: SanityId[];
  /** Every check, raised or not. */
  checks: SanityCheck[];
}

/** Thresholds of the checks (AutoAttack's where it has one). */
export interface SanityOptions {
  /** An input gradient counts as zero when max |g| <= this (default 1e-8, as AutoAttack). */
  zeroGradTolerance?: number;
  /** Raise when more than this fraction of sampled examples has a zero gradient (default 0). */
  maxZeroGradFraction?: number;
  /**
   * Two passes differ when a prediction differs or the relative logit difference, max over
   * rows of ||l1 - l2||_2 / max(||l1||_2, ||l2||_2), exceeds this (default 1e-6, AutoAttack's
   * threshold; AutoAttack normalises each pass first, which misses pure rescalings).
   */
  determinismTolerance?: number;
  /**
   * Raise when gradient-free attacks break more than this fraction of all evaluated
   * examples that the gradient attacks run on them left robust (default 0.002, AutoAttack's
   * 0.2 points).
   */
  gradientFreeThreshold?: number;
}

const DEFAULTS: Required<SanityOptions> = {
  zeroGradTolerance: 1e-8,
  maxZeroGradFraction: 0,
  determinismTolerance: 1e-6,
  gradientFreeThreshold: 0.002,
};

/** Options with defaults filled in and checked. */
export function sanityDefaults(o: SanityOptions = {}): Required<SanityOptions> {
  const r = { ...DEFAULTS, ...o };
  for (const [k, v] of Object.entries(r)) {
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) {
      throw new Error(`sanity options: ${k} must be a finite number >= 0, got ${v}`);
    }
  }
  return r;
}

/** The report of a list of checks. */
export function sanityReport(checks: SanityCheck[]): SanityReport {
  return { raised: checks.filter((c) => c.raised).map((c) => c.id), checks };
}

/** A check that could not run, with the reason. */
export function skippedCheck(id: SanityId, reason: string): SanityCheck {
  return { id, raised: false, skipped: true, message: `not checked: ${reason}`, details: {} };
}

/**
 * Whether an attack is score-based (uses no gradients): it says so with a `gradientFree:
 * true` property, or its name starts with "square".
 */
export function isGradientFree(a: Attack): boolean {
  return (a as { gradientFree?: unknown }).gradientFree === true || /^square/i.test(a.name);
}

/**
 * Counts examples of the batch whose input gradient of the summed cross-entropy is zero
 * (max |g| <= tolerance), in the model's current mode. Raised above `maxZeroGradFraction`.
 */
export function checkZeroGradients(
  model: Module,
  x: Tensor,
  y: Tensor,
  opts: SanityOptions = {},
): SanityCheck {
  const o = sanityDefaults(opts);
  const g = tidy(() =>
    withGrad(() => {
      const xi = detach(x);
      xi.requiresGrad = true;
      const loss = softmaxCrossEntropy(model.forward(xi), y, "sum");
      return grad(loss, [xi])[0].toArray();
    })
  );
  const n = x.shape[0], per = n > 0 ? g.length / n : 0;
  let zero = 0, nonFinite = 0;
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let j = i * per; j < (i + 1) * per; j++) {
      const a = Math.abs(g[j]);
      if (!Number.isFinite(a)) m = Infinity;
      else if (a > m) m = a;
    }
    if (m === Infinity) nonFinite++;
    else if (m <= o.zeroGradTolerance) zero++;
  }
  const frac = n > 0 ? zero / n : 0;
  const raised = frac > o.maxZeroGradFraction || nonFinite > 0;
  const details = { sampled: n, zero, nonFinite, tolerance: o.zeroGradTolerance };
  const message = raised
    ? `${zero} of ${n} sampled examples have a zero input gradient of the cross-entropy ` +
      `loss (max |g| <= ${o.zeroGradTolerance})` +
      (nonFinite ? ` and ${nonFinite} a non-finite one` : "") +
      `: gradient-based attacks cannot move them, so their robust accuracy may be ` +
      `overstated (gradient masking); check with the score-based attack`
    : `input gradients are non-zero on all ${n} sampled examples`;
  return { id: "zero-gradients", raised, skipped: false, message, details };
}

/**
 * Runs two forward passes of the same batch without gradients, in the model's current mode,
 * and raises when predictions differ or normalised logits differ by more than the tolerance.
 */
export function checkDeterministic(
  model: Module,
  x: Tensor,
  opts: SanityOptions = {},
): SanityCheck {
  const o = sanityDefaults(opts);
  const pass = () =>
    noGrad(() =>
      tidy(() => {
        const logits = model.forward(x);
        return { l: Float64Array.from(logits.toArray()), p: argmax(logits, 1).toArray() };
      })
    );
  const a = pass(), b = pass();
  const n = a.p.length, k = n > 0 ? a.l.length / n : 0;
  let predDiff = 0, maxDiff = 0, identical = a.l.length === b.l.length;
  for (let i = 0; i < n; i++) {
    if (a.p[i] !== b.p[i]) predDiff++;
    let na = 0, nb = 0, d = 0;
    for (let j = i * k; j < (i + 1) * k; j++) {
      na += a.l[j] * a.l[j];
      nb += b.l[j] * b.l[j];
      d += (a.l[j] - b.l[j]) ** 2;
      if (a.l[j] !== b.l[j] && !(Number.isNaN(a.l[j]) && Number.isNaN(b.l[j]))) identical = false;
    }
    const rel = identical ? 0 : Math.sqrt(d) / (Math.sqrt(Math.max(na, nb)) + 1e-10);
    if (!(rel <= maxDiff)) maxDiff = rel; // also catches NaN
  }
  const raised = predDiff > 0 || !(maxDiff <= o.determinismTolerance);
  const details = {
    sampled: n,
    predictionsDiffering: predDiff,
    maxRelativeDiff: maxDiff,
    bitIdentical: identical,
    tolerance: o.determinismTolerance,
  };
  const message = raised
    ? `two forward passes of the same ${n} examples in eval mode differ ` +
      `(${predDiff} predictions, max relative logit difference ${maxDiff.toExponential(2)}): ` +
      `the model looks randomised, which makes fixed-sample attacks unreliable; ` +
      `evaluate it with expectation over transformation (EOT) or make it deterministic`
    : `two forward passes of the same ${n} examples agree` +
      (identical ? " bit for bit" : ` (max relative difference ${maxDiff.toExponential(2)})`);
  return { id: "non-deterministic", raised, skipped: false, message, details };
}

/** What the evaluation found about gradient-free against gradient attacks. */
export interface GradientFreeGap {
  /** Names of the gradient-free attacks and of the gradient attacks. */
  gradientFree: string[];
  gradient: string[];
  /** Examples a gradient-free attack broke although gradient attacks run on them did not. */
  freeOnly: number;
  /**
   * Examples the comparison covers: a gradient-free attack ran on them after a gradient
   * attack did (cascade), or both kinds ran on them (full).
   */
  compared: number;
  /** Evaluated examples (the denominator of the threshold). */
  n: number;
}

/**
 * Raises when gradient-free (score-based) attacks broke more than `gradientFreeThreshold`
 * of the evaluated examples that the gradient attacks left robust: a sign that gradients
 * are masked and the gradient attacks' numbers are too optimistic.
 */
export function checkGradientFreeGap(gap: GradientFreeGap, opts: SanityOptions = {}): SanityCheck {
  const o = sanityDefaults(opts);
  const id: SanityId = "gradient-free-beats-gradient";
  if (gap.gradientFree.length === 0) return skippedCheck(id, "no gradient-free attack was run");
  if (gap.gradient.length === 0) return skippedCheck(id, "no gradient-based attack was run");
  if (gap.compared === 0) {
    return skippedCheck(
      id,
      "no example was attacked by both kinds (in cascade mode, run the gradient-free " +
        "attack after the gradient attacks, or use perAttackFull)",
    );
  }
  const frac = gap.n > 0 ? gap.freeOnly / gap.n : 0;
  const raised = frac > o.gradientFreeThreshold;
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const details = { ...gap, fraction: frac, threshold: o.gradientFreeThreshold };
  const message = raised
    ? `the gradient-free attack (${gap.gradientFree.join(", ")}) broke ${gap.freeOnly} ` +
      `examples (${pct(frac)} of ${gap.n}) that the gradient attacks ` +
      `(${gap.gradient.join(", ")}) left robust, above the ${pct(o.gradientFreeThreshold)} ` +
      `threshold: gradients are likely masked and gradient-based robust accuracy is ` +
      `unreliable; use more Square queries/restarts or an adaptive attack`
    : `the gradient-free attack broke ${gap.freeOnly} examples (${pct(frac)}) the gradient ` +
      `attacks missed, within the ${pct(o.gradientFreeThreshold)} threshold`;
  return { id, raised, skipped: false, message, details };
}

/** The parts of a record that {@link checkEpsMonotonic} reads. */
export interface EpsPoint {
  eps: number;
  norm: Norm;
  robustAccuracy: number;
  model?: { stateDictSha256: string };
  examples?: { sha256: string };
}

/**
 * Takes evaluations of one model on the same examples at several eps (any order) and raises
 * when robust accuracy rises with eps by more than `tolerance` anywhere, or does not fall at
 * all (largest-eps accuracy >= smallest-eps accuracy > 0) over the whole range. Records of different models,
 * norms or example sets are an error.
 */
export function checkEpsMonotonic(points: readonly EpsPoint[], tolerance = 0): SanityCheck {
  const id: SanityId = "eps-not-decreasing";
  if (!(tolerance >= 0)) {
    throw new Error(`checkEpsMonotonic: tolerance must be >= 0, got ${tolerance}`);
  }
  const first = points[0];
  for (const p of points) {
    const same = (a?: string, b?: string) => a === undefined || b === undefined || a === b;
    if (p.norm !== first.norm) {
      throw new Error(`checkEpsMonotonic: records mix norms ${first.norm} and ${p.norm}`);
    }
    if (!same(p.model?.stateDictSha256, first.model?.stateDictSha256)) {
      throw new Error(`checkEpsMonotonic: records come from different models (state-dict hashes)`);
    }
    if (!same(p.examples?.sha256, first.examples?.sha256)) {
      throw new Error(`checkEpsMonotonic: records evaluate different example sets`);
    }
  }
  const pts = [...points].sort((a, b) => a.eps - b.eps);
  const epsList = [...new Set(pts.map((p) => p.eps))];
  if (epsList.length < 2) return skippedCheck(id, "needs records at two or more eps values");
  const rises: string[] = [];
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1], b = pts[i];
    if (b.eps > a.eps && b.robustAccuracy > a.robustAccuracy + tolerance) {
      rises.push(`${a.robustAccuracy} at eps ${a.eps} -> ${b.robustAccuracy} at eps ${b.eps}`);
    }
  }
  const lo = pts[0], hi = pts[pts.length - 1];
  const flat = lo.robustAccuracy > 0 && hi.robustAccuracy >= lo.robustAccuracy;
  const raised = rises.length > 0 || flat;
  const curve = pts.map((p) => ({ eps: p.eps, robustAccuracy: p.robustAccuracy }));
  const message = rises.length
    ? `robust accuracy rises as eps grows (${rises.join("; ")}): the attack is not finding ` +
      `adversarial examples it should (a larger ball contains the smaller one), a sign of ` +
      `gradient masking or a too weak attack`
    : flat
    ? `robust accuracy does not fall from eps ${lo.eps} (${lo.robustAccuracy}) to eps ` +
      `${hi.eps} (${hi.robustAccuracy}): the attack is not using the larger budget, a sign ` +
      `of gradient masking or a too weak attack`
    : `robust accuracy falls as eps grows (${lo.robustAccuracy} at eps ${lo.eps} to ` +
      `${hi.robustAccuracy} at eps ${hi.eps})`;
  return { id, raised, skipped: false, message, details: { curve, tolerance } };
}
