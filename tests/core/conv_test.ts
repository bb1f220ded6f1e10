import * as T from "@topiary/core";
import { type Conv2dOptions, tensor } from "@topiary/core";
import { gradCheck } from "../_gradcheck.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";
import * as ref from "../_reference.ts";

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  k: number;
  r: number;
  s: number;
  stride: [number, number];
  pad: [number, number, number, number];
  dil: [number, number];
  bias: boolean;
}

const cases: ConvCase[] = [
  {
    name: "odd sizes, stride 2, asymmetric padding, dilation 2",
    x: [2, 5, 7, 9],
    k: 6,
    r: 3,
    s: 3,
    stride: [2, 2],
    pad: [1, 2, 0, 1],
    dil: [2, 2],
    bias: true,
  },
  {
    name: "one input channel (first layer)",
    x: [3, 1, 8, 8],
    k: 4,
    r: 5,
    s: 5,
    stride: [1, 1],
    pad: [2, 2, 2, 2],
    dil: [1, 1],
    bias: true,
  },
  {
    name: "channels not multiples of 16, 1x1",
    x: [2, 17, 5, 4],
    k: 19,
    r: 1,
    s: 1,
    stride: [1, 1],
    pad: [0, 0, 0, 0],
    dil: [1, 1],
    bias: false,
  },
  {
    name: "rectangular kernel, stride 3x2",
    x: [2, 3, 10, 7],
    k: 5,
    r: 2,
    s: 3,
    stride: [3, 2],
    pad: [1, 0, 1, 0],
    dil: [1, 1],
    bias: true,
  },
];

for (const c of cases) {
  opTest(`conv2d ${c.name}: values and gradients of input, weight and bias`, () => {
    const g: ref.ConvGeom = {
      N: c.x[0],
      C: c.x[1],
      H: c.x[2],
      W: c.x[3],
      K: c.k,
      R: c.r,
      S: c.s,
      stride: c.stride,
      pad: c.pad,
      dil: c.dil,
    };
    const opts: Conv2dOptions = { stride: c.stride, padding: c.pad, dilation: c.dil };
    const wShape = [c.k, c.x[1], c.r, c.s];
    const inputs = [
      { data: randomData(ref.sizeOf(c.x), `conv-x-${c.name}`), shape: [...c.x] },
      { data: randomData(ref.sizeOf(wShape), `conv-w-${c.name}`, -0.5, 0.5), shape: wShape },
      ...(c.bias ? [{ data: randomData(c.k, `conv-b-${c.name}`), shape: [c.k] }] : []),
    ];
    gradCheck({
      name: `conv2d ${c.name}`,
      inputs,
      wrt: c.bias ? [0, 1, 2] : [0, 1],
      native: ([x, w, b]) => T.conv2d(x, w, b ?? null, opts),
      reference: ([x, w, b]) => ref.conv2d(x, w, b ?? null, g),
      h: 1e-3,
      atol: 2e-3,
      rtol: 2e-3,
      fwdAtol: 1e-4,
    });
  });
}

opTest(
  "conv -> batch norm -> relu -> max-pool stays in the backend's layout and matches the reference",
  (b) => {
    const shape = [4, 3, 12, 12];
    const xd = randomData(ref.sizeOf(shape), "chain-x");
    const wd = randomData(16 * 3 * 3 * 3, "chain-w", -0.5, 0.5);
    const x = tensor(Float32Array.from(xd), shape);
    const w = tensor(Float32Array.from(wd), [16, 3, 3, 3]);
    const c = T.conv2d(x, w, null, { padding: 1 });
    const bn = T.batchNorm2d(c, { training: true });
    const r = T.relu(bn);
    const p = T.maxPool2d(r, { kernel: 2 });
    // oneDNN (CPU) keeps its blocked formats along the chain; CUDA has plain NCHW only.
    const fmts = [c.fmt, bn.fmt, r.fmt, p.fmt];
    const blocked = b.name === "cpu";
    if (fmts.some((f) => (f !== 0) !== blocked)) {
      throw new Error(
        `expected ${blocked ? "native" : "plain"} formats along the chain, got ${fmts}`,
      );
    }
    const g: ref.ConvGeom = {
      N: 4,
      C: 3,
      H: 12,
      W: 12,
      K: 16,
      R: 3,
      S: 3,
      stride: [1, 1],
      pad: [1, 1, 1, 1],
      dil: [1, 1],
    };
    const cr = ref.conv2d(
      Float64Array.from(Float32Array.from(xd)),
      Float64Array.from(Float32Array.from(wd)),
      null,
      g,
    );
    const bnr = ref.batchNorm(cr, [4, 16, 12, 12], null, null, 1e-5, null).y.map((v) =>
      Math.max(v, 0)
    );
    const pr = ref.pool2d(bnr, {
      N: 4,
      C: 16,
      H: 12,
      W: 12,
      kernel: [2, 2],
      stride: [2, 2],
      pad: [0, 0],
      kind: "max",
    });
    assertClose(values(p), pr, 1e-4, 1e-4, "chain output");
    // Flattening leaves the native format for a plain layout.
    const f = T.flatten(p);
    if (f.fmt !== 0) throw new Error("flatten must give a plain tensor");
    assertClose(values(f), pr, 1e-4, 1e-4, "flattened");
  },
);

opTest("conv2d rejects mismatched shapes and bad options with clear errors", () => {
  const x = T.zeros([2, 3, 8, 8]), w = T.zeros([4, 2, 3, 3]);
  assertThrowsMsg(
    () => T.conv2d(x, w),
    /conv2d: input \[2, 3, 8, 8\] f32 does not match weight \[4, 2, 3, 3\] f32/,
  );
  const w3 = T.zeros([4, 3, 3, 3]);
  assertThrowsMsg(() => T.conv2d(x, w3, T.zeros([5])), /bias \[5\] does not match 4 filters/);
  assertThrowsMsg(() => T.conv2d(x, w3, null, { stride: 0 }), /stride must be an integer >= 1/);
  assertThrowsMsg(
    () => T.conv2d(T.zeros([1, 3, 2, 2]), T.zeros([4, 3, 5, 5])),
    /conv2d: .*(output|P|size)/i,
  );
  assertThrowsMsg(() => T.conv2d(T.zeros([2, 3, 8]), w3), /expected input \[N, 3, H, W\]/);
});
