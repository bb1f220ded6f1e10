/**
 * Float64 references of torch.optim.SGD and torch.optim.Adam/AdamW (foreach=False), one
 * parameter at a time, for the optimizer tests.
 * @module
 */

/** Hyperparameters of {@link sgdRef}. */
export interface SgdCfg {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** One torch.optim.SGD step in float64 (firstStep: the momentum buffer starts as d). */
export function sgdRef(
  w: Float64Array,
  g: ArrayLike<number>,
  buf: Float64Array,
  c: SgdCfg,
  firstStep: boolean,
  mask?: ArrayLike<number> | null,
): void {
  const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = c;
  for (let i = 0; i < w.length; i++) {
    if (mask && mask[i] === 0) {
      w[i] = 0;
      buf[i] = 0;
      continue;
    }
    let d = g[i] + weightDecay * w[i];
    if (momentum !== 0) {
      buf[i] = firstStep ? d : momentum * buf[i] + (1 - dampening) * d;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    w[i] -= lr * d;
  }
}

/** Hyperparameters of {@link adamRef}. */
export interface AdamCfg {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  decoupled?: boolean;
}

/** One torch.optim.Adam / AdamW step (amsgrad off) in float64; step counts from 1. */
export function adamRef(
  w: Float64Array,
  g: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  c: AdamCfg,
  step: number,
  mask?: ArrayLike<number> | null,
): void {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, decoupled = false } = c;
  const bc1 = 1 - beta1 ** step, bc2 = 1 - beta2 ** step;
  for (let i = 0; i < w.length; i++) {
    if (mask && mask[i] === 0) {
      w[i] = m[i] = v[i] = 0;
      continue;
    }
    let gr = g[i];
    if (decoupled) w[i] *= 1 - lr * weightDecay;
    else gr += weightDecay * w[i];
    m[i] = beta1 * m[i] + (1 - beta1) * gr;
    v[i] = beta2 * v[i] + (1 - beta2) * gr * gr;
    const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + eps;
    w[i] -= (lr / bc1) * (m[i] / denom);
  }
}

/** Float64 copy of values rounded to f32. */
export function f32(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(a));
}

/** Asserts that every element where the mask is 0 is exactly 0. */
export function assertMaskedZero(
  what: string,
  got: ArrayLike<number>,
  mask: ArrayLike<number>,
): void {
  for (let i = 0; i < got.length; i++) {
    if (mask[i] === 0 && !Object.is(got[i], 0)) {
      throw new Error(`${what}: masked element ${i} is ${got[i]}, not exactly 0`);
    }
  }
}

/** Asserts two arrays are identical bit for bit. */
export function assertBitEqual(
  what: string,
  a: Float32Array | Int32Array | Uint8Array,
  b: Float32Array | Int32Array | Uint8Array,
): void {
  if (a.constructor !== b.constructor || a.length !== b.length) {
    throw new Error(
      `${what}: ${a.constructor.name}(${a.length}) vs ${b.constructor.name}(${b.length})`,
    );
  }
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      const e = Math.floor(i / a.BYTES_PER_ELEMENT);
      throw new Error(`${what}: element ${e} differs: ${a[e]} vs ${b[e]}`);
    }
  }
}
