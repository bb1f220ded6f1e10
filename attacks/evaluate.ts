/**
 * Robust evaluation: a list of attacks on a fixed, recorded set of examples, counting an
 * example robust only if it survives every attack (point-wise worst case).
 *
 * Two modes define which examples each attack runs on and what its per-attack figure means:
 * - cascade (default, as AutoAttack): attack k runs only on the examples that are clean-
 *   correct and survived attacks 0..k-1. Its `accuracyCumulative` is the robust accuracy
 *   after attacks 0..k; `accuracyAlone` is null (not measured).
 * - full (`perAttackFull: true`): every attack runs on every clean-correct example, so
 *   `accuracyAlone` is the accuracy under that attack alone; `accuracyCumulative` is still
 *   the worst case over attacks 0..k. Costs more, gives the same robust accuracy.
 * All accuracies are fractions of the n evaluated examples (misclassified clean examples
 * count as non-robust and are never attacked).
 * @module
 */

import { type Dataset, type Module, Progress, tidy } from "@topiary/core";
import {
  checkAdversarial,
  checkModelFits,
  gather,
  jsonSettings,
  pick,
  predict,
} from "./_eval_batch.ts";
import {
  type AttackEntry,
  checkpointIdentity,
  indicesSha256,
  jsonSeed,
  modelIdentity,
  ROBUSTNESS_FORMAT,
  type RobustnessRecord,
  selectIndices,
} from "./eval_record.ts";
import { collectProvenance, type Provenance } from "./provenance.ts";
import {
  checkDeterministic,
  checkGradientFreeGap,
  checkZeroGradients,
  type GradientFreeGap,
  isGradientFree,
  type SanityCheck,
  sanityDefaults,
  type SanityOptions,
  sanityReport,
  skippedCheck,
} from "./sanity.ts";
import { type Attack, checkThreat, type ThreatModel } from "./types.ts";

/** Options of {@link evaluateRobustness}. */
export interface EvaluateOptions {
  /** Seed of the attacks' draws (AttackContext.seed) and, by default, of the subset (0). */
  seed?: number | bigint;
  /** Evaluate a seeded subset of n examples (default: the whole dataset). */
  n?: number;
  /** Seed of the subset draw (default: `seed`). */
  subsetSeed?: number | bigint;
  /** Evaluate exactly these dataset indices, in this order (instead of n). */
  indices?: ArrayLike<number>;
  /** Examples per batch (default 256). */
  batchSize?: number;
  /** Run every attack on every clean-correct example (default false: cascade). */
  perAttackFull?: boolean;
  /** Silence the progress bar. */
  quiet?: boolean;
  /** Label of the progress bar. */
  label?: string;
  /** Model name for the record (default: its class name). */
  modelName?: string;
  /** Path of the checkpoint the model was loaded from (hashed into the record). */
  checkpoint?: string;
  /** Dataset split for the record, e.g. "test". */
  split?: string;
  /** Thresholds of the sanity checks, or false to skip the model checks. */
  sanity?: SanityOptions | false;
  /** Provenance to record (default: collected at the start). */
  provenance?: Provenance;
  /** Store the index list in the record for subsets and explicit lists (default true). */
  storeIndices?: boolean;
}

/** Checks the attack list: non-empty, valid threat models, one shared threat model. */
export function checkAttacks(attacks: readonly Attack[]): ThreatModel {
  if (!Array.isArray(attacks) || attacks.length === 0) {
    throw new Error("evaluateRobustness: the attack list is empty (give at least one attack)");
  }
  for (const [i, a] of attacks.entries()) {
    if (!a || typeof a.run !== "function" || typeof a.settings !== "function") {
      throw new Error(`evaluateRobustness: attack ${i} is not an Attack (needs run and settings)`);
    }
    checkThreat(a.threat, `evaluateRobustness: attack ${i} ("${a.name}")`);
  }
  const t = attacks[0].threat;
  for (const a of attacks) {
    if (a.threat.norm !== t.norm || a.threat.eps !== t.eps) {
      throw new Error(
        `evaluateRobustness: attacks use different threat models: "${attacks[0].name}" has ` +
          `${t.norm} eps ${t.eps}, "${a.name}" has ${a.threat.norm} eps ${a.threat.eps}`,
      );
    }
  }
  return { norm: t.norm, eps: t.eps };
}

