/**
 * Elementwise ops with broadcasting and their gradients. Binary ops accept a number on
 * either side. Ops with f(0) = 0 keep oneDNN's blocked formats.
 * @module
 */

import { record } from "../autograd/node.ts";
import type { Tensor } from "../tensor.ts";
import { BinaryOp, binaryRaw, fullRaw, UnaryOp, unaryRaw, whereRaw } from "./_raw.ts";
import { checkFinite, checkInputs } from "./_util.ts";
import { sumToShape } from "./reduce.ts";

type Operand = Tensor | number;

function scalarTensor(like: Tensor, v: number): Tensor {
  return fullRaw([], v, "f32", like.backend);
}

function unaryOp(
  name: string,
  op: number,
  x: Tensor,
  a: number,
  b: number,
  backward: ((gy: Tensor, x: Tensor, y: Tensor) => Tensor) | null,
  saveX = true,
  saveY = false,
): Tensor {
  checkInputs(name, [x]);
  const y = unaryRaw(op, x, a, b, name);
  if (!backward) return y;
  const saved = [...(saveX ? [x] : []), ...(saveY ? [y] : [])];
  return record(y, name, [x], saved, (gy, _n, s) => {
    const xs = saveX ? s[0] : x;
    const ys = saveY ? s[saveX ? 1 : 0] : y;
    return [backward(gy, xs, ys)];
  });
}

/** -x */
export function neg(x: Tensor): Tensor {
  return unaryOp("neg", UnaryOp.NEG, x, 0, 0, (g) => neg(g), false);
}

/** β of the smooth ReLU gradient in effect (null: the exact gradient). */
let reluSurrogateBeta: number | null = null;

/**
 * Runs `fn` with ReLU's backward pass replaced by the derivative of softplus_β,
 * sigmoid(β·x), while its forward pass stays exact: a gradient through the network's smooth
 * surrogate (BPDA-style), for attacks on networks whose ReLU thresholds mask the gradient.
 * β → ∞ recovers the exact gradient.
 */
export function withReluSurrogate<T>(beta: number, fn: () => T): T {
  if (!(beta > 0) || !Number.isFinite(beta)) {
    throw new Error(`withReluSurrogate: beta must be a positive number, got ${beta}`);
  }
  const before = reluSurrogateBeta;
  reluSurrogateBeta = beta;
  try {
    return fn();
  } finally {
    reluSurrogateBeta = before;
  }
}

/** max(x, 0) (inside {@link withReluSurrogate}: gradient sigmoid(β·x) instead of [x > 0]). */
export function relu(x: Tensor): Tensor {
  checkInputs("relu", [x]);
  const y = unaryRaw(UnaryOp.RELU, x, 0, 0, "relu");
  const beta = reluSurrogateBeta;
  if (beta !== null) {
    return record(y, "relu", [x], [x], (gy, _n, [xs]) => [mul(gy, sigmoid(affine(xs, beta, 0)))]);
  }
  return record(y, "relu", [x], [y], (gy, _n, [ys]) => [reluBackward(ys, gy)]);
}

/** The gradient of relu: gy where y > 0, else 0 (not differentiable itself). */
export function reluBackward(y: Tensor, gy: Tensor): Tensor {
  return binaryRaw(BinaryOp.RELU_BACKWARD, y, gy, "relu_backward");
}

/** -1, 0 or +1 (zero gradient). */
export function sign(x: Tensor): Tensor {
  checkInputs("sign", [x]);
  return unaryRaw(UnaryOp.SIGN, x, 0, 0, "sign");
}

/** |x| (gradient sign(x)). */
export function abs(x: Tensor): Tensor {
  return unaryOp("abs", UnaryOp.ABS, x, 0, 0, (g, xs) => mul(g, sign(xs)));
}

/** e^x */
export function exp(x: Tensor): Tensor {
  return unaryOp("exp", UnaryOp.EXP, x, 0, 0, (g, _x, y) => mul(g, y), false, true);
}

/** ln x */
export function log(x: Tensor): Tensor {
  return unaryOp("log", UnaryOp.LOG, x, 0, 0, (g, xs) => div(g, xs));
}

/** sqrt x */
export function sqrt(x: Tensor): Tensor {
  return unaryOp("sqrt", UnaryOp.SQRT, x, 0, 0, (g, _x, y) => div(mul(g, 0.5), y), false, true);
}

