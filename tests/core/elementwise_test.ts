import * as T from "@topiary/core";
import { type Tensor, tensor } from "@topiary/core";
import { gradCheck } from "../_gradcheck.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";
import { broadcast2 } from "../_reference.ts";

const unaryCases: [string, (x: Tensor) => Tensor, (v: number) => number, [number, number]][] = [
  ["neg", T.neg, (v) => -v, [-2, 2]],
  ["relu", T.relu, (v) => Math.max(v, 0), [-2, 2]],
  ["abs", T.abs, Math.abs, [-2, 2]],
  ["exp", T.exp, Math.exp, [-2, 2]],
  ["log", T.log, Math.log, [0.1, 3]],
  ["sqrt", T.sqrt, Math.sqrt, [0.1, 3]],
  ["pow 3", (x) => T.pow(x, 3), (v) => v ** 3, [-2, 2]],
  ["pow 0.5", (x) => T.pow(x, 0.5), Math.sqrt, [0.1, 3]],
  ["square", T.square, (v) => v * v, [-2, 2]],
  ["reciprocal", T.reciprocal, (v) => 1 / v, [0.5, 3]],
  ["rsqrt", T.rsqrt, (v) => 1 / Math.sqrt(v), [0.5, 3]],
  ["tanh", T.tanh, Math.tanh, [-2, 2]],
  ["sigmoid", T.sigmoid, (v) => 1 / (1 + Math.exp(-v)), [-3, 3]],
  ["clamp", (x) => T.clamp(x, -0.5, 0.7), (v) => Math.min(Math.max(v, -0.5), 0.7), [-2, 2]],
  ["affine", (x) => T.affine(x, -1.5, 0.25), (v) => -1.5 * v + 0.25, [-2, 2]],
];

for (const [name, op, ref, [lo, hi]] of unaryCases) {
  opTest(`unary ${name}: values and gradient`, () => {
    const shape = [3, 5, 7];
    const data = randomData(105, `unary-${name}`, lo, hi);
    gradCheck({
      name,
      inputs: [{ data, shape }],
      wrt: [0],
      native: ([x]) => op(x),
      reference: ([x]) => x.map(ref),
      // Finite differences across kinks (relu at 0, clamp at its bounds) are skipped.
      skip: (_i, k) => [0, -0.5, 0.7].some((kink) => Math.abs(data[k] - kink) < 1e-3),
      rtol: 2e-3,
    });
  });
}

opTest("unary on a strided (transposed, sliced) view", () => {
  const x = tensor(Float32Array.from(randomData(24, "strided")), [4, 6]);
  const v = T.slice(T.transpose(x), 0, 1, 5, 2); // [2, 4] with strides [2, 6]
  const y = T.exp(v);
  const host = values(x);
  const want: number[] = [];
  for (const i of [1, 3]) for (let j = 0; j < 4; j++) want.push(Math.exp(host[j * 6 + i]));
  assertClose(values(y), want, 1e-6, 1e-6);
});

opTest("sign gives -1, 0, +1", () => {
  const y = T.sign(tensor([-3, 0, 2, -0.0]));
  assertClose(values(y), [-1, 0, 1, 0], 0, 0);
});

const binaryCases: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] =
  [
    ["add", T.add, (x, y) => x + y],
    ["sub", T.sub, (x, y) => x - y],
    ["mul", T.mul, (x, y) => x * y],
    ["div", T.div, (x, y) => x / y],
    ["maximum", T.maximum, Math.max],
    ["minimum", T.minimum, Math.min],
    ["powTensor", T.powTensor, (x, y) => x ** y],
  ];

const broadcastShapes: [number[], number[]][] = [
  [[3, 4], [3, 4]],
  [[3, 1, 5], [1, 4, 1]],
  [[2, 3, 4], [4]],
  [[5], [2, 1]],
  [[], [3, 2]],
  [[1, 1, 3], [2, 7, 1]],
];

for (const [name, op, ref] of binaryCases) {
  opTest(`binary ${name}: broadcasting values and gradients`, () => {
    for (const [sa, sb] of broadcastShapes) {
      const na = sa.reduce((a, b) => a * b, 1), nb = sb.reduce((a, b) => a * b, 1);
      const positive = name === "div" || name === "powTensor";
      const a = randomData(na, `${name}-a-${sa}`, positive ? 0.5 : -2, 2);
      const b = randomData(nb, `${name}-b-${sb}`, positive ? 0.5 : -2, 2);
      gradCheck({
        name: `${name} ${JSON.stringify(sa)} x ${JSON.stringify(sb)}`,
        inputs: [{ data: a, shape: sa }, { data: b, shape: sb }],
        wrt: [0, 1],
        native: ([x, y]) => op(x, y),
        reference: ([x, y]) => broadcast2(x, sa, y, sb, ref).data,
        rtol: 2e-3,
        fwdRtol: 2e-4,
      });
    }
  });
}

opTest("scalar operands on either side", () => {
  const x = tensor([1, 2, 4]);
  assertClose(values(T.add(x, 1)), [2, 3, 5], 0, 0);
  assertClose(values(T.sub(10, x)), [9, 8, 6], 0, 0);
  assertClose(values(T.mul(3, x)), [3, 6, 12], 0, 0);
  assertClose(values(T.div(x, 4)), [0.25, 0.5, 1], 0, 0);
  assertClose(values(T.div(1, x)), [1, 0.5, 0.25], 0, 0);
});

opTest("comparisons and where", () => {
  const a = tensor([1, 2, 3, 4]), b = tensor([4, 2, 1, 4]);
  assertClose(values(T.eq(a, b)), [0, 1, 0, 1], 0, 0);
  assertClose(values(T.ne(a, b)), [1, 0, 1, 0], 0, 0);
  assertClose(values(T.lt(a, b)), [1, 0, 0, 0], 0, 0);
  assertClose(values(T.le(a, b)), [1, 1, 0, 1], 0, 0);
  assertClose(values(T.gt(a, 2)), [0, 0, 1, 1], 0, 0);
  assertClose(values(T.ge(a, b)), [0, 1, 1, 1], 0, 0);
  const cond = tensor([1, 0, 1, 0]);
  gradCheck({
    name: "where",
    inputs: [{ data: Float64Array.from([1, 2, 3, 4]), shape: [4] }, {
      data: Float64Array.from([5]),
      shape: [1],
    }],
    wrt: [0, 1],
    native: ([x, y]) => T.where(cond, x, y),
    reference: ([x, y]) => Float64Array.from([x[0], y[0], x[2], y[0]]),
  });
});

opTest("binary ops reject bad shapes, dtypes and disposed tensors", () => {
  const a = tensor(new Float32Array(6), [2, 3]), b = tensor(new Float32Array(8), [2, 4]);
  assertThrowsMsg(() => T.add(a, b), /add: shapes \[2, 3\] and \[2, 4\] do not broadcast/);
  const labels = tensor([1, 2, 3], [3], { dtype: "i32" });
  assertThrowsMsg(() => T.mul(a, labels), /mul: expected f32 tensors, argument 1 is \[3\] i32/);
  const c = tensor([1, 2, 3]);
  c.dispose();
  assertThrowsMsg(() => T.exp(c), /exp: tensor \[3\] f32 was already disposed/);
  assertThrowsMsg(() => T.clamp(a, 1, 0), /clamp: lower bound 1 exceeds upper bound 0/);
  assertThrowsMsg(() => T.pow(a, NaN), /pow: exponent must be a finite number/);
});
