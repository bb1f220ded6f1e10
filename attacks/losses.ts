/**
 * Per-example attack losses on logits [N, C], composed from core ops and differentiable:
 * cross-entropy, the CW margin, DLR and targeted DLR (Croce & Hein 2020), and the KL
 * divergence of TRADES. Attacks maximise them.
 *
 * Ranked logits (z_π1 >= z_π2 >= ...) are picked with one-hot masks built from argmax
 * without gradient (the first index on ties, like a stable sort), so the gradient flows to
 * exactly the picked logit, as `torch.sort` values and `gather` give it.
 * @module
 */

import {
  add,
  arange,
  argmax,
  cast,
  div,
  eq,
  exp,
  logSoftmax,
  mul,
  neg,
  noGrad,
  reshape,
  softmaxCrossEntropy,
  sub,
  sum,
  type Tensor,
} from "@topiary/core";

/** A per-example loss: logits [N, C] and labels [N] (i32) to losses [N]. */
export type LossFn = (logits: Tensor, y: Tensor) => Tensor;

/** Names of the untargeted attack losses. */
export type LossName = "ce" | "cw" | "dlr";

function checkLogits(op: string, logits: Tensor, y: Tensor, minClasses: number): number {
  if (logits.ndim !== 2) throw new Error(`${op}: logits must be [N, C], got ${logits}`);
  const [n, c] = logits.shape;
  if (y.dtype !== "i32" || y.ndim !== 1 || y.shape[0] !== n) {
    throw new Error(`${op}: labels must be i32 [${n}], got ${y}`);
  }
  if (c < minClasses) {
    throw new Error(`${op}: needs at least ${minClasses} classes, the logits have ${c}`);
  }
  return c;
}

/** One-hot rows [N, C] (f32, no gradient) of integer labels [N] (i32). */
export function oneHot(labels: Tensor, numClasses: number): Tensor {
  return noGrad(() => {
    const n = labels.shape[0];
    const cls = reshape(arange(numClasses, { backend: labels.backend }), [1, numClasses]);
    return eq(reshape(cast(labels, "f32"), [n, 1]), cls);
  });
}

/** z_k per row, with the gradient flowing to the picked logit only (mask: one-hot rows). */
function pick(z: Tensor, mask: Tensor): Tensor {
  return sum(mul(z, mask), 1);
}

/** One-hot masks of the k largest logits of each row, largest first (no gradient). */
export function rankMasks(logits: Tensor, k: number): Tensor[] {
  return noGrad(() => {
    const c = logits.shape[1];
    const masks: Tensor[] = [];
    let cur = logits;
    for (let j = 0; j < k; j++) {
      const m = oneHot(argmax(cur, 1), c);
      masks.push(m);
      if (j + 1 < k) cur = sub(cur, mul(m, 1e30));
    }
    return masks;
  });
}

/** Mask of the largest logit other than the label's, per row (no gradient). */
function otherMask(logits: Tensor, labelMask: Tensor): Tensor {
  return noGrad(() => oneHot(argmax(sub(logits, mul(labelMask, 1e30)), 1), logits.shape[1]));
}

/** Cross-entropy per example: -log softmax(z)_y. */
export function crossEntropyLoss(logits: Tensor, y: Tensor): Tensor {
  checkLogits("crossEntropyLoss", logits, y, 1);
  return softmaxCrossEntropy(logits, y, "none");
}

/**
 * The CW margin per example: max_{j != y} z_j - z_y (positive exactly when the example is
 * misclassified; the loss of PGD-CW and of Carlini-Wagner without the confidence clamp).
 */
export function cwLoss(logits: Tensor, y: Tensor): Tensor {
  const c = checkLogits("cwLoss", logits, y, 2);
  const ym = oneHot(y, c);
  return sub(pick(logits, otherMask(logits, ym)), pick(logits, ym));
}

/**
 * DLR loss per example (Croce & Hein 2020):
 * -(z_y - max_{j != y} z_j) / (z_π1 - z_π3 + 1e-12), with z_π the logits sorted in
 * decreasing order. Needs at least 3 classes.
 */
export function dlrLoss(logits: Tensor, y: Tensor): Tensor {
  const c = checkLogits("dlrLoss", logits, y, 3);
  const ym = oneHot(y, c);
  const [m1, , m3] = rankMasks(logits, 3);
  const num = sub(pick(logits, ym), pick(logits, otherMask(logits, ym)));
  const den = add(sub(pick(logits, m1), pick(logits, m3)), 1e-12);
  return neg(div(num, den));
}

/**
 * Targeted DLR loss per example (Croce & Hein 2020):
 * -(z_y - z_t) / (z_π1 - (z_π3 + z_π4) / 2 + 1e-12) for target classes t [N] (i32).
 * Needs at least 4 classes.
 */
export function targetedDlrLoss(logits: Tensor, y: Tensor, target: Tensor): Tensor {
  const c = checkLogits("targetedDlrLoss", logits, y, 4);
  checkLogits("targetedDlrLoss", logits, target, 4);
  const [m1, , m3, m4] = rankMasks(logits, 4);
  const num = sub(pick(logits, oneHot(y, c)), pick(logits, oneHot(target, c)));
  const tail = mul(add(pick(logits, m3), pick(logits, m4)), 0.5);
  const den = add(sub(pick(logits, m1), tail), 1e-12);
  return neg(div(num, den));
}

/**
 * KL(softmax(p) || softmax(q)) per example for logits p, q [N, C]: sum_j p_j (log p_j -
 * log q_j), differentiable in both (as TRADES's `KLDivLoss(log_softmax(q), softmax(p))`).
 */
export function klDivergence(pLogits: Tensor, qLogits: Tensor): Tensor {
  if (pLogits.ndim !== 2 || pLogits.shape.join() !== qLogits.shape.join()) {
    throw new Error(`klDivergence: logits must both be [N, C], got ${pLogits} and ${qLogits}`);
  }
  const lp = logSoftmax(pLogits);
  return sum(mul(exp(lp), sub(lp, logSoftmax(qLogits))), 1);
}

/** The per-example loss of an untargeted attack by name ("ce", "cw" or "dlr"). */
export function lossByName(name: LossName, op = "attack"): LossFn {
  switch (name) {
    case "ce":
      return crossEntropyLoss;
    case "cw":
      return cwLoss;
    case "dlr":
      return dlrLoss;
    default:
      throw new Error(`${op}: unknown loss "${name}" (expected "ce", "cw" or "dlr")`);
  }
}
