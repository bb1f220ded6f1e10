/**
 * The batch loader: seeded per-epoch shuffles, batching and augmentation, all addressed by
 * (seed, epoch, batch) through the stateless generator, so any batch of any epoch can be
 * produced again bit-identically (exact resume of training).
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { philoxPermutation } from "../random/philox.ts";
import { getDefaultBackend, Tensor } from "../tensor.ts";
import { type Dataset, imageSize } from "./dataset.ts";
import { type AugmentOptions, augmentParams, cropFlipInto } from "./augment.ts";

/** Options of a BatchLoader. */
export interface LoaderOptions {
  /** Images per batch. */
  batchSize: number;
  /** Seed of the shuffle and augmentation draws (default 0). */
  seed?: number | bigint;
  /** Visit images in the order philoxPermutation(n, seed, "shuffle", epoch) (default true). */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Random crop with zero padding and horizontal flip (default: none). */
  augment?: AugmentOptions;
  /** Backend of the batch tensors (default: the default backend when a batch is made). */
  backend?: Backend;
}

/** A batch on a backend. Dispose it (or use `using`) when the step is done. */
export interface Batch {
  /** Images [B, C, H, W] f32 in [0, 1]. */
  x: Tensor;
  /** Labels [B] i32. */
  y: Tensor;
  /** The epoch this batch belongs to. */
  epoch: number;
  /** Its index within the epoch. */
  index: number;
  /** Disposes x and y. */
  dispose(): void;
  /** Disposes x and y (for `using`). */
  [Symbol.dispose](): void;
}

/** A batch in host memory: views into the loader's reused buffers, valid until its next call. */
export interface HostBatch {
  /** Images, B*C*H*W floats. */
  x: Float32Array;
  /** Labels, B ints. */
  y: Int32Array;
  /** Dataset indices of the batch's images, in batch order. */
  indices: Int32Array;
}

/**
 * Produces batches of a dataset. Epoch e visits every image once, in the order
 * `order(e)`; batch b of epoch e holds positions [b * B, (b + 1) * B) of that order and its
 * augmentation comes from the draw (seed, "augment", e * 2^32 + b). Nothing depends on
 * which batches were produced before, so resuming at (epoch, batch) is exact.
 */
export class BatchLoader {
  /** The dataset batches come from. */
  readonly dataset: Dataset;
  /** Images per batch. */
  readonly batchSize: number;
  /** Seed of the shuffle and augmentation draws. */
  readonly seed: number | bigint;
  /** Whether epochs are shuffled. */
  readonly shuffle: boolean;
  /** Whether a last, smaller batch is dropped. */
  readonly dropLast: boolean;
  /** Augmentation settings. */
  readonly augment: Readonly<AugmentOptions>;
  private readonly backend?: Backend;
  private orderEpoch = -1;
  private orderCache: Int32Array = new Int32Array(0);
  private readonly xBuf: Float32Array;
  private readonly yBuf: Int32Array;
  private readonly params: Int32Array;

  /** A loader over `dataset` (checked: batch size, padding, seed). */
  constructor(dataset: Dataset, opts: LoaderOptions) {
    const { batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`BatchLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    const pad = opts.augment?.padding ?? 0;
    if (!Number.isInteger(pad) || pad < 0) {
      throw new Error(`BatchLoader: augment.padding must be a non-negative integer, got ${pad}`);
    }
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.seed = opts.seed ?? 0;
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    this.augment = { padding: pad, flip: opts.augment?.flip ?? false };
    this.backend = opts.backend;
    this.xBuf = new Float32Array(batchSize * imageSize(dataset.shape));
    this.yBuf = new Int32Array(batchSize);
    this.params = new Int32Array(3 * batchSize);
  }

  /** Batches per epoch (the last one may be smaller unless dropLast). */
  get batchesPerEpoch(): number {
    const n = this.dataset.length, b = this.batchSize;
    return this.dropLast ? Math.floor(n / b) : Math.ceil(n / b);
  }

  /** Whether any augmentation is on. */
  get augments(): boolean {
    return (this.augment.padding ?? 0) > 0 || this.augment.flip === true;
  }

  /** The dataset indices in the order epoch `epoch` visits them (do not modify). */
  order(epoch: number): Int32Array {
    checkEpoch(epoch);
    if (epoch !== this.orderEpoch) {
      const n = this.dataset.length;
      this.orderCache = this.shuffle
        ? philoxPermutation(n, this.seed, "shuffle", epoch)
        : Int32Array.from({ length: n }, (_, i) => i);
      this.orderEpoch = epoch;
    }
    return this.orderCache;
  }

  /** Batch `index` of epoch `epoch` in host memory (see HostBatch). */
  hostBatch(epoch: number, index: number): HostBatch {
    const nb = this.batchesPerEpoch;
    if (!Number.isInteger(index) || index < 0 || index >= nb) {
      throw new Error(
        `BatchLoader: batch index ${index} is outside 0..${nb - 1} ` +
          `(${this.dataset.length} images of "${this.dataset.name}" in batches of ${this.batchSize})`,
      );
    }
    const order = this.order(epoch);
    const start = index * this.batchSize;
    const count = Math.min(this.batchSize, this.dataset.length - start);
    const indices = order.subarray(start, start + count);
    const ds = this.dataset, per = imageSize(ds.shape);
    const [c, h, w] = ds.shape;
    const x = this.xBuf, y = this.yBuf, images = ds.images, labels = ds.labels;
    const pad = this.augment.padding ?? 0;
    const p = this.augments
      ? augmentParams(count, this.seed, epoch, index, this.augment, this.params)
      : null;
    for (let j = 0; j < count; j++) {
      const i = indices[j];
      y[j] = labels[i];
      if (p) {
        cropFlipInto(
          images,
          i * per,
          x,
          j * per,
          c,
          h,
          w,
          pad,
          p[3 * j],
          p[3 * j + 1],
          p[3 * j + 2] === 1,
        );
      } else {
        x.set(images.subarray(i * per, (i + 1) * per), j * per);
      }
    }
    return { x: x.subarray(0, count * per), y: y.subarray(0, count), indices };
  }

  /** Batch `index` of epoch `epoch` as tensors on the backend. */
  batch(epoch: number, index: number): Batch {
    const hb = this.hostBatch(epoch, index);
    const backend = this.backend ?? getDefaultBackend();
    const n = hb.y.length;
    const x = Tensor.fromHost(hb.x, [n, ...this.dataset.shape], "f32", backend);
    let y: Tensor;
    try {
      y = Tensor.fromHost(hb.y, [n], "i32", backend);
    } catch (e) {
      x.dispose();
      throw e;
    }
    const dispose = () => {
      x.dispose();
      y.dispose();
    };
    return { x, y, epoch, index, dispose, [Symbol.dispose]: dispose };
  }

  /** The batches of epoch `epoch`, starting at batch `start` (to resume mid-epoch). */
  *batches(epoch: number, start = 0): Generator<Batch> {
    for (let b = start; b < this.batchesPerEpoch; b++) yield this.batch(epoch, b);
  }
}

function checkEpoch(epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new Error(`BatchLoader: epoch must be an integer in 0..2^32-1, got ${epoch}`);
  }
}
