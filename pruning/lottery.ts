import { keptCount } from "@topiary/core";

/**
 * Lottery-ticket schedules (Frankle & Carbin 2019; open_lth): iterative magnitude pruning
 * removes a fraction `rate` of the remaining weights per round, so after round r the sparsity
 * is 1 - (1 - rate)^r; the last round prunes exactly to the target. Also the per-step
 * positions that rewinding resumes from, and Zhu & Gupta's gradual (polynomial) schedule.
 * @module
 */

/** Sparsities after rounds 1..R of iterative pruning to `target` at `rate` per round. */
export function lotterySparsities(target: number, rate: number): number[] {
  if (!(target > 0 && target < 1)) {
    throw new Error(`lottery: target sparsity must be in (0, 1), got ${target}`);
  }
  if (!(rate > 0 && rate < 1)) throw new Error(`lottery: rate must be in (0, 1), got ${rate}`);
  const rounds = Math.ceil(Math.log(1 - target) / Math.log(1 - rate) - 1e-9);
  const out: number[] = [];
  for (let r = 1; r < rounds; r++) out.push(1 - (1 - rate) ** r);
  out.push(target);
  return out;
}

/**
 * Kept counts after rounds 1..R as open_lth computes them: each round removes
 * floor(rate · remaining) of the remaining weights; rounds continue while the count is above
 * the target's n − floor(target · n), and the last round keeps exactly that many.
 */
export function lotteryKeptCounts(total: number, target: number, rate: number): number[] {
  if (!(target > 0 && target < 1)) {
    throw new Error(`lottery: target sparsity must be in (0, 1), got ${target}`);
  }
  if (!(rate > 0 && rate < 1)) throw new Error(`lottery: rate must be in (0, 1), got ${rate}`);
  const goal = keptCount(total, target);
  const out: number[] = [];
  let kept = total;
  while (kept > goal) {
    const next = kept - Math.floor(rate * kept);
    if (next === kept) throw new Error(`lottery: rate ${rate} removes no weight of ${kept}`);
    kept = Math.max(next, goal);
    out.push(kept);
  }
  return out;
}

/** Per-layer sparsity after round r at per-layer rates (the original paper's MNIST recipe). */
export function perLayerSparsity(rate: number, round: number): number {
  return 1 - (1 - rate) ** round;
}

/**
 * Zhu & Gupta's gradual pruning: s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n Δt))^3 for t in
 * [t0, t0 + n Δt], applied every Δt steps; before t0 s_i, after the end s_f.
 */
export function gradualSparsity(
  step: number,
  o: { initial: number; final: number; start: number; every: number; count: number },
): number {
  const { initial, final, start, every, count } = o;
  if (step < start) return initial;
  const end = start + count * every;
  if (step >= end) return final;
  const t = Math.floor((step - start) / every) * every; // the last pruning step reached
  return final + (initial - final) * (1 - t / (count * every)) ** 3;
}
