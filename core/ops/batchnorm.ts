/**
 * Batch normalization over [N, C, H, W] (oneDNN on CPU) with PyTorch's semantics, keeping
 * the input's layout. Running statistics are updated in place in training mode.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { Int64Params } from "@topiary/ffi";
import { record } from "../autograd/node.ts";
import { Tensor } from "../tensor.ts";
import { denseRaw } from "./_raw.ts";
import { checkFinite, checkInputs, checkStatus, describe } from "./_util.ts";

/** Options of {@link batchNorm2d}. */
export interface BatchNormOptions {
  /** Scale gamma [C] (affine); null for a non-affine batch norm. */
  weight?: Tensor | null;
  /** Shift beta [C] (affine). */
  bias?: Tensor | null;
  /** Running mean [C], updated in training mode, used in inference mode. */
  runningMean?: Tensor | null;
  /** Running variance [C] (unbiased update, as PyTorch). */
  runningVar?: Tensor | null;
  /** Batch statistics (true) or running statistics (false). */
  training: boolean;
  /** Running-average factor (PyTorch's momentum, default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

interface BnPlan {
  params: Int64Params;
  yFmt: number;
  dxFmt: number;
}

const plans = new Map<Backend, Map<string, BnPlan>>();
const queryOut = new BigInt64Array(4);

function bnPlan(backend: Backend, p: number[], eps: number, xFmt: number): BnPlan {
  let m = plans.get(backend);
  if (!m) plans.set(backend, m = new Map());
  const key = `${p.join(",")}|${eps}|${xFmt}`;
  let plan = m.get(key);
  if (!plan) {
    const params = new Int64Params(6);
    params.write(0, p);
    backend.check(
      backend.sym.tp_batchnorm_query(params.buffer, eps, xFmt, queryOut),
      "batchNorm2d",
      () => `input [${p.slice(0, 4).join(", ")}]`,
    );
    plan = { params, yFmt: Number(queryOut[0]), dxFmt: Number(queryOut[2]) };
    m.set(key, plan);
  }
  return plan;
}

function checkVec(name: string, t: Tensor | null | undefined, c: number): void {
  if (t && (t.ndim !== 1 || t.shape[0] !== c || !t.isContiguous || t.offset !== 0)) {
    throw new Error(`batchNorm2d: ${name} must be a dense [${c}] tensor, got ${describe(t)}`);
  }
}

/** Batch normalization of x [N, C, H, W]. */
export function batchNorm2d(x: Tensor, opts: BatchNormOptions): Tensor {
  const { weight = null, bias = null, runningMean = null, runningVar = null, training } = opts;
  const momentum = opts.momentum ?? 0.1, eps = opts.eps ?? 1e-5;
  const backend = checkInputs("batchNorm2d", [x, weight, bias, runningMean, runningVar]);
  if (x.ndim !== 4) throw new Error(`batchNorm2d: expected input [N, C, H, W], got ${describe(x)}`);
  checkFinite("batchNorm2d", "momentum", momentum);
  if (!(eps > 0)) throw new Error(`batchNorm2d: eps must be > 0, got ${eps}`);
  const [N, C, H, W] = x.shape;
  for (
    const [n, t] of [["weight", weight], ["bias", bias], ["runningMean", runningMean], [
      "runningVar",
      runningVar,
    ]] as const
  ) {
    checkVec(n, t, C);
  }
  if (!weight !== !bias) throw new Error("batchNorm2d: give both weight and bias, or neither");
  if (!runningMean !== !runningVar) {
    throw new Error("batchNorm2d: give both running statistics, or neither");
  }
  if (!training && !runningMean) {
    throw new Error("batchNorm2d: inference mode needs running statistics");
  }
  if (training && N * H * W < 2) {
    throw new Error(
      `batchNorm2d: training needs more than one value per channel, got input ${describe(x)}`,
    );
  }
  const affine = weight !== null;
  const xIn = x.fmt === 0 ? denseRaw(x) : x;
  const plan = bnPlan(backend, [N, C, H, W, affine ? 1 : 0, training ? 1 : 0], eps, xIn.fmt);
  const mean = training ? Tensor.empty([C], "f32", backend) : runningMean!;
  const vari = training ? Tensor.empty([C], "f32", backend) : runningVar!;
  const y = Tensor.empty(x.shape, "f32", backend, plan.yFmt);
  checkStatus(
    backend,
    backend.sym.tp_batchnorm_fwd(
      plan.params.buffer,
      eps,
      momentum,
      xIn.fmt,
      xIn.storage.ptr,
      weight?.storage.ptr ?? null,
      bias?.storage.ptr ?? null,
      mean.storage.ptr,
      vari.storage.ptr,
      training ? runningMean?.storage.ptr ?? null : null,
      training ? runningVar?.storage.ptr ?? null : null,
      y.storage.ptr,
    ),
    "batchNorm2d",
    () => describe(x),
    [y, xIn, training ? mean : null, training ? vari : null],
    [x],
  );
  if (training && runningMean) {
    runningMean.storage.version++;
    runningVar!.storage.version++;
  }
  const xFmt = xIn.fmt;
  const saved = [xIn, mean, vari, ...(weight ? [weight] : [])];
  const out = record(y, "batchNorm2d", [x, weight, bias], saved, (gy, needs, s) => {
    const [xs, ms, vs] = s;
    const ws = affine ? s[3] : null;
    const g = gy.fmt === 0 ? denseRaw(gy) : gy;
    const dx = Tensor.empty(xs.shape, "f32", backend, plan.dxFmt);
    const wantParams = affine && (needs[1] || needs[2]);
    const dscale = wantParams ? Tensor.empty([C], "f32", backend) : null;
    const dshift = wantParams ? Tensor.empty([C], "f32", backend) : null;
    checkStatus(
      backend,
      backend.sym.tp_batchnorm_bwd(
        plan.params.buffer,
        eps,
        xFmt,
        xs.storage.ptr,
        g.fmt,
        g.storage.ptr,
        ws?.storage.ptr ?? null,
        ms.storage.ptr,
        vs.storage.ptr,
        dx.storage.ptr,
        dscale?.storage.ptr ?? null,
        dshift?.storage.ptr ?? null,
      ),
      "batchNorm2d backward",
      () => describe(gy),
    );
    return [needs[0] ? dx : null, needs[1] ? dscale : null, needs[2] ? dshift : null];
  });
  if (xIn !== x) xIn.dispose();
  if (training) {
    mean.dispose();
    vari.dispose();
  }
  return out;
}
