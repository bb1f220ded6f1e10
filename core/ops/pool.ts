/**
 * Max and average pooling over [N, C, H, W] (oneDNN on CPU) with gradients; keeps the
 * input's layout (plain or blocked).
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { Int64Params } from "@topiary/ffi";
import { needsRecord, record } from "../autograd/node.ts";
import { Tensor } from "../tensor.ts";
import { denseRaw } from "./_raw.ts";
import { checkInputs, checkStatus, describe, pair } from "./_util.ts";

/** Pooling options, as in PyTorch (stride defaults to the kernel size). */
export interface Pool2dOptions {
  kernel: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
}

interface PoolPlan {
  params: Int64Params;
  yFmt: number;
  wsBytes: number;
  dxFmt: number;
  outShape: number[];
}

const plans = new Map<Backend, Map<string, PoolPlan>>();
const queryOut = new BigInt64Array(8);

const KIND = { max: 0, avgIncludePad: 1, avgExcludePad: 2 } as const;

function poolPlan(backend: Backend, p: number[], xFmt: number, name: string): PoolPlan {
  let m = plans.get(backend);
  if (!m) plans.set(backend, m = new Map());
  const key = `${p.join(",")}|${xFmt}`;
  let plan = m.get(key);
  if (!plan) {
    const params = new Int64Params(13);
    params.write(0, p);
    backend.check(
      backend.sym.tp_pool2d_query(params.buffer, xFmt, queryOut),
      name,
      () =>
        `input [${p.slice(0, 4).join(", ")}], kernel ${p[4]}x${p[5]}, stride ${p[6]}x${
          p[7]
        }, padding ${p[8]}x${p[9]}`,
    );
    const q = Array.from(queryOut, Number);
    plan = { params, yFmt: q[0], wsBytes: q[2], dxFmt: q[3], outShape: [p[0], p[1], q[5], q[6]] };
    m.set(key, plan);
  }
  return plan;
}

function pool2d(name: string, kind: number, x: Tensor, opts: Pool2dOptions): Tensor {
  const backend = checkInputs(name, [x]);
  if (x.ndim !== 4) throw new Error(`${name}: expected input [N, C, H, W], got ${describe(x)}`);
  const [kh, kw] = pair(name, "kernel", opts.kernel, 1);
  const [sh, sw] = pair(name, "stride", opts.stride ?? [kh, kw], 1);
  const [ph, pw] = pair(name, "padding", opts.padding ?? 0, 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new Error(`${name}: padding ${ph}x${pw} must be at most half the kernel ${kh}x${kw}`);
  }
  const xIn = x.fmt === 0 ? denseRaw(x) : x;
  const plan = poolPlan(backend, [...x.shape, kh, kw, sh, sw, ph, pw, ph, pw, kind], xIn.fmt, name);
  const recording = needsRecord(x);
  const ws = recording && plan.wsBytes > 0 ? Tensor.empty([plan.wsBytes], "u8", backend) : null;
  const y = Tensor.empty(plan.outShape, "f32", backend, plan.yFmt);
  checkStatus(
    backend,
    backend.sym.tp_pool2d_fwd(
      plan.params.buffer,
      xIn.fmt,
      xIn.storage.ptr,
      y.storage.ptr,
      ws ? ws.storage.ptr : null,
    ),
    name,
    () => describe(x),
    [y, ws, xIn],
    [x],
  );
  const xFmt = xIn.fmt, xShape = x.shape.slice();
  const out = record(y, name, [x], ws ? [ws] : [], (gy, _needs, saved) => {
    const g = gy.fmt === 0 ? denseRaw(gy) : gy;
    const dx = Tensor.empty(xShape, "f32", backend, plan.dxFmt);
    checkStatus(
      backend,
      backend.sym.tp_pool2d_bwd(
        plan.params.buffer,
        xFmt,
        g.fmt,
        g.storage.ptr,
        saved.length ? saved[0].storage.ptr : null,
        dx.storage.ptr,
      ),
      `${name} backward`,
      () => describe(gy),
    );
    return [dx];
  });
  ws?.dispose();
  if (xIn !== x) xIn.dispose();
  return out;
}

/** Max pooling (padding is ignored by the maximum, as in PyTorch). */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  return pool2d("maxPool2d", KIND.max, x, opts);
}

/** Average pooling; `countIncludePad` (default true) as in PyTorch. */
export function avgPool2d(x: Tensor, opts: Pool2dOptions & { countIncludePad?: boolean }): Tensor {
  const kind = opts.countIncludePad === false ? KIND.avgExcludePad : KIND.avgIncludePad;
  return pool2d("avgPool2d", kind, x, opts);
}

/** Mean over H and W to [N, C, 1, 1] (adaptive average pooling to 1x1). */
export function globalAvgPool2d(x: Tensor): Tensor {
  if (x.ndim !== 4) throw new Error(`globalAvgPool2d: expected [N, C, H, W], got ${describe(x)}`);
  return avgPool2d(x, { kernel: [x.shape[2], x.shape[3]] });
}
