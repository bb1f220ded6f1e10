import * as T from "@topiary/core";
import { gradCheck } from "../_gradcheck.ts";
import { assertThrowsMsg, opTest, randomData } from "../_harness.ts";
import * as ref from "../_reference.ts";

const geoms: [string, ref.PoolGeom][] = [
  ["max 2x2", { N: 2, C: 3, H: 6, W: 8, kernel: [2, 2], stride: [2, 2], pad: [0, 0], kind: "max" }],
  ["max 3x3 stride 2 pad 1 odd", {
    N: 2,
    C: 5,
    H: 7,
    W: 9,
    kernel: [3, 3],
    stride: [2, 2],
    pad: [1, 1],
    kind: "max",
  }],
  ["avg include pad", {
    N: 2,
    C: 3,
    H: 7,
    W: 5,
    kernel: [3, 2],
    stride: [2, 1],
    pad: [1, 1],
    kind: "avgInclude",
  }],
  ["avg exclude pad", {
    N: 2,
    C: 3,
    H: 7,
    W: 5,
    kernel: [3, 3],
    stride: [2, 2],
    pad: [1, 1],
    kind: "avgExclude",
  }],
];

for (const [name, g] of geoms) {
  opTest(`pool2d ${name}: values and gradient`, () => {
    const shape = [g.N, g.C, g.H, g.W];
    // Distinct values keep the maximum away from ties (finite differences stay valid).
    const data = randomData(ref.sizeOf(shape), `pool-${name}`, -2, 2);
    const opts = { kernel: g.kernel, stride: g.stride, padding: g.pad };
    gradCheck({
      name: `pool ${name}`,
      inputs: [{ data, shape }],
      wrt: [0],
      native: ([x]) =>
        g.kind === "max"
          ? T.maxPool2d(x, opts)
          : T.avgPool2d(x, { ...opts, countIncludePad: g.kind === "avgInclude" }),
      reference: ([x]) => ref.pool2d(x, g),
      h: 1e-3,
    });
  });
}

opTest("pooling on the blocked output of a convolution", () => {
  const xs = [2, 3, 6, 6];
  const wd = randomData(20 * 3 * 3 * 3, "pb-w", -0.5, 0.5);
  gradCheck({
    name: "conv + avg pool",
    inputs: [{ data: randomData(ref.sizeOf(xs), "pb-x"), shape: xs }],
    wrt: [0],
    native: ([x]) =>
      T.avgPool2d(
        T.conv2d(x, T.tensor(Float32Array.from(wd), [20, 3, 3, 3]), null, { padding: 1 }),
        { kernel: 2 },
      ),
    reference: ([x]) =>
      ref.pool2d(
        ref.conv2d(x, Float64Array.from(Float32Array.from(wd)), null, {
          N: 2,
          C: 3,
          H: 6,
          W: 6,
          K: 20,
          R: 3,
          S: 3,
          stride: [1, 1],
          pad: [1, 1, 1, 1],
          dil: [1, 1],
        }),
        {
          N: 2,
          C: 20,
          H: 6,
          W: 6,
          kernel: [2, 2],
          stride: [2, 2],
          pad: [0, 0],
          kind: "avgInclude",
        },
      ),
    h: 1e-3,
    atol: 2e-3,
    fwdAtol: 1e-4,
  });
});

opTest("global average pooling", () => {
  gradCheck({
    name: "globalAvgPool2d",
    inputs: [{ data: randomData(2 * 3 * 4 * 5, "gap"), shape: [2, 3, 4, 5] }],
    wrt: [0],
    native: ([x]) => T.globalAvgPool2d(x),
    reference: ([x]) => ref.reduceAxes(x, [2, 3, 4, 5], [2, 3]).data.map((v) => v / 20),
  });
});

opTest("pooling rejects bad options", () => {
  const x = T.zeros([1, 2, 4, 4]);
  assertThrowsMsg(() => T.maxPool2d(x, { kernel: 0 }), /maxPool2d: kernel must be an integer >= 1/);
  assertThrowsMsg(
    () => T.maxPool2d(x, { kernel: 2, padding: 2 }),
    /padding 2x2 must be at most half the kernel/,
  );
  assertThrowsMsg(
    () => T.maxPool2d(T.zeros([2, 4]), { kernel: 2 }),
    /expected input \[N, C, H, W\]/,
  );
});
