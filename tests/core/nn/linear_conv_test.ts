import * as T from "@topiary/core";
import { Conv2d, Linear } from "../../../core/nn/mod.ts";
import { assertThrowsMsg, opTest, randomData } from "../../_harness.ts";
import * as ref from "../../_reference.ts";
import { moduleGradCheck } from "./_module_check.ts";

function linearRef(x: Float64Array, w: Float64Array, b: Float64Array | null, n: number) {
  const out = w.length / (x.length / n), inF = x.length / n;
  const y = new Float64Array(n * out);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let k = 0; k < inF; k++) s += x[i * inF + k] * w[o * inF + k];
      y[i * out + o] = s;
    }
  }
  return y;
}

for (const bias of [true, false]) {
  opTest(
    `Linear (${bias ? "bias" : "no bias"}): values and gradients of input, weight, bias`,
    () => {
      const m = new Linear(7, 5, { bias, seed: 3 });
      try {
        moduleGradCheck({
          name: `linear ${bias}`,
          module: m,
          input: { data: randomData(4 * 7, "lin-x"), shape: [4, 7] },
          wrt: bias ? ["weight", "bias"] : ["weight"],
          reference: (x, p) => linearRef(x, p.weight, bias ? p.bias : null, 4),
        });
      } finally {
        m.dispose();
      }
    },
  );
}

opTest("Linear names its parameters like PyTorch and rejects wrong input shapes", () => {
  const m = new Linear(6, 3);
  try {
    const sd = m.stateDict();
    if ([...sd.keys()].join() !== "weight,bias") throw new Error(`names ${[...sd.keys()]}`);
    if (sd.get("weight")!.shape.join() !== "3,6") throw new Error("weight shape");
    assertThrowsMsg(
      () => m.forward(T.zeros([2, 5])),
      /Linear\(6, 3\) expects input \[N, 6\], got \[2, 5\]/,
    );
    if (m.parameterCount() !== 21) throw new Error(`count ${m.parameterCount()}`);
  } finally {
    m.dispose();
  }
});

const convCases = [
  { name: "3x3 padding 1", C: 3, K: 4, k: 3, stride: 1, pad: 1, bias: true, H: 6 },
  {
    name: "4x4 stride 2 padding 1 (SmallCNN)",
    C: 2,
    K: 3,
    k: 4,
    stride: 2,
    pad: 1,
    bias: true,
    H: 8,
  },
  {
    name: "1x1 stride 2 no bias (shortcut)",
    C: 5,
    K: 6,
    k: 1,
    stride: 2,
    pad: 0,
    bias: false,
    H: 5,
  },
];

for (const c of convCases) {
  opTest(`Conv2d ${c.name}: values and gradients of input, weight, bias`, () => {
    const m = new Conv2d(c.C, c.K, c.k, {
      stride: c.stride,
      padding: c.pad,
      bias: c.bias,
      seed: 1,
    });
    const g: ref.ConvGeom = {
      N: 2,
      C: c.C,
      H: c.H,
      W: c.H,
      K: c.K,
      R: c.k,
      S: c.k,
      stride: [c.stride, c.stride],
      pad: [c.pad, c.pad, c.pad, c.pad],
      dil: [1, 1],
    };
    try {
      moduleGradCheck({
        name: `conv ${c.name}`,
        module: m,
        input: {
          data: randomData(2 * c.C * c.H * c.H, `conv-x-${c.name}`),
          shape: [2, c.C, c.H, c.H],
        },
        wrt: c.bias ? ["weight", "bias"] : ["weight"],
        reference: (x, p) => ref.conv2d(x, p.weight, c.bias ? p.bias : null, g),
        fwdAtol: 1e-4,
      });
    } finally {
      m.dispose();
    }
  });
}

opTest("Conv2d names, shapes and errors", () => {
  const m = new Conv2d(3, 8, [3, 5], { padding: [1, 2], bias: false });
  try {
    const sd = m.stateDict();
    if ([...sd.keys()].join() !== "weight") throw new Error(`names ${[...sd.keys()]}`);
    if (sd.get("weight")!.shape.join() !== "8,3,3,5") throw new Error("weight shape");
    if (m.bias !== null) throw new Error("bias must be null");
    assertThrowsMsg(() => m.forward(T.zeros([2, 1, 8, 8])), /conv2d: input \[2, 1, 8, 8\]/);
    assertThrowsMsg(() => new Conv2d(3, 8, 0), /kernelSize must be an integer >= 1/);
  } finally {
    m.dispose();
  }
});
