import * as T from "@topiary/core";
import { gradCheck } from "../_gradcheck.ts";
import { assertThrowsMsg, opTest, randomData } from "../_harness.ts";
import * as ref from "../_reference.ts";

opTest("matmul: values and gradients, including transposed views", () => {
  const [m, k, n] = [5, 7, 3];
  const a = randomData(m * k, "mm-a"), b = randomData(k * n, "mm-b");
  gradCheck({
    name: "matmul",
    inputs: [{ data: a, shape: [m, k] }, { data: b, shape: [k, n] }],
    wrt: [0, 1],
    native: ([x, y]) => T.matmul(x, y),
    reference: ([x, y]) => ref.matmul(x, y, m, k, n),
  });
  // A^T B with A stored [k, m]: the transpose is a view passed to gemm as a flag.
  const at = randomData(k * m, "mm-at");
  gradCheck({
    name: "matmul transposed",
    inputs: [{ data: at, shape: [k, m] }, { data: b, shape: [k, n] }],
    wrt: [0, 1],
    native: ([x, y]) => T.matmul(T.transpose(x), y),
    reference: ([x, y]) => {
      const xt = new Float64Array(m * k);
      for (let i = 0; i < k; i++) for (let j = 0; j < m; j++) xt[j * k + i] = x[i * m + j];
      return ref.matmul(xt, y, m, k, n);
    },
  });
});

opTest("linear: values and gradients of input, weight and bias", () => {
  const [N, I, O] = [4, 6, 3];
  gradCheck({
    name: "linear",
    inputs: [
      { data: randomData(N * I, "lin-x"), shape: [N, I] },
      { data: randomData(O * I, "lin-w"), shape: [O, I] },
      { data: randomData(O, "lin-b"), shape: [O] },
    ],
    wrt: [0, 1, 2],
    native: ([x, w, b]) => T.linear(x, w, b),
    reference: ([x, w, b]) => {
      const wt = new Float64Array(I * O);
      for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) wt[i * O + o] = w[o * I + i];
      const y = ref.matmul(x, wt, N, I, O);
      return y.map((v, j) => v + b[j % O]);
    },
  });
});

opTest("matmul and linear reject mismatched shapes", () => {
  assertThrowsMsg(
    () => T.matmul(T.zeros([2, 3]), T.zeros([4, 2])),
    /matmul: cannot multiply \[2, 3\] by \[4, 2\]/,
  );
  assertThrowsMsg(
    () => T.linear(T.zeros([2, 3]), T.zeros([4, 5])),
    /linear: input \[2, 3\] does not match weight \[4, 5\] \(expected \[N, 5\]\)/,
  );
  assertThrowsMsg(
    () => T.linear(T.zeros([2, 5]), T.zeros([4, 5]), T.zeros([3])),
    /bias \[3\] does not match weight/,
  );
});
