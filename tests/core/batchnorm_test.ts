import * as T from "@topiary/core";
import { tensor } from "@topiary/core";
import { gradCheck } from "../_gradcheck.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";
import * as ref from "../_reference.ts";

const shape = [3, 5, 4, 3];
const C = 5;

for (const affine of [true, false]) {
  opTest(
    `batchNorm2d training (${affine ? "affine" : "non-affine"}): values, running stats, gradients`,
    () => {
      const gamma = randomData(C, "bn-gamma", 0.5, 1.5), beta = randomData(C, "bn-beta");
      const rm = T.zeros([C]), rv = T.ones([C]);
      gradCheck({
        name: `bn train ${affine}`,
        inputs: [
          { data: randomData(ref.sizeOf(shape), "bn-x", -2, 2), shape },
          ...(affine ? [{ data: gamma, shape: [C] }, { data: beta, shape: [C] }] : []),
        ],
        wrt: affine ? [0, 1, 2] : [0],
        native: ([x, w, b]) =>
          T.batchNorm2d(x, {
            weight: w ?? null,
            bias: b ?? null,
            training: true,
            runningMean: rm,
            runningVar: rv,
            momentum: 0.1,
          }),
        reference: ([x, w, b]) => ref.batchNorm(x, shape, w ?? null, b ?? null, 1e-5, null).y,
        h: 1e-3,
        atol: 2e-3,
        rtol: 2e-3,
        fwdAtol: 1e-4,
      });
      // The forward above ran once more inside the finite differences? No: only once natively.
      const x64 = Float64Array.from(
        Float32Array.from(randomData(ref.sizeOf(shape), "bn-x", -2, 2)),
      );
      const st = ref.batchNorm(x64, shape, null, null, 1e-5, null);
      const n = shape[0] * shape[2] * shape[3];
      assertClose(values(rm), Array.from(st.mean, (m) => 0.1 * m), 1e-6, 1e-5, "running mean");
      assertClose(
        values(rv),
        Array.from(st.var, (v) => 0.9 + 0.1 * v * n / (n - 1)),
        1e-6,
        1e-5,
        "running var (unbiased)",
      );
    },
  );
}

opTest("batchNorm2d inference uses running statistics and has an input gradient", () => {
  const rmD = randomData(C, "bn-rm"), rvD = randomData(C, "bn-rv", 0.5, 2);
  const rm = tensor(Float32Array.from(rmD), [C]), rv = tensor(Float32Array.from(rvD), [C]);
  const gamma = randomData(C, "bn-g2", 0.5, 1.5), beta = randomData(C, "bn-b2");
  gradCheck({
    name: "bn eval",
    inputs: [{ data: randomData(ref.sizeOf(shape), "bn-x2"), shape }, { data: gamma, shape: [C] }, {
      data: beta,
      shape: [C],
    }],
    wrt: [0, 1, 2],
    native: ([x, w, b]) =>
      T.batchNorm2d(x, { weight: w, bias: b, runningMean: rm, runningVar: rv, training: false }),
    reference: ([x, w, b]) =>
      ref.batchNorm(x, shape, w, b, 1e-5, {
        mean: Float64Array.from(Float32Array.from(rmD)),
        var: Float64Array.from(Float32Array.from(rvD)),
      }).y,
    h: 1e-3,
    atol: 2e-3,
  });
  assertClose(values(rm), Float32Array.from(rmD), 0, 0, "running mean untouched in inference");
});

opTest("batchNorm2d rejects bad arguments", () => {
  const x = T.zeros([2, 3, 4, 4]);
  assertThrowsMsg(
    () => T.batchNorm2d(x, { training: false }),
    /inference mode needs running statistics/,
  );
  assertThrowsMsg(
    () => T.batchNorm2d(x, { training: true, weight: T.ones([4]), bias: T.zeros([4]) }),
    /weight must be a dense \[3\] tensor, got \[4\] f32/,
  );
  assertThrowsMsg(
    () => T.batchNorm2d(x, { training: true, weight: T.ones([3]) }),
    /give both weight and bias/,
  );
  assertThrowsMsg(
    () => T.batchNorm2d(T.zeros([1, 3, 1, 1]), { training: true }),
    /more than one value per channel/,
  );
  assertThrowsMsg(() => T.batchNorm2d(x, { training: true, eps: 0 }), /eps must be > 0/);
});