/** x^p for a number p. */
export function pow(x: Tensor, p: number): Tensor {
  checkFinite("pow", "exponent", p);
  return unaryOp("pow", UnaryOp.POW, x, p, 0, (g, xs) => mul(g, mul(pow(xs, p - 1), p)));
}

/** x^2 */
export function square(x: Tensor): Tensor {
  return unaryOp("square", UnaryOp.SQUARE, x, 0, 0, (g, xs) => mul(g, mul(xs, 2)));
}

/** 1/x */
export function reciprocal(x: Tensor): Tensor {
  return unaryOp(
    "reciprocal",
    UnaryOp.RECIPROCAL,
    x,
    0,
    0,
    (g, _x, y) => neg(mul(g, square(y))),
    false,
    true,
  );
}

/** 1/sqrt(x) */
export function rsqrt(x: Tensor): Tensor {
  return unaryOp(
    "rsqrt",
    UnaryOp.RSQRT,
    x,
    0,
    0,
    (g, _x, y) => mul(g, mul(pow(y, 3), -0.5)),
    false,
    true,
  );
}

/** tanh x */
export function tanh(x: Tensor): Tensor {
  return unaryOp(
    "tanh",
    UnaryOp.TANH,
    x,
    0,
    0,
    (g, _x, y) => mul(g, sub(1, square(y))),
    false,
    true,
  );
}

/** 1/(1+e^-x) */
export function sigmoid(x: Tensor): Tensor {
  return unaryOp(
    "sigmoid",
    UnaryOp.SIGMOID,
    x,
    0,
    0,
    (g, _x, y) => mul(g, mul(y, sub(1, y))),
    false,
    true,
  );
}

/** min(max(x, lo), hi); the gradient passes where lo <= x <= hi. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new Error(`clamp: lower bound ${lo} exceeds upper bound ${hi}`);
  return unaryOp(
    "clamp",
    UnaryOp.CLAMP,
    x,
    lo,
    hi,
    (g, xs) => mul(g, unaryRaw(UnaryOp.CLAMP_MASK, xs, lo, hi, "clamp_mask")),
  );
}

/** a*x + b for numbers a, b. */
export function affine(x: Tensor, a: number, b: number): Tensor {
  checkFinite("affine", "scale", a);
  checkFinite("affine", "shift", b);
  return unaryOp("affine", UnaryOp.AFFINE, x, a, b, (g) => mul(g, a), false);
}

function binaryOp(
  name: string,
  op: number,
  a: Tensor,
  b: Tensor,
  backward:
    | ((gy: Tensor, a: Tensor, b: Tensor, needs: readonly boolean[]) => (Tensor | null)[])
    | null,
): Tensor {
  checkInputs(name, [a, b]);
  const y = binaryRaw(op, a, b, name);
  if (!backward) return y;
  const aShape = a.shape.slice(), bShape = b.shape.slice();
  return record(y, name, [a, b], [a, b], (gy, needs, [as, bs]) => {
    const [ga, gb] = backward(gy, as, bs, needs);
    return [
      needs[0] && ga ? sumToShape(ga, aShape) : null,
      needs[1] && gb ? sumToShape(gb, bShape) : null,
    ];
  });
}

/** a + b */
export function add(a: Operand, b: Operand): Tensor {
  if (typeof a === "number") return add(b, a);
  if (typeof b === "number") return affine(a, 1, b);
  return binaryOp("add", BinaryOp.ADD, a, b, (g) => [g, g]);
}

/** a - b */
export function sub(a: Operand, b: Operand): Tensor {
  if (typeof a === "number") {
    if (typeof b === "number") throw new Error("sub: needs a tensor operand");
    return affine(b, -1, a);
  }
  if (typeof b === "number") return affine(a, 1, -b);
  return binaryOp("sub", BinaryOp.SUB, a, b, (g, _a, _b, n) => [g, n[1] ? neg(g) : null]);
}

/** a * b */
export function mul(a: Operand, b: Operand): Tensor {
  if (typeof a === "number") return mul(b, a);
  if (typeof b === "number") return affine(a, b, 0);
  return binaryOp("mul", BinaryOp.MUL, a, b, (g, as, bs, n) => [
    n[0] ? mul(g, bs) : null,
    n[1] ? mul(g, as) : null,
  ]);
}

