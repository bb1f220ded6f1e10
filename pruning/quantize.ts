/**
 * Weight quantization by 1-D k-means (ATMC; Deep Compression's codebook): a layer's weights
 * are clustered around 2^b learned centres plus a fixed zero and replaced by their centre, so
 * a quantized layer takes at most 2^b + 1 distinct values and its zeros stay zero. Lloyd
 * iterations run to convergence on the sorted values: each cluster is a contiguous range of
 * them, found by binary search, its mean read from prefix sums, so an iteration costs
 * O(2^b log n) after one sort.
 * @module
 */

/** A quantized layer: values and codebook. */
export interface Quantized {
  /** The weights with every non-zero replaced by its nearest centre. */
  values: Float32Array;
  /** Centres in ascending order (at most 2^bits; fewer when there are fewer distinct values). */
  centres: Float64Array;
  /** Lloyd passes run (the last one moved no centre, unless the limit stopped them). */
  iterations: number;
}

/** First index i in sorted `a` with a[i] >= x. */
function lowerBound(a: Float64Array, x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the centre nearest to x (centres ascending; ties to the lower centre). */
function nearest(centres: Float64Array, x: number): number {
  const i = lowerBound(centres, x);
  if (i === 0) return 0;
  if (i === centres.length) return centres.length - 1;
  return x - centres[i - 1] <= centres[i] - x ? i - 1 : i;
}

/**
 * Quantizes `values` to a codebook of a fixed zero and 2^bits learned centres (ATMC's
 * `kmeans_nnz_fixed_0_center`): Lloyd iterations over all values, the zero centre never
 * moving, so exact zeros stay zero and values nearer zero than to any centre become zero.
 * Centres start evenly spaced over the non-zeros' range (the reference draws them at random).
 */
export function quantizeKmeans(values: Float32Array, bits: number, maxIterations = 100): Quantized {
  if (!Number.isInteger(bits) || bits < 1 || bits > 16) {
    throw new Error(`quantize: bits must be an integer in [1, 16], got ${bits}`);
  }
  const n = values.length;
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(values[i])) throw new Error(`quantize: weight ${values[i]} is not finite`);
    sorted[i] = values[i];
  }
  sorted.sort();
  const k = 1 << bits;
  // Distinct non-zeros, up to k + 1 of them.
  const distinct: number[] = [];
  for (let i = 0; i < n && distinct.length <= k; i++) {
    const v = sorted[i];
    if (v !== 0 && (distinct.length === 0 || v !== distinct[distinct.length - 1])) distinct.push(v);
  }
  if (distinct.length === 0) {
    return { values: new Float32Array(n), centres: new Float64Array(), iterations: 0 };
  }
  let iterations = 0;
  let learned: Float64Array;
  if (distinct.length <= k) {
    // No more distinct values than codes: they are the codebook (exact).
    learned = Float64Array.from(distinct);
  } else {
    const lo = distinct[0], hi = sorted[n - 1] !== 0 ? sorted[n - 1] : lastNonZero(sorted);
    learned = Float64Array.from({ length: k }, (_, j) => lo + ((hi - lo) * j) / (k - 1));
    iterations = lloydWithZero(sorted, learned, maxIterations);
  }
  const all = Float64Array.from([0, ...learned]).sort();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (values[i] !== 0) out[i] = all[nearest(all, values[i])];
  }
  return { values: out, centres: learned, iterations };
}

function lastNonZero(sorted: Float64Array): number {
  for (let i = sorted.length - 1; i >= 0; i--) if (sorted[i] !== 0) return sorted[i];
  return 0;
}

/**
 * Lloyd iterations on sorted values for the centres `learned` (updated in place) plus a fixed
 * centre at zero. Each cluster is a contiguous range of the sorted values between midpoints;
 * its mean comes from prefix sums. Returns the iterations run.
 */
function lloydWithZero(sorted: Float64Array, learned: Float64Array, maxIterations: number): number {
  const n = sorted.length;
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + sorted[i];
  let it = 0;
  for (; it < maxIterations; it++) {
    // All centres ascending, the fixed zero marked (a learned centre at exactly 0 stays learned).
    const c = Float64Array.from([0, ...learned]).sort();
    const zero = c.indexOf(0);
    let moved = false, start = 0, li = 0;
    for (let j = 0; j < c.length; j++) {
      const end = j === c.length - 1 ? n : upperMid(sorted, (c[j] + c[j + 1]) / 2);
      if (j !== zero) {
        if (end > start) {
          const m = (prefix[end] - prefix[start]) / (end - start);
          if (m !== learned[li]) moved = true;
          learned[li] = m;
        }
        li++;
      }
      start = Math.max(start, end);
    }
    if (!moved) return it + 1;
  }
  return it;
}

/** First index with a value strictly above `mid`. */
function upperMid(sorted: Float64Array, mid: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (sorted[m] <= mid) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * Storage of a sparse quantized model in bits (ATMC's accounting): per layer, non-zeros × b
 * (codes) + the positions of the non-zeros + a 32-bit float per centre. Positions are stored
 * the cheaper way: a bitmap of the layer (1 bit per weight) or, per non-zero, its index in
 * ceil(log2(size)) bits.
 */
export function modelSizeBits(
  layers: readonly { size: number; nonZeros: number; centres: number }[],
  bits: number,
): { bits: number; codes: number; index: number; codebook: number } {
  let codes = 0, index = 0, codebook = 0;
  for (const l of layers) {
    codes += l.nonZeros * bits;
    index += Math.min(l.size, l.nonZeros * Math.max(1, Math.ceil(Math.log2(l.size))));
    codebook += 32 * l.centres;
  }
  return { bits: codes + index + codebook, codes, index, codebook };
}
