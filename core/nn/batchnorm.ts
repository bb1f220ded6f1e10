/**
 * `BatchNorm2d`: PyTorch's nn.BatchNorm2d. Parameters `weight`, `bias` (when affine) and
 * buffers `running_mean`, `running_var`, `num_batches_tracked` (when tracking running
 * statistics), in PyTorch's state-dict order. `num_batches_tracked` is an i32 scalar here;
 * checkpoints store it as I64 like PyTorch.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { batchNorm2d } from "../ops/batchnorm.ts";
import { fill } from "../ops/create.ts";
import { fmtShape, getDefaultBackend, Tensor } from "../tensor.ts";
import type { Initializable } from "./init.ts";
import { Module } from "./module.ts";
import { checkIndices, selectAlong } from "./_select.ts";

/** Options of {@link BatchNorm2d}, as in PyTorch. */
export interface BatchNorm2dOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Running-average factor (default 0.1). */
  momentum?: number;
  /** Learnable scale and shift (default true). */
  affine?: boolean;
  /** Keep running statistics for evaluation (default true). */
  trackRunningStats?: boolean;
  /** Device (default: the default backend). */
  backend?: Backend;
}

const counterHost = new Int32Array(1);

/** Adds one to an i32 scalar tensor in place. */
function increment(t: Tensor): void {
  const b = t.backend;
  b.check(b.sym.tp_copy_to_host(t.storage.ptr, 0n, counterHost, 4n), "BatchNorm2d");
  counterHost[0] = (counterHost[0] + 1) | 0;
  b.check(b.sym.tp_copy_from_host(t.storage.ptr, 0n, counterHost, 4n), "BatchNorm2d");
  t.storage.version++;
}

/**
 * Batch normalization over channels of [N, C, H, W]. Training mode normalises with batch
 * statistics and updates the running ones (unbiased variance, as PyTorch); evaluation mode
 * uses the running statistics. Blocked layouts pass through unchanged.
 */
export class BatchNorm2d extends Module implements Initializable {
  /** Channels C. */
  readonly numFeatures: number;
  /** Variance epsilon. */
  readonly eps: number;
  /** Running-average factor. */
  readonly momentum: number;
  /** Whether weight and bias exist. */
  readonly affine: boolean;
  /** Whether running statistics exist. */
  readonly trackRunningStats: boolean;

  constructor(numFeatures: number, opts: BatchNorm2dOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new Error(`BatchNorm2d: numFeatures must be an integer >= 1, got ${numFeatures}`);
    }
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    if (!(this.eps > 0)) throw new Error(`BatchNorm2d: eps must be > 0, got ${this.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(`BatchNorm2d: momentum must be in [0, 1], got ${this.momentum}`);
    }
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const backend = opts.backend ?? getDefaultBackend();
    const vec = () => Tensor.empty([numFeatures], "f32", backend);
    if (this.affine) {
      this.registerParameter("weight", vec());
      this.registerParameter("bias", vec());
    }
    if (this.trackRunningStats) {
      this.registerBuffer("running_mean", vec());
      this.registerBuffer("running_var", vec());
      this.registerBuffer("num_batches_tracked", Tensor.empty([], "i32", backend));
    }
    this.resetParameters();
  }

  /** Scale gamma [C] (affine only). */
  get weight(): Tensor | null {
    return this.affine ? this.tensor("weight") : null;
  }

  /** Shift beta [C] (affine only). */
  get bias(): Tensor | null {
    return this.affine ? this.tensor("bias") : null;
  }

  /** Running mean [C] (when tracking). */
  get runningMean(): Tensor | null {
    return this.trackRunningStats ? this.tensor("running_mean") : null;
  }

  /** Running variance [C] (when tracking). */
  get runningVar(): Tensor | null {
    return this.trackRunningStats ? this.tensor("running_var") : null;
  }

  /** Number of training batches seen, an i32 scalar (when tracking). */
  get numBatchesTracked(): Tensor | null {
    return this.trackRunningStats ? this.tensor("num_batches_tracked") : null;
  }

  /** Weight 1, bias 0, running mean 0, running variance 1, batch count 0 (as PyTorch). */
  resetParameters(): void {
    if (this.affine) {
      fill(this.tensor("weight"), 1);
      fill(this.tensor("bias"), 0);
    }
    this.resetRunningStats();
  }

  /** Running mean 0, running variance 1, batch count 0. */
  resetRunningStats(): void {
    if (!this.trackRunningStats) return;
    fill(this.tensor("running_mean"), 0);
    fill(this.tensor("running_var"), 1);
    fill(this.tensor("num_batches_tracked"), 0);
  }

  /** Keeps only the channels `idx` (increasing), in place (structured pruning). */
  selectChannels(idx: readonly number[]): void {
    checkIndices("BatchNorm2d.selectChannels", idx, this.numFeatures);
    for (const n of ["weight", "bias", "running_mean", "running_var"]) {
      const has = n === "weight" || n === "bias" ? this.affine : this.trackRunningStats;
      if (has) this.replaceTensor(n, selectAlong(this.tensor(n), 0, idx));
    }
    (this as { numFeatures: number }).numFeatures = idx.length;
  }

  /** Normalises x [N, numFeatures, H, W]. */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.numFeatures) {
      throw new Error(
        `BatchNorm2d(${this.numFeatures}) expects input [N, ${this.numFeatures}, H, W], ` +
          `got ${fmtShape(x.shape)}`,
      );
    }
    const track = this.trackRunningStats;
    const y = batchNorm2d(x, {
      weight: this.weight,
      bias: this.bias,
      runningMean: track ? this.tensor("running_mean") : null,
      runningVar: track ? this.tensor("running_var") : null,
      training: this.training || !track,
      momentum: this.momentum,
      eps: this.eps,
    });
    if (this.training && track) increment(this.tensor("num_batches_tracked"));
    return y;
  }

  override toString(): string {
    return `BatchNorm2d(${this.numFeatures}, eps ${this.eps}, momentum ${this.momentum}` +
      `${this.affine ? "" : ", non-affine"}${this.trackRunningStats ? "" : ", no running stats"})`;
  }
}
