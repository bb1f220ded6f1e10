/**
 * Host-side augmentation: random crop with zero padding (torchvision's
 * `RandomCrop(size, padding=p)` with size = the image size) followed by a horizontal flip
 * with probability 0.5, with parameters drawn from the stateless generator.
 * @module
 */

import { philoxBits } from "../random/philox.ts";

/** Augmentation settings (all off by default). */
export interface AugmentOptions {
  /** Zero padding on each side before a random crop back to the image size (0 = no crop). */
  padding?: number;
  /** Flip horizontally with probability 0.5. */
  flip?: boolean;
}

/** One image's augmentation: crop offsets in the padded image and the flip. */
export interface AugmentParams {
  /** Row offset of the crop in the padded image, 0..2p. */
  dy: number;
  /** Column offset of the crop in the padded image, 0..2p. */
  dx: number;
  /** Whether the crop is mirrored left-right. */
  flip: boolean;
}

/** The counter of a batch's augmentation draw: epoch in the high 32 bits, batch in the low. */
export function augmentCounter(epoch: number, batch: number): bigint {
  return (BigInt(epoch) << 32n) | BigInt(batch);
}

/**
 * The augmentation parameters of the `count` images of batch `batch` in epoch `epoch`:
 * three words per image from the draw (seed, "augment", epoch * 2^32 + batch): image i uses
 * word 3i for dy = floor(w * (2p + 1) / 2^32), word 3i + 1 for dx likewise, and the top
 * bit of word 3i + 2 for the flip. Written into `out` (dy, dx, flip per image).
 */
export function augmentParams(
  count: number,
  seed: number | bigint,
  epoch: number,
  batch: number,
  opts: AugmentOptions,
  out: Int32Array = new Int32Array(3 * count),
): Int32Array {
  const p = opts.padding ?? 0;
  const bits = philoxBits(3 * count, seed, "augment", augmentCounter(epoch, batch));
  const range = 2 * p + 1;
  for (let i = 0; i < count; i++) {
    out[3 * i] = Math.floor((bits[3 * i] * range) / 4294967296);
    out[3 * i + 1] = Math.floor((bits[3 * i + 1] * range) / 4294967296);
    out[3 * i + 2] = opts.flip ? bits[3 * i + 2] >>> 31 : 0;
  }
  return out;
}

/**
 * Writes one [C, H, W] image from `src` (at element `so`) into `dst` (at element `dO`),
 * cropped at (dy, dx) from the image zero-padded by `pad` on each side, then mirrored
 * left-right when `flip`: dst(c, y, x) = src(c, y + dy - pad, x' + dx - pad) with
 * x' = flip ? W - 1 - x : x, and 0 outside the source.
 */
export function cropFlipInto(
  src: Float32Array,
  so: number,
  dst: Float32Array,
  dO: number,
  c: number,
  h: number,
  w: number,
  pad: number,
  dy: number,
  dx: number,
  flip: boolean,
): void {
  const sh = dx - pad; // source column of output column 0 (before the flip)
  const x0 = Math.max(0, -sh), x1 = Math.min(w, w - sh); // columns with a source pixel
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      const o = dO + (ch * h + y) * w;
      const sy = y + dy - pad;
      if (sy < 0 || sy >= h || x0 >= x1) {
        dst.fill(0, o, o + w);
        continue;
      }
      const s = so + (ch * h + sy) * w + sh;
      if (!flip) {
        for (let x = 0; x < x0; x++) dst[o + x] = 0;
        for (let x = x0; x < x1; x++) dst[o + x] = src[s + x];
        for (let x = x1; x < w; x++) dst[o + x] = 0;
      } else {
        // dst(x) = cropped(w - 1 - x): cropped column k lands in dst column w - 1 - k.
        const e = o + w - 1;
        for (let k = 0; k < x0; k++) dst[e - k] = 0;
        for (let k = x0; k < x1; k++) dst[e - k] = src[s + k];
        for (let k = x1; k < w; k++) dst[e - k] = 0;
      }
    }
  }
}
