import { BasicBlock, WideBasicBlock } from "../../../core/nn/mod.ts";
import { opTest, randomData } from "../../_harness.ts";
import * as ref from "../../_reference.ts";
import { moduleGradCheck } from "./_module_check.ts";

const N = 2, H = 4;

function conv(
  x: Float64Array,
  w: Float64Array,
  C: number,
  K: number,
  h: number,
  k: number,
  s: number,
) {
  const p = (k - 1) / 2;
  const g: ref.ConvGeom = {
    N,
    C,
    H: h,
    W: h,
    K,
    R: k,
    S: k,
    stride: [s, s],
    pad: [p, p, p, p],
    dil: [1, 1],
  };
  return ref.conv2d(x, w, null, g);
}

function bn(
  x: Float64Array,
  C: number,
  h: number,
  p: Record<string, Float64Array>,
  at: string,
  train: boolean,
) {
  const stats = train ? null : { mean: p[`${at}.running_mean`], var: p[`${at}.running_var`] };
  return ref.batchNorm(x, [N, C, h, h], p[`${at}.weight`], p[`${at}.bias`], 1e-5, stats).y;
}

const relu = (v: Float64Array) => v.map((e) => Math.max(e, 0));
const addv = (a: Float64Array, b: Float64Array) => a.map((e, i) => e + b[i]);

function bnParams(prefix: string, C: number): Record<string, Float64Array> {
  return {
    [`${prefix}.weight`]: randomData(C, `${prefix}-w`, 0.5, 1.5),
    [`${prefix}.bias`]: randomData(C, `${prefix}-b`, -0.3, 0.3),
    [`${prefix}.running_mean`]: randomData(C, `${prefix}-rm`, -0.3, 0.3),
    [`${prefix}.running_var`]: randomData(C, `${prefix}-rv`, 0.5, 1.5),
  };
}

for (const train of [true, false]) {
  const mode = train ? "train" : "eval";
  opTest(`BasicBlock with a 1x1 conv + BN shortcut (${mode}): values and gradients`, () => {
    const m = new BasicBlock(3, 4, 2, { seed: 1 });
    m.train(train);
    try {
      moduleGradCheck({
        name: `basic block ${mode}`,
        module: m,
        input: { data: randomData(N * 3 * H * H, "bb-x"), shape: [N, 3, H, H] },
        params: { ...bnParams("bn1", 4), ...bnParams("bn2", 4), ...bnParams("shortcut.1", 4) },
        wrt: ["conv1.weight", "conv2.weight", "bn2.weight", "shortcut.0.weight"],
        reference: (x, p) => {
          const a = relu(bn(conv(x, p["conv1.weight"], 3, 4, H, 3, 2), 4, 2, p, "bn1", train));
          const b = bn(conv(a, p["conv2.weight"], 4, 4, 2, 3, 1), 4, 2, p, "bn2", train);
          const s = bn(
            conv(x, p["shortcut.0.weight"], 3, 4, H, 1, 2),
            4,
            2,
            p,
            "shortcut.1",
            train,
          );
          return relu(addv(b, s));
        },
        fwdAtol: 1e-4,
        // The reference is float64: a tiny step keeps finite differences off ReLU kinks.
        h: 1e-6,
        atol: 2e-3,
        rtol: 2e-3,
      });
      const names = [...m.stateDict().keys()].filter((k) => k.endsWith("weight")).join();
      if (
        names !==
          "conv1.weight,bn1.weight,conv2.weight,bn2.weight,shortcut.0.weight,shortcut.1.weight"
      ) {
        throw new Error(`names ${names}`);
      }
    } finally {
      m.dispose();
    }
  });
}

opTest("BasicBlock with the identity shortcut has no shortcut parameters", () => {
  const m = new BasicBlock(4, 4, 1);
  try {
    if ([...m.stateDict().keys()].some((k) => k.startsWith("shortcut"))) {
      throw new Error("identity shortcut must be empty");
    }
    if (m.parameterCount() !== 2 * (4 * 4 * 9) + 4 * 4) throw new Error("count");
  } finally {
    m.dispose();
  }
});

for (const equal of [true, false]) {
  const kind = equal ? "identity shortcut" : "1x1 conv shortcut";
  opTest(`WideBasicBlock pre-activation, ${kind} (train): values and gradients`, () => {
    const cin = equal ? 4 : 3, stride = equal ? 1 : 2, ho = H / stride;
    const m = new WideBasicBlock(cin, 4, stride, 0, { seed: 2 });
    try {
      moduleGradCheck({
        name: `wide block ${kind}`,
        module: m,
        input: { data: randomData(N * cin * H * H, "wb-x"), shape: [N, cin, H, H] },
        params: { ...bnParams("bn1", cin), ...bnParams("bn2", 4) },
        wrt: [
          "bn1.weight",
          "conv1.weight",
          "conv2.weight",
          ...(equal ? [] : ["convShortcut.weight"]),
        ],
        reference: (x, p) => {
          const a = relu(bn(x, cin, H, p, "bn1", true));
          const b = relu(
            bn(conv(a, p["conv1.weight"], cin, 4, H, 3, stride), 4, ho, p, "bn2", true),
          );
          const c = conv(b, p["conv2.weight"], 4, 4, ho, 3, 1);
          const sc = equal ? x : conv(a, p["convShortcut.weight"], cin, 4, H, 1, stride);
          return addv(sc, c);
        },
        fwdAtol: 1e-4,
        // The reference is float64: a tiny step keeps finite differences off ReLU kinks.
        h: 1e-6,
        atol: 2e-3,
        rtol: 2e-3,
      });
      const names = [...m.stateDict().keys()].filter((k) => k.endsWith("weight")).join();
      const want = "bn1.weight,conv1.weight,bn2.weight,conv2.weight" +
        (equal ? "" : ",convShortcut.weight");
      if (names !== want) throw new Error(`names ${names}`);
    } finally {
      m.dispose();
    }
  });
}
