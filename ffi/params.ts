/**
 * Packing of int64 parameter arrays for native calls without BigInt churn.
 * @module
 */

/**
 * A reusable int64 parameter array, written through an Int32 view (little-endian pairs), so
 * that filling it costs no BigInt allocation. Values must be integers with |v| < 2^53.
 */
export class Int64Params {
  /** The bytes handed to native code. */
  readonly buffer: BigInt64Array;
  private readonly words: Int32Array;

  constructor(capacity: number) {
    this.buffer = new BigInt64Array(capacity);
    this.words = new Int32Array(this.buffer.buffer);
  }

  /** Sets element i to the integer v. */
  set(i: number, v: number): void {
    const w = this.words;
    w[2 * i] = v | 0;
    w[2 * i + 1] = Math.floor(v / 4294967296);
  }

  /** Writes values starting at element `at`; returns the index after the last one. */
  write(at: number, values: readonly number[]): number {
    for (let i = 0; i < values.length; i++) this.set(at + i, values[i]);
    return at + values.length;
  }

  /** Reads element i as a number (exact below 2^53). */
  get(i: number): number {
    return Number(this.buffer[i]);
  }
}

/** A fresh int64 array holding `values` (for calls off the hot path). */
export function int64Array(values: readonly number[]): BigInt64Array {
  const p = new Int64Params(Math.max(1, values.length));
  p.write(0, values);
  return p.buffer;
}
