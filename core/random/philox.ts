/**
 * Philox-4x32-10 (Salmon et al. 2011) in TypeScript: the host-side twin of the native
 * generator, bit-identical to it, and the reference its tests use. Every draw is addressed
 * by (seed, stream, counter): no hidden state.
 * @module
 */

const M0 = 0xd2511f53, M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9, W1 = 0xbb67ae85;

let mulHi = 0;

/** Low 32 bits of the 64-bit product of two u32 values; the high 32 bits go to `mulHi`. */
function mulhilo(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const t = al * bl, m1 = ah * bl, m2 = al * bh;
  const carry = Math.floor(((t >>> 16) + (m1 & 0xffff) + (m2 & 0xffff)) / 65536);
  mulHi = (ah * bh + Math.floor(m1 / 65536) + Math.floor(m2 / 65536) + carry) >>> 0;
  return Math.imul(a, b) >>> 0;
}

/** Writes the Philox-4x32-10 block for counter (c0..c3) and key (k0, k1) into out[at..at+4). */
function block(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  at: number,
): void {
  for (let r = 0; r < 10; r++) {
    const lo0 = mulhilo(M0, c0), hi0 = mulHi;
    const lo1 = mulhilo(M1, c2), hi1 = mulHi;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[at] = c0;
  out[at + 1] = c1;
  out[at + 2] = c2;
  out[at + 3] = c3;
}

/** One Philox-4x32-10 block: four u32 words for a 128-bit counter and 64-bit key. */
export function philox4x32(ctr: readonly number[], key: readonly number[]): Uint32Array {
  const out = new Uint32Array(4);
  block(ctr[0] >>> 0, ctr[1] >>> 0, ctr[2] >>> 0, ctr[3] >>> 0, key[0] >>> 0, key[1] >>> 0, out, 0);
  return out;
}

/** A stream id: a number (u32) or a name hashed with 32-bit FNV-1a. */
export type Stream = number | string;

/** The u32 id of a named stream ("shuffle", "attack", ...). */
export function streamId(stream: Stream): number {
  if (typeof stream === "number") {
    if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) {
      throw new Error(`stream id must be a u32 integer, got ${stream}`);
    }
    return stream;
  }
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(stream)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

function split64(v: number | bigint, what: string): [number, number] {
  if (typeof v === "number" && !Number.isSafeInteger(v)) {
    throw new Error(`${what} must be an integer u64, got ${v}`);
  }
  const b = BigInt(v);
  if (b < 0n || b >= 1n << 64n) throw new Error(`${what} must be a u64, got ${v}`);
  return [Number(b & 0xffffffffn), Number(b >> 32n)];
}

/** Raw u32 words of a draw: word i as the native `tp_rand_bits` gives it. */
export function philoxBits(
  n: number,
  seed: number | bigint,
  stream: Stream,
  counter: number | bigint = 0,
): Uint32Array {
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`philoxBits: n must be a non-negative integer, got ${n}`);
  }
  const key = split64(seed, "seed");
  const [clo, chi] = split64(counter, "counter");
  const sid = streamId(stream);
  const blocks = Math.ceil(n / 4);
  const out = new Uint32Array(blocks * 4);
  for (let b = 0; b < blocks; b++) block(b >>> 0, clo, chi, sid, key[0], key[1], out, 4 * b);
  return n === out.length ? out : out.slice(0, n);
}

/** Uniform floats in [0, 1) exactly as the native `tp_rand_uniform(lo = 0, hi = 1)`. */
export function philoxUniform(
  n: number,
  seed: number | bigint,
  stream: Stream,
  counter: number | bigint = 0,
): Float32Array {
  const bits = philoxBits(n, seed, stream, counter);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (bits[i] >>> 8) * 2 ** -24;
  return out;
}

/**
 * A seeded permutation of 0..n-1 (Fisher-Yates driven by the draw (seed, stream, counter)),
 * for shuffles that are reproducible without hidden state.
 */
export function philoxPermutation(
  n: number,
  seed: number | bigint,
  stream: Stream,
  counter: number | bigint = 0,
): Int32Array {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const bits = philoxBits(2 * n, seed, stream, counter);
  for (let i = n - 1; i > 0; i--) {
    // 53-bit uniform from two words, so the modulo bias is negligible.
    const u = ((bits[2 * i] >>> 5) * 67108864 + (bits[2 * i + 1] >>> 6)) / 9007199254740992;
    const j = Math.floor(u * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}
