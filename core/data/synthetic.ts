/**
 * A seeded synthetic image dataset for tests: each class has a random prototype image and
 * every example is its class prototype blended with noise, so a model can learn it.
 * @module
 */

import { philoxBits, philoxUniform } from "../random/philox.ts";
import { type Dataset, type ImageShape, imageSize, makeDataset } from "./dataset.ts";

/** Options of syntheticDataset. */
export interface SyntheticOptions {
  /** Number of images. */
  n: number;
  /** Shape of one image [C, H, W] (default [1, 8, 8]). */
  shape?: ImageShape;
  /** Number of classes (default 10). */
  numClasses?: number;
  /** Seed of every draw (default 0). */
  seed?: number | bigint;
  /** Weight of the noise in [0, 1]: x = (1 - noise) * prototype + noise * u (default 0.5). */
  noise?: number;
  /** Dataset name (default "synthetic"). */
  name?: string;
}

/**
 * A deterministic dataset: labels from the draw (seed, "synthetic-label"), the prototype of
 * class k from (seed, "synthetic-prototype", k), the noise from (seed, "synthetic-noise").
 * Pixels are in [0, 1). The same options always give the same bytes.
 */
export function syntheticDataset(opts: SyntheticOptions): Dataset {
  const { n } = opts;
  const shape = opts.shape ?? [1, 8, 8];
  const k = opts.numClasses ?? 10;
  const seed = opts.seed ?? 0;
  const noise = opts.noise ?? 0.5;
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`syntheticDataset: n must be a non-negative integer, got ${n}`);
  }
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`syntheticDataset: numClasses must be a positive integer, got ${k}`);
  }
  if (!(noise >= 0 && noise <= 1)) {
    throw new Error(`syntheticDataset: noise must be in [0, 1], got ${noise}`);
  }
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(
      `syntheticDataset: shape must be [C, H, W] of positive integers, got [${shape}]`,
    );
  }
  const per = imageSize(shape);
  const protos = Array.from(
    { length: k },
    (_, c) => philoxUniform(per, seed, "synthetic-prototype", c),
  );
  const bits = philoxBits(n, seed, "synthetic-label");
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor((bits[i] * k) / 4294967296);
  const u = philoxUniform(n * per, seed, "synthetic-noise");
  const images = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    const p = protos[labels[i]], o = i * per;
    for (let j = 0; j < per; j++) images[o + j] = (1 - noise) * p[j] + noise * u[o + j];
  }
  return makeDataset(opts.name ?? "synthetic", images, labels, shape, k);
}
