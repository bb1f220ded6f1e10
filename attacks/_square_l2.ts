/**
 * The L2 proposals of the Square attack (Andriushchenko et al. 2020): the "eta" window of
 * concentric rectangles with opposite signs in its two halves, the grid initialisation, and
 * the update that moves perturbation mass from one window into another.
 * @module
 */

const etaCache = new Map<number, Float64Array>();

/** Concentric rectangles of weight 1/(k+1)^2 in an [a, b] block, unit Frobenius norm. */
function rectangles(a: number, b: number): Float64Array {
  const d = new Float64Array(a * b);
  let r0 = Math.floor(a / 2), c0 = Math.floor(b / 2);
  const rounds = Math.max(Math.floor(a / 2) + 1, Math.floor(b / 2) + 1);
  for (let k = 0; k < rounds; k++) {
    const w = 1 / ((k + 1) * (k + 1));
    for (let i = Math.max(r0, 0); i < Math.min(r0 + 2 * k + 1, a); i++) {
      for (let j = Math.max(c0, 0); j < Math.min(c0 + 2 * k + 1, b); j++) d[i * b + j] += w;
    }
    r0--;
    c0--;
  }
  return normalize(d);
}

function normalize(d: Float64Array): Float64Array {
  let s = 0;
  for (const v of d) s += v * v;
  const f = 1 / Math.sqrt(s || 1);
  for (let i = 0; i < d.length; i++) d[i] *= f;
  return d;
}

/** The s x s window: rectangles in the top half, their negation in the bottom half. */
export function squareEta(s: number): Float64Array {
  let e = etaCache.get(s);
  if (e) return e;
  e = new Float64Array(s * s);
  const top = Math.floor(s / 2);
  if (top > 0) e.set(rectangles(top, s), 0);
  const bottom = rectangles(s - top, s);
  for (let i = 0; i < bottom.length; i++) e[top * s + i] = -bottom[i];
  etaCache.set(s, normalize(e));
  return e;
}

/** eta(s)[i, j], or eta(s)[j, i] when transposed. */
function etaAt(e: Float64Array, s: number, i: number, j: number, transposed: boolean): number {
  return transposed ? e[j * s + i] : e[i * s + j];
}

/**
 * The L2 start of one example: a grid of eta windows (side floor(h / 5)) with random signs
 * per channel and random orientation, rescaled to norm eps and clamped to [0, 1].
 * `u` supplies uniforms: 1 + c per window.
 */
export function squareL2Init(
  x: Float32Array,
  out: Float32Array,
  c: number,
  h: number,
  w: number,
  eps: number,
  u: (count: number) => Float32Array,
): void {
  const s = Math.max(Math.floor(h / 5), 1);
  const start = Math.floor((h - 5 * s) / 2);
  const nh = Math.floor(h / s), nw = Math.floor(w / s);
  const e = squareEta(s);
  const r = u(nh * nw * (c + 1));
  const delta = new Float64Array(c * h * w);
  let k = 0;
  for (let a = 0, vh = start; a < nh; a++, vh += s) {
    for (let b = 0, vw = start; b < nw; b++, vw += s) {
      const t = r[k++] < 0.5;
      for (let ch = 0; ch < c; ch++) {
        const sg = r[k++] < 0.5 ? -1 : 1;
        for (let i = 0; i < s && vh + i < h; i++) {
          for (let j = 0; j < s && vw + j < w; j++) {
            delta[ch * h * w + (vh + i) * w + vw + j] += sg * etaAt(e, s, i, j, t);
          }
        }
      }
    }
  }
  finish(x, delta, out, eps);
}

/** out = clamp(x + eps * delta / ||delta||, 0, 1). */
function finish(x: Float32Array, delta: Float64Array, out: Float32Array, eps: number): void {
  let n = 0;
  for (const v of delta) n += v * v;
  const f = eps / (Math.sqrt(n) + 1e-12);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(1, Math.max(0, x[i] + f * delta[i]));
}

/**
 * One L2 proposal for one example (x, its current best xb, both [c*h*w]) into out: window
 * W1 at (vh, vw) gets a new eta window (random sign per channel, random orientation) plus
 * its old content normalised, rescaled per channel to that channel's mass in W1 and W2 plus
 * a 1/c share of the unused budget; window W2 at (vh2, vw2) is emptied; the whole
 * perturbation is rescaled to norm eps and clamped. `r` holds 5 + c uniforms: vh, vw, vh2,
 * vw2, orientation, c signs.
 */
export function squareL2Proposal(
  x: Float32Array,
  xb: Float32Array,
  out: Float32Array,
  c: number,
  h: number,
  w: number,
  s: number,
  eps: number,
  r: Float32Array,
): void {
  const hw = h * w;
  const vh = Math.floor(r[0] * (h - s)), vw = Math.floor(r[1] * (w - s));
  const vh2 = Math.floor(r[2] * (h - s)), vw2 = Math.floor(r[3] * (w - s));
  const t = r[4] < 0.5;
  const e = squareEta(s);
  const delta = new Float64Array(x.length);
  let normImage = 0;
  for (let i = 0; i < x.length; i++) {
    delta[i] = xb[i] - x[i];
    normImage += delta[i] * delta[i];
  }
  const inW = (vh0: number, vw0: number, i: number, j: number) =>
    i >= vh0 && i < vh0 + s && j >= vw0 && j < vw0 + s;
  // Squared mass of each channel in the union of the two windows (per channel, as the
  // reference): channel ch of W1 receives it plus its share of the unused budget, so the
  // perturbation outside the windows is kept and the total stays eps.
  const normWindows = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        if (inW(vh, vw, i, j) || inW(vh2, vw2, i, j)) {
          normWindows[ch] += delta[ch * hw + i * w + j] ** 2;
        }
      }
    }
  }
  const unused = Math.max(eps * eps - normImage, 0) / c;
  const win = new Float64Array(s * s);
  for (let ch = 0; ch < c; ch++) {
    const target = Math.sqrt(unused + normWindows[ch]);
    const sg = r[5 + ch] < 0.5 ? -1 : 1;
    let n1 = 0;
    for (let i = 0; i < s; i++) {
      for (let j = 0; j < s; j++) n1 += delta[ch * hw + (vh + i) * w + vw + j] ** 2;
    }
    n1 = Math.sqrt(n1) + 1e-12;
    let nn = 0;
    for (let i = 0; i < s; i++) {
      for (let j = 0; j < s; j++) {
        const v = sg * etaAt(e, s, i, j, t) + delta[ch * hw + (vh + i) * w + vw + j] / n1;
        win[i * s + j] = v;
        nn += v * v;
      }
    }
    const f = target / (Math.sqrt(nn) + 1e-12);
    for (let i = vh2; i < vh2 + s; i++) {
      for (let j = vw2; j < vw2 + s; j++) delta[ch * hw + i * w + j] = 0;
    }
    for (let i = 0; i < s; i++) {
      for (let j = 0; j < s; j++) delta[ch * hw + (vh + i) * w + vw + j] = win[i * s + j] * f;
    }
  }
  finish(x, delta, out, eps);
}
