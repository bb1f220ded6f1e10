/**
 * Mean ± sample standard deviation over seeds, and its table format.
 * @module
 */

/** Mean and sample standard deviation (0 for one value). */
export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean, std: 0 };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, std: Math.sqrt(v) };
}

/** "m ± s" over k > 1 seeds, else "m" (two decimals). */
export function pm(m: { mean: number; std: number }, k: number): string {
  return k > 1 ? `${m.mean.toFixed(2)} ± ${m.std.toFixed(2)}` : m.mean.toFixed(2);
}
