/**
 * Test harness: runs a test once per available backend and checks that native memory
 * (live buffers) is back to its starting count afterwards.
 * @module
 */

import { availableBackends, type Backend, getBackend } from "@topiary/ffi";
import { philoxUniform, setDefaultBackend, type Tensor, tidy } from "@topiary/core";

/** The backends op tests run on: CPU always, CUDA where built and a device is present. */
export function testBackends(): Backend[] {
  return availableBackends().map((k) => getBackend(k));
}

/** Live native buffers of a backend. */
export function liveBuffers(b: Backend): number {
  return b.memoryStats().liveBuffers;
}

/**
 * Registers `fn` as one Deno test per backend. The body runs inside `tidy`, the backend is
 * the default for new tensors, and the live-buffer count must return to its start.
 */
export function opTest(name: string, fn: (b: Backend) => void): void {
  for (const b of testBackends()) {
    Deno.test(`${name} [${b.name}]`, () => {
      setDefaultBackend(b);
      const before = liveBuffers(b);
      tidy(() => fn(b));
      const after = liveBuffers(b);
      if (after !== before) {
        throw new Error(`${name}: ${after - before} native buffers leaked (${before} -> ${after})`);
      }
    });
  }
}

/** Deterministic test data: n uniform values in [lo, hi) from the stream `name`. */
export function randomData(n: number, name: string, lo = -1, hi = 1, seed = 7): Float64Array {
  const u = philoxUniform(n, seed, name, 0);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * u[i];
  return out;
}

/** Host values of a tensor as float64. */
export function values(t: Tensor): Float64Array {
  return Float64Array.from(t.toArray());
}

/** Asserts |a - b| <= atol + rtol |b| elementwise, naming the worst element. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol = 1e-5,
  rtol = 1e-4,
  what = "values",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  }
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${atol}, rtol ${rtol})`,
    );
  }
}

/** Asserts that `fn` throws an Error whose message matches `pattern`. */
export function assertThrowsMsg(fn: () => unknown, pattern: RegExp): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof Error)) throw new Error(`expected an error matching ${pattern}, got none`);
  if (!pattern.test(err.message)) {
    throw new Error(`error message "${err.message}" does not match ${pattern}`);
  }
}
