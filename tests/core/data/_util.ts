/**
 * Helpers for the data tests: temporary folders, IDX bytes, exact array comparison.
 * @module
 */

/** Runs `fn` with a fresh temporary folder that is removed afterwards. */
export async function withTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "topiary-data-test-" });
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** The bytes of an IDX file of u8 elements with the given dims (magic 0x0000 08 nd). */
export function idxBytes(dims: number[], data: ArrayLike<number>): Uint8Array {
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x0800 | dims.length, false);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(data, header);
  return out;
}

/** Throws unless the arrays have the same length and identical elements (NaN-free). */
export function assertSameArray(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  what: string,
): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length}, expected ${want.length}`);
  }
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
}

/** Whether two arrays have identical elements. */
export function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws with `msg` unless `cond`. */
export function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Asserts that an async `fn` rejects with an Error whose message matches `pattern`. */
export async function assertRejectsMsg(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  let err: unknown = null;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof Error)) throw new Error(`expected an error matching ${pattern}, got none`);
  if (!pattern.test(err.message)) {
    throw new Error(`error message "${err.message}" does not match ${pattern}`);
  }
}

/** Reference: zero-pad by p, crop H×W at (dy, dx), then mirror left-right if flip. */
export function referenceCropFlip(
  img: Float32Array,
  c: number,
  h: number,
  w: number,
  p: number,
  dy: number,
  dx: number,
  flip: boolean,
): Float32Array {
  const ph = h + 2 * p, pw = w + 2 * p;
  const padded = new Float32Array(c * ph * pw);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        padded[(ch * ph + y + p) * pw + x + p] = img[(ch * h + y) * w + x];
      }
    }
  }
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const cropped = padded[(ch * ph + y + dy) * pw + x + dx];
        out[(ch * h + y) * w + (flip ? w - 1 - x : x)] = cropped;
      }
    }
  }
  return out;
}
