/**
 * Plain-TypeScript float64 reference implementations of the native ops (row-major arrays).
 * Slow and simple on purpose: they define what the kernels must compute.
 * @module
 */

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let a = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = a;
    a *= shape[i];
  }
  return s;
}

/** Number of elements. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Broadcasts a binary function over two row-major arrays (NumPy rules). */
export function broadcast2(
  a: ArrayLike<number>,
  as: readonly number[],
  b: ArrayLike<number>,
  bs: readonly number[],
  f: (x: number, y: number) => number,
): { data: Float64Array; shape: number[] } {
  const n = Math.max(as.length, bs.length);
  const pa = [...Array(n - as.length).fill(1), ...as],
    pb = [...Array(n - bs.length).fill(1), ...bs];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const sa = stridesOf(pa).map((s, i) => (pa[i] === 1 ? 0 : s));
  const sb = stridesOf(pb).map((s, i) => (pb[i] === 1 ? 0 : s));
  const out = new Float64Array(sizeOf(shape));
  const idx = new Array<number>(n).fill(0);
  for (let k = 0; k < out.length; k++) {
    let ia = 0, ib = 0;
    for (let d = 0; d < n; d++) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    out[k] = f(a[ia], b[ib]);
    for (let d = n - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape };
}

/** Reduces over axes with a combiner (sum by default); output keeps the other dims. */
export function reduceAxes(
  x: ArrayLike<number>,
  shape: readonly number[],
  axes: readonly number[],
  init = 0,
  f: (acc: number, v: number) => number = (a, v) => a + v,
): { data: Float64Array; shape: number[] } {
  const keep = shape.map((_, i) => !axes.includes(i));
  const outShape = shape.filter((_, i) => keep[i]);
  const out = new Float64Array(sizeOf(outShape)).fill(init);
  const os = stridesOf(outShape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < sizeOf(shape); k++) {
    let o = 0, j = 0;
    for (let d = 0; d < shape.length; d++) if (keep[d]) o += idx[d] * os[j++];
    out[o] = f(out[o], x[k]);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/** C[m,n] = A[m,k] B[k,n]. */
export function matmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

/** Convolution geometry. */
export interface ConvGeom {
  N: number;
  C: number;
  H: number;
  W: number;
  K: number;
  R: number;
  S: number;
  stride: [number, number];
  pad: [number, number, number, number];
  dil: [number, number];
}

/** Output height and width of a convolution. */
export function convOut(g: ConvGeom): [number, number] {
  const P = Math.floor((g.H + g.pad[0] + g.pad[2] - ((g.R - 1) * g.dil[0] + 1)) / g.stride[0]) + 1;
  const Q = Math.floor((g.W + g.pad[1] + g.pad[3] - ((g.S - 1) * g.dil[1] + 1)) / g.stride[1]) + 1;
  return [P, Q];
}

/** y[N,K,P,Q] = conv(x[N,C,H,W], w[K,C,R,S]) + b[K]. */
export function conv2d(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  g: ConvGeom,
): Float64Array {
  const [P, Q] = convOut(g);
  const y = new Float64Array(g.N * g.K * P * Q);
  for (let n = 0; n < g.N; n++) {
    for (let k = 0; k < g.K; k++) {
      for (let p = 0; p < P; p++) {
        for (let q = 0; q < Q; q++) {
          let s = b ? b[k] : 0;
          for (let c = 0; c < g.C; c++) {
            for (let r = 0; r < g.R; r++) {
              const h = p * g.stride[0] - g.pad[0] + r * g.dil[0];
              if (h < 0 || h >= g.H) continue;
              for (let t = 0; t < g.S; t++) {
                const ww = q * g.stride[1] - g.pad[1] + t * g.dil[1];
                if (ww < 0 || ww >= g.W) continue;
                s += x[((n * g.C + c) * g.H + h) * g.W + ww] *
                  w[((k * g.C + c) * g.R + r) * g.S + t];
              }
            }
          }
          y[((n * g.K + k) * P + p) * Q + q] = s;
        }
      }
    }
  }
  return y;
}

/** Pooling geometry and kind. */
export interface PoolGeom {
  N: number;
  C: number;
  H: number;
  W: number;
  kernel: [number, number];
  stride: [number, number];
  pad: [number, number];
  kind: "max" | "avgInclude" | "avgExclude";
}

/** Pooling output size (floor mode). */
export function poolOut(g: PoolGeom): [number, number] {
  return [
    Math.floor((g.H + 2 * g.pad[0] - g.kernel[0]) / g.stride[0]) + 1,
    Math.floor((g.W + 2 * g.pad[1] - g.kernel[1]) / g.stride[1]) + 1,
  ];
}

/** Max or average pooling (PyTorch semantics). */
export function pool2d(x: ArrayLike<number>, g: PoolGeom): Float64Array {
  const [P, Q] = poolOut(g);
  const y = new Float64Array(g.N * g.C * P * Q);
  for (let nc = 0; nc < g.N * g.C; nc++) {
    for (let p = 0; p < P; p++) {
      for (let q = 0; q < Q; q++) {
        let acc = g.kind === "max" ? -Infinity : 0, cnt = 0;
        for (let r = 0; r < g.kernel[0]; r++) {
          for (let s = 0; s < g.kernel[1]; s++) {
            const h = p * g.stride[0] - g.pad[0] + r, w = q * g.stride[1] - g.pad[1] + s;
            if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
            const v = x[(nc * g.H + h) * g.W + w];
            acc = g.kind === "max" ? Math.max(acc, v) : acc + v;
            cnt++;
          }
        }
        const div = g.kind === "avgInclude" ? g.kernel[0] * g.kernel[1] : cnt;
        y[(nc * P + p) * Q + q] = g.kind === "max" ? acc : acc / div;
      }
    }
  }
  return y;
}

/** Batch norm of x[N,C,H,W]: batch statistics (training) or the given mean/var. */
export function batchNorm(
  x: ArrayLike<number>,
  shape: readonly number[],
  gamma: ArrayLike<number> | null,
  beta: ArrayLike<number> | null,
  eps: number,
  stats: { mean: ArrayLike<number>; var: ArrayLike<number> } | null,
): { y: Float64Array; mean: Float64Array; var: Float64Array } {
  const [N, C, H, W] = shape;
  const m = H * W, cnt = N * m;
  const mean = new Float64Array(C), vari = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    if (stats) {
      mean[c] = stats.mean[c];
      vari[c] = stats.var[c];
      continue;
    }
    let s = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < m; i++) s += x[(n * C + c) * m + i];
    mean[c] = s / cnt;
    let v = 0;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < m; i++) v += (x[(n * C + c) * m + i] - mean[c]) ** 2;
    }
    vari[c] = v / cnt;
  }
  const y = new Float64Array(N * C * m);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const inv = 1 / Math.sqrt(vari[c] + eps);
      for (let i = 0; i < m; i++) {
        const k = (n * C + c) * m + i;
        y[k] = (x[k] - mean[c]) * inv * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
      }
    }
  }
  return { y, mean, var: vari };
}

/** Row-wise log-softmax of [n, c]. */
export function logSoftmax(x: ArrayLike<number>, n: number, c: number): Float64Array {
  const y = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < c; j++) mx = Math.max(mx, x[i * c + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(x[i * c + j] - mx);
    const lse = mx + Math.log(s);
    for (let j = 0; j < c; j++) y[i * c + j] = x[i * c + j] - lse;
  }
  return y;
}

/** Per-example cross-entropy of softmax(x) against labels. */
export function softmaxXent(
  x: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  c: number,
): Float64Array {
  const ls = logSoftmax(x, n, c);
  return Float64Array.from({ length: n }, (_, i) => -ls[i * c + labels[i]]);
}
