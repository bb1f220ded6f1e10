/**
 * The in-memory dataset type: images as float32 NCHW in [0, 1], labels as int32, plus
 * checks and subsets.
 * @module
 */

/** Image shape [channels, height, width]. */
export type ImageShape = readonly [number, number, number];

/**
 * A labelled image dataset held in host memory. Pixels are in [0, 1] (no normalisation:
 * that belongs inside models, so attacks work in input space).
 */
export interface Dataset {
  /** A short name such as "mnist-train" (used in logs and run records). */
  readonly name: string;
  /** Images, NCHW row-major: image i occupies [i * C*H*W, (i + 1) * C*H*W). */
  readonly images: Float32Array;
  /** One label per image, in 0 .. numClasses - 1. */
  readonly labels: Int32Array;
  /** Shape of one image, [C, H, W]. */
  readonly shape: ImageShape;
  /** Number of classes. */
  readonly numClasses: number;
  /** Number of images. */
  readonly length: number;
}

/** Elements per image (C*H*W) of a shape. */
export function imageSize(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}

/** Builds a dataset from its parts after checking that they fit together (see checkDataset). */
export function makeDataset(
  name: string,
  images: Float32Array,
  labels: Int32Array,
  shape: ImageShape,
  numClasses: number,
): Dataset {
  const ds: Dataset = {
    name,
    images,
    labels,
    shape: [shape[0], shape[1], shape[2]],
    numClasses,
    length: labels.length,
  };
  checkDataset(ds, { pixels: false });
  return ds;
}

/** What checkDataset verifies besides sizes and labels. */
export interface CheckOptions {
  /** Also scan every pixel for [0, 1] and NaN (default true). */
  pixels?: boolean;
}

/**
 * Throws an Error naming the dataset and the first problem: a shape that is not three
 * positive integers, an image buffer that does not hold `length` images, a label outside
 * 0 .. numClasses - 1, or (with `pixels`) a pixel outside [0, 1].
 */
export function checkDataset(ds: Dataset, opts: CheckOptions = {}): void {
  const what = `dataset "${ds.name}"`;
  const s = ds.shape;
  if (s.length !== 3 || !s.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${what}: shape must be [C, H, W] of positive integers, got [${s}]`);
  }
  if (!Number.isInteger(ds.numClasses) || ds.numClasses < 1) {
    throw new Error(`${what}: numClasses must be a positive integer, got ${ds.numClasses}`);
  }
  if (ds.length !== ds.labels.length) {
    throw new Error(`${what}: length ${ds.length} but ${ds.labels.length} labels`);
  }
  const per = imageSize(s);
  if (ds.images.length !== ds.length * per) {
    throw new Error(
      `${what}: expected ${ds.length} images of [${s}] = ${ds.length * per} floats, ` +
        `found ${ds.images.length}`,
    );
  }
  const labels = ds.labels, k = ds.numClasses;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l < 0 || l >= k) {
      throw new Error(`${what}: label ${l} at index ${i} is outside 0..${k - 1}`);
    }
  }
  if (opts.pixels ?? true) {
    const px = ds.images;
    for (let i = 0; i < px.length; i++) {
      const v = px[i];
      if (!(v >= 0 && v <= 1)) {
        const img = Math.floor(i / per);
        throw new Error(`${what}: pixel ${i} (image ${img}) is ${v}, expected a value in [0, 1]`);
      }
    }
  }
}

/** Images per class: counts[k] is the number of labels equal to k. */
export function classCounts(ds: Pick<Dataset, "labels" | "numClasses">): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (const l of ds.labels) counts[l]++;
  return counts;
}

/** A new dataset holding copies of the images at `indices`, in that order. */
export function subset(ds: Dataset, indices: ArrayLike<number>, name = ds.name): Dataset {
  const per = imageSize(ds.shape);
  const n = indices.length;
  const images = new Float32Array(n * per);
  const labels = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const i = indices[j];
    if (!Number.isInteger(i) || i < 0 || i >= ds.length) {
      throw new Error(
        `subset of "${ds.name}": index ${i} at position ${j} is outside 0..${ds.length - 1}`,
      );
    }
    images.set(ds.images.subarray(i * per, (i + 1) * per), j * per);
    labels[j] = ds.labels[i];
  }
  return { name, images, labels, shape: ds.shape, numClasses: ds.numClasses, length: n };
}

const U8_TO_F32 = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/** Converts bytes 0..255 to floats v / 255 in [0, 1] (into `out` when given). */
export function bytesToUnit(
  bytes: Uint8Array,
  out: Float32Array = new Float32Array(bytes.length),
): Float32Array {
  if (out.length !== bytes.length) {
    throw new Error(`bytesToUnit: ${bytes.length} bytes for ${out.length} floats`);
  }
  const lut = U8_TO_F32;
  for (let i = 0; i < bytes.length; i++) out[i] = lut[bytes[i]];
  return out;
}