/** a / b (true division, also with a number on either side). */
export function div(a: Operand, b: Operand): Tensor {
  if (typeof a === "number" && typeof b === "number") {
    throw new Error("div: needs a tensor operand");
  }
  if (typeof a === "number" || typeof b === "number") {
    const t = (typeof a === "number" ? b : a) as Tensor;
    checkInputs("div", [t]);
    const s = scalarTensor(t, (typeof a === "number" ? a : b) as number);
    try {
      return typeof a === "number" ? div(s, t) : div(t, s);
    } finally {
      s.dispose();
    }
  }
  return binaryOp("div", BinaryOp.DIV, a, b, (g, as, bs, n) => [
    n[0] ? div(g, bs) : null,
    n[1] ? neg(div(mul(g, as), square(bs))) : null,
  ]);
}

/** a^b elementwise for tensors. */
export function powTensor(a: Tensor, b: Tensor): Tensor {
  return binaryOp("pow", BinaryOp.POW, a, b, (g, as, bs, n) => [
    n[0] ? mul(g, mul(bs, binaryRaw(BinaryOp.POW, as, sub(bs, 1)))) : null,
    n[1] ? mul(g, mul(binaryRaw(BinaryOp.POW, as, bs), log(as))) : null,
  ]);
}

function extremumBackward(op: number) {
  return (g: Tensor, as: Tensor, bs: Tensor, n: readonly boolean[]) => {
    // Ties share the gradient equally, like torch.maximum / torch.minimum.
    const wins = binaryRaw(op, as, bs);
    const ties = binaryRaw(BinaryOp.EQ, as, bs);
    const wa = add(wins, mul(ties, 0.5));
    return [n[0] ? mul(g, wa) : null, n[1] ? mul(g, sub(1, wa)) : null];
  };
}

/** Elementwise maximum (ties share the gradient). */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return binaryOp("maximum", BinaryOp.MAX, a, b, extremumBackward(BinaryOp.GT));
}

/** Elementwise minimum (ties share the gradient). */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return binaryOp("minimum", BinaryOp.MIN, a, b, extremumBackward(BinaryOp.LT));
}

function compare(name: string, op: number, a: Operand, b: Operand): Tensor {
  if (typeof a === "number" && typeof b === "number") throw new Error(`${name}: needs a tensor`);
  const ta = typeof a === "number" ? scalarTensor(b as Tensor, a) : a;
  const tb = typeof b === "number" ? scalarTensor(ta, b) : b;
  try {
    checkInputs(name, [ta, tb]);
    return binaryRaw(op, ta, tb, name);
  } finally {
    if (ta !== a) ta.dispose();
    if (tb !== b) tb.dispose();
  }
}

/** 1 where a == b else 0 (f32, no gradient). */
export const eq = (a: Operand, b: Operand): Tensor => compare("eq", BinaryOp.EQ, a, b);
/** 1 where a != b else 0. */
export const ne = (a: Operand, b: Operand): Tensor => compare("ne", BinaryOp.NE, a, b);
/** 1 where a < b else 0. */
export const lt = (a: Operand, b: Operand): Tensor => compare("lt", BinaryOp.LT, a, b);
/** 1 where a <= b else 0. */
export const le = (a: Operand, b: Operand): Tensor => compare("le", BinaryOp.LE, a, b);
/** 1 where a > b else 0. */
export const gt = (a: Operand, b: Operand): Tensor => compare("gt", BinaryOp.GT, a, b);
/** 1 where a >= b else 0. */
export const ge = (a: Operand, b: Operand): Tensor => compare("ge", BinaryOp.GE, a, b);

/** cond != 0 ? a : b, broadcasting all three; gradients flow to a and b. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  checkInputs("where", [cond, a, b]);
  const y = whereRaw(cond, a, b, "where");
  const aShape = a.shape.slice(), bShape = b.shape.slice();
  return record(y, "where", [null, a, b], [cond], (gy, needs, [c]) => {
    const zero = scalarTensor(gy, 0);
    return [
      null,
      needs[1] ? sumToShape(where(c, gy, zero), aShape) : null,
      needs[2] ? sumToShape(where(c, zero, gy), bShape) : null,
    ];
  });
}
