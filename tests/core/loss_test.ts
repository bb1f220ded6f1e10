import * as T from "@topiary/core";
import { type Reduction, tensor } from "@topiary/core";
import { gradCheck } from "../_gradcheck.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";
import * as ref from "../_reference.ts";

const N = 6, C = 5;
const LABELS = [0, 4, 2, 2, 1, 3];

function reduce(losses: Float64Array, reduction: Reduction): Float64Array {
  if (reduction === "none") return losses;
  const s = losses.reduce((a, v) => a + v, 0);
  return Float64Array.from([reduction === "mean" ? s / losses.length : s]);
}

for (const reduction of ["mean", "sum", "none"] as const) {
  opTest(`softmaxCrossEntropy (${reduction}): values and gradient w.r.t. logits`, () => {
    const labels = tensor(Int32Array.from(LABELS), [N], { dtype: "i32" });
    const data = randomData(N * C, `xent-${reduction}`, -3, 3);
    gradCheck({
      name: `softmaxCrossEntropy ${reduction}`,
      inputs: [{ data, shape: [N, C] }],
      wrt: [0],
      native: ([x]) => {
        const y = T.softmaxCrossEntropy(x, labels, reduction);
        const want = reduction === "none" ? [N] : [];
        if (y.shape.join() !== want.join()) {
          throw new Error(`${reduction}: shape [${y.shape}], expected [${want}]`);
        }
        return y;
      },
      reference: ([x]) => reduce(ref.softmaxXent(x, LABELS, N, C), reduction),
      h: 1e-3,
    });
  });
}

opTest("softmaxCrossEntropy defaults to the mean; values match the reference to 1e-6", () => {
  const data = randomData(N * C, "xent-default", -4, 4);
  const x = tensor(Float32Array.from(data), [N, C]);
  const labels = tensor(Int32Array.from(LABELS), [N], { dtype: "i32" });
  const want = ref.softmaxXent(Float64Array.from(Float32Array.from(data)), LABELS, N, C);
  assertClose(values(T.softmaxCrossEntropy(x, labels)), reduce(want, "mean"), 1e-7, 1e-6);
  assertClose(values(T.softmaxCrossEntropy(x, labels, "none")), want, 1e-7, 1e-6);
});

opTest("softmaxCrossEntropy on strided logits and labels (transpose, slice)", () => {
  const data = randomData(C * N, "xent-strided", -2, 2);
  const xt = tensor(Float32Array.from(data), [C, N], { requiresGrad: true });
  const logits = T.transpose(xt); // [N, C], strided
  const all = tensor(Int32Array.from([9, 0, 9, 4, 9, 2, 9, 2, 9, 1, 9, 3]), [12], {
    dtype: "i32",
  });
  const labels = T.slice(all, 0, 1, 12, 2); // [0, 4, 2, 2, 1, 3]
  const host = Float32Array.from(data);
  const dense = new Float64Array(N * C);
  for (let i = 0; i < N; i++) for (let j = 0; j < C; j++) dense[i * C + j] = host[j * N + i];
  assertClose(
    values(T.softmaxCrossEntropy(logits, labels, "none")),
    ref.softmaxXent(dense, LABELS, N, C),
    1e-6,
    1e-6,
  );
  // The gradient reaches the [C, N] leaf through the transpose: (softmax - onehot) / N.
  const [g] = T.grad(T.softmaxCrossEntropy(logits, labels), [xt]);
  const p = ref.logSoftmax(dense, N, C).map(Math.exp);
  const want = new Float64Array(C * N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < C; j++) want[j * N + i] = (p[i * C + j] - (LABELS[i] === j ? 1 : 0)) / N;
  }
  assertClose(values(g), want, 1e-7, 1e-5, "gradient through the transpose");
});

opTest("softmaxCrossEntropy is stable for huge logits (finite loss and gradient)", () => {
  const x = tensor([1000, -1000, 0, -1000, 1000, 1000, 88, 89, 90], [3, 3], {
    requiresGrad: true,
  });
  const labels = tensor([0, 0, 2], [3], { dtype: "i32" });
  const losses = values(T.softmaxCrossEntropy(x, labels, "none"));
  if (!losses.every(Number.isFinite)) throw new Error(`non-finite losses ${losses}`);
  // Row 0: log(1 + e^-1000 + e^-2000) = 0. Row 1: 2000 + log 2. Row 2: the usual formula.
  const want = ref.softmaxXent([1000, -1000, 0, -1000, 1000, 1000, 88, 89, 90], [0, 0, 2], 3, 3);
  assertClose(losses, want, 1e-4, 1e-6, "huge-logit losses");
  assertClose([losses[1]], [2000 + Math.LN2], 1e-4, 0, "row 1");
  const [g] = T.grad(T.softmaxCrossEntropy(x, labels, "sum"), [x]);
  const gv = values(g);
  if (!gv.every(Number.isFinite)) throw new Error(`non-finite gradient ${gv}`);
  const ls = ref.logSoftmax([1000, -1000, 0, -1000, 1000, 1000, 88, 89, 90], 3, 3);
  const wantG = ls.map((v, k) => Math.exp(v) - ([0, 3, 8].includes(k) ? 1 : 0));
  assertClose(gv, wantG, 1e-6, 1e-5, "huge-logit gradient");
  const lsm = values(T.logSoftmax(tensor([1000, -1000, 0], [1, 3])));
  assertClose(lsm, [0, -2000, -1000], 1e-4, 0, "logSoftmax of huge logits");
});

