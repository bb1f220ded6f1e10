/**
 * 2-D convolution (oneDNN on CPU) with gradients. Activations may stay in the blocked layout
 * oneDNN prefers between layers; weights are plain [K, C, R, S] like PyTorch's.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { Int64Params } from "@topiary/ffi";
import { record } from "../autograd/node.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { asFormatRaw, denseRaw } from "./_raw.ts";
import { checkInputs, checkStatus, describe, pair } from "./_util.ts";

/** Options of {@link conv2d}, as in PyTorch (padding may also be [top, left, bottom, right]). */
export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number] | [number, number, number, number];
  dilation?: number | [number, number];
}

/** What the backend reported for one convolution shape. */
interface ConvPlan {
  params: Int64Params;
  yFmt: number;
  dxFmt: number;
  xWant: number;
  dyWant: number;
  outShape: number[];
}

const plans = new Map<Backend, Map<string, ConvPlan>>();
const queryOut = new BigInt64Array(8);

function convPlan(backend: Backend, p: number[]): ConvPlan {
  let m = plans.get(backend);
  if (!m) plans.set(backend, m = new Map());
  const key = p.join(",");
  let plan = m.get(key);
  if (!plan) {
    const params = new Int64Params(16);
    params.write(0, p);
    backend.check(
      backend.sym.tp_conv2d_query(params.buffer, queryOut),
      "conv2d",
      () =>
        `input [${p.slice(0, 4).join(", ")}], weight [${[p[4], p[1], p[5], p[6]].join(", ")}], ` +
        `stride ${p[7]}x${p[8]}, padding ${p.slice(9, 13).join("/")}, dilation ${p[13]}x${p[14]}`,
    );
    const q = Array.from(queryOut, Number);
    plan = {
      params,
      yFmt: q[0],
      dxFmt: q[2],
      xWant: q[6],
      dyWant: q[7],
      outShape: [p[0], p[4], q[4], q[5]],
    };
    m.set(key, plan);
  }
  return plan;
}

/** Normalised padding [top, left, bottom, right]. */
function padding4(v: Conv2dOptions["padding"]): [number, number, number, number] {
  if (v === undefined) return [0, 0, 0, 0];
  if (Array.isArray(v) && v.length === 4) {
    if (!v.every((x) => Number.isInteger(x) && x >= 0)) throw new Error(`conv2d: padding ${v}`);
    return [v[0], v[1], v[2], v[3]];
  }
  const [ph, pw] = pair("conv2d", "padding", v as number | [number, number], 0);
  return [ph, pw, ph, pw];
}

function checkConvArgs(x: Tensor, w: Tensor, b: Tensor | null): Backend {
  const backend = checkInputs("conv2d", [x, w, b]);
  if (x.ndim !== 4 || w.ndim !== 4 || x.shape[1] !== w.shape[1]) {
    throw new Error(
      `conv2d: input ${describe(x)} does not match weight ${describe(w)} ` +
        `(expected input [N, ${w.shape[1]}, H, W] and weight [K, C, R, S])`,
    );
  }
  if (b && (b.ndim !== 1 || b.shape[0] !== w.shape[0])) {
    throw new Error(`conv2d: bias ${fmtShape(b.shape)} does not match ${w.shape[0]} filters`);
  }
  return backend;
}

/**
 * The native convolution parameters (TP_CONV_NPARAMS) of input and weight shapes and options:
 * N, C, H, W, K, R, S, strides, padding (top, left, bottom, right), dilations, has_bias.
 */
export function convParams(
  x: readonly number[],
  w: readonly number[],
  bias: boolean,
  opts: Conv2dOptions,
): number[] {
  const [sh, sw] = pair("conv2d", "stride", opts.stride ?? 1, 1);
  const [dh, dw] = pair("conv2d", "dilation", opts.dilation ?? 1, 1);
  const pad = padding4(opts.padding);
  return [x[0], x[1], x[2], x[3], w[0], w[2], w[3], sh, sw, ...pad, dh, dw, bias ? 1 : 0];
}

function planFor(
  backend: Backend,
  x: readonly number[],
  w: readonly number[],
  bias: boolean,
  opts: Conv2dOptions,
) {
  return convPlan(backend, convParams(x, w, bias, opts));
}