/**
 * Runs `attacks` (one shared threat model) on the chosen examples of `dataset` in the
 * model's eval mode (every module's mode is restored afterwards) and returns the record:
 * clean and point-wise worst-case robust accuracy, per-attack figures (see the module
 * documentation for their population), the example rule and hash, model and checkpoint
 * identity, sanity checks and provenance.
 */
export function evaluateRobustness(
  model: Module,
  dataset: Dataset,
  attacks: readonly Attack[],
  opts: EvaluateOptions = {},
): RobustnessRecord {
  const t0 = performance.now();
  const threat = checkAttacks(attacks);
  const settings = attacks.map(jsonSettings);
  const name = opts.modelName ?? model.constructor.name;
  checkModelFits(model, dataset, name);
  const bs = opts.batchSize ?? 256;
  if (!Number.isInteger(bs) || bs < 1) {
    throw new Error(`evaluateRobustness: batchSize must be a positive integer, got ${bs}`);
  }
  const seed = opts.seed ?? 0;
  if (
    typeof seed === "number"
      ? !(Number.isSafeInteger(seed) && seed >= 0)
      : !(seed >= 0n && seed < 1n << 64n)
  ) {
    throw new Error(`evaluateRobustness: seed must be a non-negative integer (u64), got ${seed}`);
  }
  const sanityOpts = opts.sanity === false ? null : sanityDefaults(opts.sanity ?? {});
  const full = opts.perAttackFull ?? false;
  const { indices, rule } = selectIndices(dataset, {
    n: opts.n,
    seed: opts.subsetSeed ?? seed,
    indices: opts.indices,
  });
  const checkpoint = opts.checkpoint === undefined ? null : checkpointIdentity(opts.checkpoint);
  const provenance = opts.provenance ?? collectProvenance();
  const n = indices.length, K = attacks.length;
  const free = attacks.map(isGradientFree);
  const correct = new Uint8Array(n);
  const ran = attacks.map(() => new Uint8Array(n));
  const broken = attacks.map(() => new Uint8Array(n));
  const seconds = new Float64Array(K);
  let cleanSeconds = 0, sanitySeconds = 0;
  let modelChecks: SanityCheck[] = [];

  const modules = model.namedModules().map(([, m]) => m);
  const modes = modules.map((m) => m.training);
  const checkModes = (what: string) => {
    const changed = modules.findIndex((m) => m.training);
    if (changed < 0) return;
    const where = model.namedModules()[changed][0] || "(root)";
    throw new Error(
      `evaluateRobustness: ${what} switched module "${where}" of ${name} to training mode ` +
        `(attacks must leave the mode as they found it)`,
    );
  };
  const nb = Math.ceil(n / bs);
  const bar = new Progress({
    label: opts.label ?? `robust eval ${threat.norm} eps ${threat.eps}`,
    total: nb,
    itemsPerStep: bs,
    quiet: opts.quiet,
  });
  model.eval();
  try {
    let cleanSoFar = 0, robustSoFar = 0;
    for (let b = 0; b < nb; b++) {
      const start = b * bs, rows = indices.subarray(start, Math.min(n, start + bs));
      tidy(() => {
        const tc = performance.now();
        const { x, y } = gather(dataset, rows);
        const pred = predict(model, x, dataset, name);
        for (let j = 0; j < rows.length; j++) {
          if (pred[j] === dataset.labels[rows[j]]) {
            correct[start + j] = 1;
            cleanSoFar++;
          }
        }
        cleanSeconds += (performance.now() - tc) / 1000;
        if (b === 0 && sanityOpts) {
          const ts = performance.now();
          modelChecks = [
            checkZeroGradients(model, x, y, sanityOpts),
            checkDeterministic(model, x, sanityOpts),
          ];
          checkModes("the sanity checks");
          sanitySeconds += (performance.now() - ts) / 1000;
        }
      });
      for (let k = 0; k < K; k++) {
        const a = attacks[k];
        const pos = pick(rows, (j) => {
          const i = start + j;
          if (!correct[i]) return false;
          if (full) return true;
          for (let q = 0; q < k; q++) if (broken[q][i]) return false;
          return true;
        });
        if (pos.length === 0) continue;
        const ta = performance.now();
        const idx = Int32Array.from(pos, (j) => rows[j]);
        tidy(() => {
          const { x, y, host } = gather(dataset, idx);
          const adv = a.run(model, x, y, { seed, indices: idx.slice() });
          checkModes(`attack "${a.name}"`);
          checkAdversarial(adv, x, host, threat, a.name, idx);
          const p = predict(model, adv, dataset, name);
          for (let r = 0; r < pos.length; r++) {
            const i = start + pos[r];
            ran[k][i] = 1;
            if (p[r] !== dataset.labels[idx[r]]) broken[k][i] = 1;
          }
        });
        seconds[k] += (performance.now() - ta) / 1000;
      }
      const done = start + rows.length;
      for (let i = start; i < done; i++) {
        if (correct[i] && broken.every((m) => !m[i])) robustSoFar++;
      }
      bar.update(b + 1, { clean: cleanSoFar / done, robust: robustSoFar / done });
    }
  } finally {
    modules.forEach((m, i) => (m.training = modes[i]));
  }

  // Per-attack figures and the gradient-free gap from the per-example masks.
  const entries: AttackEntry[] = [];
  const alive = Uint8Array.from(correct);
  let cleanCorrect = 0;
  for (let i = 0; i < n; i++) cleanCorrect += correct[i];
  for (let k = 0; k < K; k++) {
    let attacked = 0, brk = 0, newly = 0, cum = 0, alone = 0;
    for (let i = 0; i < n; i++) {
      attacked += ran[k][i];
      brk += broken[k][i];
      if (broken[k][i] && alive[i]) newly++;
      if (broken[k][i]) alive[i] = 0;
      cum += alive[i];
      if (correct[i] && !broken[k][i]) alone++;
    }
    entries.push({
      name: attacks[k].name,
      settings: settings[k],
      norm: attacks[k].threat.norm,
      eps: attacks[k].threat.eps,
      gradientFree: free[k],
      attacked,
      broken: brk,
      newlyBroken: newly,
      accuracyCumulative: cum / n,
      accuracyAlone: full ? alone / n : null,
      seconds: seconds[k],
    });
  }
  const robustCorrect = alive.reduce((s, v) => s + v, 0);
  const gap: GradientFreeGap = {
    gradientFree: attacks.filter((_, k) => free[k]).map((a) => a.name),
    gradient: attacks.filter((_, k) => !free[k]).map((a) => a.name),
    freeOnly: 0,
    compared: 0,
    n,
  };
  for (let i = 0; i < n; i++) {
    // Cascade: a gradient-free attack counts only where a gradient attack ran before it.
    const firstGrad = ran.findIndex((m, k) => !free[k] && m[i] === 1);
    if (firstGrad < 0 || !ran.some((m, k) => free[k] && m[i] === 1 && (full || k > firstGrad))) {
      continue;
    }
    gap.compared++;
    const some = (f: boolean) => broken.some((m, k) => free[k] === f && m[i] === 1);
    if (some(true) && !some(false)) gap.freeOnly++;
  }
  const checks = sanityOpts ? [...modelChecks, checkGradientFreeGap(gap, sanityOpts)] : [
    skippedCheck("zero-gradients", "sanity checks disabled"),
    skippedCheck("non-deterministic", "sanity checks disabled"),
    skippedCheck("gradient-free-beats-gradient", "sanity checks disabled"),
  ];
  const storeIdx = (opts.storeIndices ?? true) && rule.kind !== "all";
  return {
    format: ROBUSTNESS_FORMAT,
    norm: threat.norm,
    eps: threat.eps,
    cleanAccuracy: cleanCorrect / n,
    robustAccuracy: robustCorrect / n,
    n,
    cleanCorrect,
    robustCorrect,
    mode: full ? "full" : "cascade",
    attacks: entries,
    examples: {
      rule,
      count: n,
      sha256: indicesSha256(indices),
      ...(storeIdx ? { indices: Array.from(indices) } : {}),
    },
    model: modelIdentity(model, name),
    checkpoint,
    dataset: {
      name: dataset.name,
      split: opts.split ?? null,
      size: dataset.length,
      shape: [...dataset.shape],
      numClasses: dataset.numClasses,
    },
    seed: jsonSeed(seed),
    batchSize: bs,
    timing: { totalSeconds: (performance.now() - t0) / 1000, cleanSeconds, sanitySeconds },
    sanity: sanityReport(checks),
    provenance,
  };
}
