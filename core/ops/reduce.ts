/**
 * Reductions over axes: sum, mean, max, min, argmax, argmin, with gradients.
 * Results do not depend on the thread count (fixed-order chunked sums in double).
 * @module
 */

import { record } from "../autograd/node.ts";
import type { Tensor } from "../tensor.ts";
import { fmtShape } from "../tensor.ts";
import { ReduceOp, reduceRaw } from "./_raw.ts";
import { checkInputs, normAxis } from "./_util.ts";
import { div, eq, mul } from "./elementwise.ts";
import { expand, reshape } from "./layout.ts";

/** Axes to reduce: a number, a list, or undefined for all. */
export type Axes = number | readonly number[] | undefined;

function normAxes(op: string, axes: Axes, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === "number" ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, a, ndim)))].sort((a, b) => a - b);
  if (out.length !== list.length) throw new Error(`${op}: repeated axis in [${list.join(", ")}]`);
  return out;
}

function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Broadcasts a reduced gradient back over the reduced axes. */
function spread(gy: Tensor, shape: readonly number[], axes: readonly number[]): Tensor {
  return expand(reshape(gy, keptShape(shape, axes)), shape);
}

/** Sum over axes (all by default). */
export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  checkInputs("sum", [x]);
  const ax = normAxes("sum", axes, x.ndim);
  const y = reduceRaw(ReduceOp.SUM, x, ax, keepDims, "sum");
  const shape = x.shape.slice();
  return record(y, "sum", [x], [], (gy) => [spread(gy, shape, ax)]);
}

/** Mean over axes (all by default). */
export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  checkInputs("mean", [x]);
  const ax = normAxes("mean", axes, x.ndim);
  const y = reduceRaw(ReduceOp.MEAN, x, ax, keepDims, "mean");
  const shape = x.shape.slice();
  const count = ax.reduce((n, a) => n * shape[a], 1);
  return record(y, "mean", [x], [], (gy) => {
    const g = spread(gy, shape, ax);
    return [div(g, count)];
  });
}

function extremum(op: "max" | "min", x: Tensor, axes: Axes, keepDims: boolean): Tensor {
  checkInputs(op, [x]);
  const ax = normAxes(op, axes, x.ndim);
  for (const a of ax) {
    if (x.shape[a] === 0) {
      throw new Error(`${op}: reducing the empty dim ${a} of ${fmtShape(x.shape)}`);
    }
  }
  const y = reduceRaw(op === "max" ? ReduceOp.MAX : ReduceOp.MIN, x, ax, keepDims, op);
  const shape = x.shape.slice();
  // Gradient shared evenly between tied extrema (as torch.amax / torch.amin).
  return record(y, op, [x], [x, y], (gy, _needs, [xs, ys]) => {
    const hit = eq(xs, spread(ys, shape, ax));
    const count = sum(hit, ax, true);
    return [mul(hit, div(spread(gy, shape, ax), count))];
  });
}

/** Maximum over axes (gradient shared between ties). */
export function max(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return extremum("max", x, axes, keepDims);
}

/** Minimum over axes (gradient shared between ties). */
export function min(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return extremum("min", x, axes, keepDims);
}

/** Index (i32) of the maximum along one axis; the first on ties. */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  checkInputs("argmax", [x]);
  return reduceRaw(ReduceOp.ARGMAX, x, [normAxis("argmax", axis, x.ndim)], keepDims, "argmax");
}

/** Index (i32) of the minimum along one axis; the first on ties. */
export function argmin(x: Tensor, axis = -1, keepDims = false): Tensor {
  checkInputs("argmin", [x]);
  return reduceRaw(ReduceOp.ARGMIN, x, [normAxis("argmin", axis, x.ndim)], keepDims, "argmin");
}

/** Sums a broadcast gradient down to `shape` (the inverse of broadcasting). */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  const n = g.ndim, k = shape.length;
  const axes: number[] = [];
  for (let i = 0; i < n; i++) {
    const want = i < n - k ? 1 : shape[i - (n - k)];
    if (i < n - k || (want === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0 && n === k) return reshape(g, shape);
  return reshape(sum(g, axes, true), shape);
}