/** Forward kernel without autograd: y in the layout oneDNN chose (see `Tensor.fmt`). */
export function conv2dForwardRaw(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  const backend = checkConvArgs(x, w, b);
  const plan = planFor(backend, x.shape, w.shape, b !== null, opts);
  const xIn = asFormatRaw(x, plan.xWant);
  const wIn = denseRaw(w);
  const bIn = b ? denseRaw(b) : null;
  const y = Tensor.empty(plan.outShape, "f32", backend, plan.yFmt);
  checkStatus(
    backend,
    backend.sym.tp_conv2d_fwd(
      plan.params.buffer,
      xIn.fmt,
      xIn.storage.ptr,
      wIn.storage.ptr,
      bIn ? bIn.storage.ptr : null,
      y.storage.ptr,
    ),
    "conv2d",
    () => `input ${describe(x)}, weight ${describe(w)}`,
    [y, xIn, wIn, bIn],
    [x, w, b],
  );
  if (xIn !== x) xIn.dispose();
  if (wIn !== w) wIn.dispose();
  if (bIn && bIn !== b) bIn.dispose();
  return y;
}

/** Backward-data kernel: dx [N, C, H, W] from dy and w (no autograd). */
export function conv2dBackwardDataRaw(
  dy: Tensor,
  w: Tensor,
  xShape: readonly number[],
  opts: Conv2dOptions = {},
  hasBias = false,
): Tensor {
  const backend = checkInputs("conv2d backward-data", [dy, w]);
  const plan = planFor(backend, xShape, w.shape, hasBias, opts);
  checkGradShape(dy, plan.outShape);
  const g = asFormatRaw(dy, plan.dyWant);
  const wIn = denseRaw(w);
  const dx = Tensor.empty(xShape, "f32", backend, plan.dxFmt);
  checkStatus(
    backend,
    backend.sym.tp_conv2d_bwd_data(
      plan.params.buffer,
      g.fmt,
      g.storage.ptr,
      wIn.storage.ptr,
      dx.storage.ptr,
    ),
    "conv2d backward-data",
    () => `grad ${describe(dy)}, weight ${describe(w)}`,
    [dx, g, wIn],
    [dy, w],
  );
  if (g !== dy) g.dispose();
  if (wIn !== w) wIn.dispose();
  return dx;
}

/** Backward-weights kernel: dw (plain [K, C, R, S]) and db ([K] when hasBias), no autograd. */
export function conv2dBackwardWeightsRaw(
  x: Tensor,
  dy: Tensor,
  wShape: readonly number[],
  opts: Conv2dOptions = {},
  hasBias = false,
): { dw: Tensor; db: Tensor | null } {
  const backend = checkInputs("conv2d backward-weights", [x, dy]);
  const plan = planFor(backend, x.shape, wShape, hasBias, opts);
  checkGradShape(dy, plan.outShape);
  const xIn = asFormatRaw(x, plan.xWant);
  const g = asFormatRaw(dy, plan.dyWant);
  const dw = Tensor.empty(wShape, "f32", backend);
  const db = hasBias ? Tensor.empty([wShape[0]], "f32", backend) : null;
  checkStatus(
    backend,
    backend.sym.tp_conv2d_bwd_weights(
      plan.params.buffer,
      xIn.fmt,
      xIn.storage.ptr,
      g.fmt,
      g.storage.ptr,
      dw.storage.ptr,
      db ? db.storage.ptr : null,
      0,
    ),
    "conv2d backward-weights",
    () => `input ${describe(x)}, grad ${describe(dy)}`,
    [dw, db, xIn, g],
    [x, dy],
  );
  if (xIn !== x) xIn.dispose();
  if (g !== dy) g.dispose();
  return { dw, db };
}

function checkGradShape(dy: Tensor, want: readonly number[]): void {
  if (dy.shape.join() !== want.join()) {
    throw new Error(`conv2d: gradient ${describe(dy)} does not match the output ${fmtShape(want)}`);
  }
}

/** Convolution of x [N, C, H, W] with w [K, C, R, S] and optional bias [K] (PyTorch's conv2d). */
export function conv2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null = null,
  opts: Conv2dOptions = {},
): Tensor {
  const backend = checkConvArgs(x, w, b);
  const plan = planFor(backend, x.shape, w.shape, b !== null, opts);
  const xIn = asFormatRaw(x, plan.xWant);
  const y = conv2dForwardRaw(xIn, w, b, opts);
  const xShape = x.shape.slice(), wShape = w.shape.slice();
  const out = record(y, "conv2d", [x, w, b], [xIn, w], (gy, needs, [xs, ws]) => {
    const g = asFormatRaw(gy, plan.dyWant); // one reorder shared by both kernels
    const dx = needs[0] ? conv2dBackwardDataRaw(g, ws, xShape, opts, b !== null) : null;
    let dw: Tensor | null = null, db: Tensor | null = null;
    if (needs[1] || needs[2]) {
      ({ dw, db } = conv2dBackwardWeightsRaw(xs, g, wShape, opts, b !== null));
    }
    return [dx, needs[1] ? dw : null, needs[2] ? db : null];
  });
  if (xIn !== x) xIn.dispose();
  return out;
}