opTest("softmaxCrossEntropy: a label outside [0, C) names the index and the bad value", () => {
  const x = T.zeros([3, 4]);
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(x, tensor([0, 7, 1], [3], { dtype: "i32" })),
    /softmaxCrossEntropy: .*labels\[1\] = 7 is outside \[0, 4\)/,
  );
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(x, tensor([0, 1, -1], [3], { dtype: "i32" }), "none"),
    /labels\[2\] = -1 is outside \[0, 4\)/,
  );
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(x, tensor([4, 0, 0], [3], { dtype: "i32" })),
    /labels\[0\] = 4 is outside \[0, 4\)/,
  );
});

opTest("softmaxCrossEntropy: wrong label dtype names the labels", () => {
  const x = T.zeros([3, 4]);
  // The labels are the second argument of softmaxCrossEntropy: the message must not blame
  // "argument 0" (the logits) and should say which tensor is wrong.
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(x, tensor([0, 1, 2])),
    /softmaxCrossEntropy: .*labels.*\[3\] f32|softmaxCrossEntropy: .*argument 1 is \[3\] f32/,
  );
});

opTest("softmaxCrossEntropy: other bad arguments give clear errors", () => {
  const x = T.zeros([3, 4]);
  const labels = tensor([0, 1, 2], [3], { dtype: "i32" });
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(tensor([0, 1, 2], [3], { dtype: "i32" }), labels),
    /softmaxCrossEntropy: expected f32 tensors, argument 0 is \[3\] i32/,
  );
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(x, tensor([0, 1], [2], { dtype: "i32" })),
    /softmaxCrossEntropy: labels \[2\] i32 do not match logits \[3, 4\] f32/,
  );
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(x, tensor([0, 1, 2, 0, 1, 2], [3, 2], { dtype: "i32" })),
    /softmaxCrossEntropy: labels \[3, 2\] i32 do not match logits \[3, 4\] f32/,
  );
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(T.zeros([3, 4, 1]), labels),
    /softmaxCrossEntropy: logits must be \[N, C\], got \[3, 4, 1\] f32/,
  );
  assertThrowsMsg(
    () => T.softmaxCrossEntropy(x, labels, "avg" as Reduction),
    /reduction must be mean, sum or none, got "avg"/,
  );
  assertThrowsMsg(() => T.logSoftmax(T.zeros([4])), /logSoftmax: expected \[N, C\], got \[4\] f32/);
});

opTest("logSoftmax and softmax: values and gradients", () => {
  const n = 4, c = 7;
  const data = randomData(n * c, "lsm", -3, 3);
  gradCheck({
    name: "logSoftmax",
    inputs: [{ data, shape: [n, c] }],
    wrt: [0],
    native: ([x]) => T.logSoftmax(x),
    reference: ([x]) => ref.logSoftmax(x, n, c),
    h: 1e-3,
  });
  gradCheck({
    name: "softmax",
    inputs: [{ data, shape: [n, c] }],
    wrt: [0],
    native: ([x]) => T.softmax(x),
    reference: ([x]) => ref.logSoftmax(x, n, c).map(Math.exp),
    h: 1e-3,
  });
  // Rows of softmax sum to 1; on a transposed input too.
  const xt = T.transpose(tensor(Float32Array.from(data), [c, n]));
  const p = values(T.softmax(xt));
  for (let i = 0; i < n; i++) {
    const s = p.slice(i * c, (i + 1) * c).reduce((a, v) => a + v, 0);
    assertClose([s], [1], 1e-6, 0, `softmax row ${i} sum`);
  }
  const host = Float32Array.from(data);
  const dense = new Float64Array(n * c);
  for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) dense[i * c + j] = host[j * n + i];
  assertClose(p, ref.logSoftmax(dense, n, c).map(Math.exp), 1e-7, 1e-6, "softmax of x^T");
});
