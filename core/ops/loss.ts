/**
 * Softmax cross-entropy (fused) and log-softmax, with gradients.
 * @module
 */

import { record } from "../autograd/node.ts";
import { Tensor } from "../tensor.ts";
import { denseRaw, ReduceOp, reduceRaw } from "./_raw.ts";
import { checkInputs, checkStatus, describe } from "./_util.ts";
import { exp } from "./elementwise.ts";

/** How per-example losses are combined. */
export type Reduction = "mean" | "sum" | "none";

function checkLogits(op: string, logits: Tensor, labels: Tensor): void {
  checkInputs(op, [logits]);
  checkInputs(op, [logits, labels], null);
  if (labels.dtype !== "i32") {
    throw new Error(`${op}: labels must be i32 class indices, got ${describe(labels)}`);
  }
  if (logits.ndim !== 2) throw new Error(`${op}: logits must be [N, C], got ${describe(logits)}`);
  if (labels.ndim !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(`${op}: labels ${describe(labels)} do not match logits ${describe(logits)}`);
  }
}

/**
 * Cross-entropy of softmax(logits) [N, C] against integer labels [N] (i32), fused and
 * numerically stable. Labels outside [0, C) are an error.
 */
export function softmaxCrossEntropy(
  logits: Tensor,
  labels: Tensor,
  reduction: Reduction = "mean",
): Tensor {
  checkLogits("softmaxCrossEntropy", logits, labels);
  if (reduction !== "mean" && reduction !== "sum" && reduction !== "none") {
    throw new Error(`softmaxCrossEntropy: reduction must be mean, sum or none, got "${reduction}"`);
  }
  const backend = logits.backend;
  const [n, c] = logits.shape;
  const x = denseRaw(logits), l = denseRaw(labels);
  const losses = Tensor.empty([n], "f32", backend);
  checkStatus(
    backend,
    backend.sym.tp_softmax_xent_fwd(
      BigInt(n),
      BigInt(c),
      x.storage.ptr,
      l.storage.ptr,
      losses.storage.ptr,
    ),
    "softmaxCrossEntropy",
    () => `logits ${describe(logits)}, labels ${describe(labels)}`,
    [losses, x, l],
    [logits, labels],
  );
  let y = losses;
  if (reduction !== "none") {
    y = reduceRaw(reduction === "mean" ? ReduceOp.MEAN : ReduceOp.SUM, losses, [0], false);
    losses.dispose();
  }
  const scale = reduction === "mean" ? 1 / n : 1;
  const out = record(y, "softmaxCrossEntropy", [logits, null], [x, l], (gy, _needs, [xs, ls]) => {
    const g = denseRaw(gy);
    const dx = Tensor.empty([n, c], "f32", backend);
    checkStatus(
      backend,
      backend.sym.tp_softmax_xent_bwd(
        BigInt(n),
        BigInt(c),
        xs.storage.ptr,
        ls.storage.ptr,
        g.storage.ptr,
        reduction === "none" ? 1n : 0n,
        scale,
        dx.storage.ptr,
      ),
      "softmaxCrossEntropy backward",
      () => describe(gy),
    );
    return [dx, null];
  });
  if (x !== logits) x.dispose();
  if (l !== labels) l.dispose();
  return out;
}

/** log(softmax(x)) over the last axis of x [N, C]. */
export function logSoftmax(x: Tensor): Tensor {
  const backend = checkInputs("logSoftmax", [x]);
  if (x.ndim !== 2) throw new Error(`logSoftmax: expected [N, C], got ${describe(x)}`);
  const [n, c] = x.shape;
  const xd = denseRaw(x);
  const y = Tensor.empty([n, c], "f32", backend);
  checkStatus(
    backend,
    backend.sym.tp_log_softmax_fwd(BigInt(n), BigInt(c), xd.storage.ptr, y.storage.ptr),
    "logSoftmax",
    () => describe(x),
    [y, xd],
    [x],
  );
  if (xd !== x) xd.dispose();
  return record(y, "logSoftmax", [x], [y], (gy, _n, [ys]) => {
    const g = denseRaw(gy);
    const dx = Tensor.empty([n, c], "f32", backend);
    checkStatus(
      backend,
      backend.sym.tp_log_softmax_bwd(
        BigInt(n),
        BigInt(c),
        ys.storage.ptr,
        g.storage.ptr,
        dx.storage.ptr,
      ),
      "logSoftmax backward",
      () => describe(gy),
    );
    return [dx];
  });
}

/** Softmax over the last axis of x [N, C] (exp of logSoftmax). */
export function softmax(x: Tensor): Tensor {
  const ls = logSoftmax(x);
  try {
    return exp(ls);
  } finally {
    ls.dispose();
  }
}
