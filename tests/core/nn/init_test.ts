import * as T from "@topiary/core";
import {
  Conv2d,
  drawWeight,
  fans,
  initParameters,
  Linear,
  Module,
  Sequential,
} from "../../../core/nn/mod.ts";
import { assertThrowsMsg, opTest, values } from "../../_harness.ts";

function stats(v: ArrayLike<number>) {
  let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    s += v[i];
    s2 += v[i] * v[i];
    lo = Math.min(lo, v[i]);
    hi = Math.max(hi, v[i]);
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean), lo, hi };
}

opTest("fans follow PyTorch: [out, in, kh, kw] and [out, in]", () => {
  const f = fans([16, 3, 5, 5]);
  if (f.fanIn !== 75 || f.fanOut !== 400) throw new Error(`conv fans ${JSON.stringify(f)}`);
  const l = fans([10, 84]);
  if (l.fanIn !== 84 || l.fanOut !== 10) throw new Error(`linear fans ${JSON.stringify(l)}`);
});

opTest("PyTorch default: weight and bias within ±1/sqrt(fan_in), filling the range", () => {
  const m = new Conv2d(32, 64, 3, { seed: 4 });
  try {
    const b = 1 / Math.sqrt(32 * 9);
    const w = stats(values(m.weight));
    if (w.lo < -b || w.hi > b) throw new Error(`weight outside ±${b}: ${w.lo}, ${w.hi}`);
    if (w.hi < 0.99 * b || w.lo > -0.99 * b) throw new Error("weight does not fill the range");
    // Uniform(-b, b) has std b / sqrt(3).
    if (Math.abs(w.std / (b / Math.sqrt(3)) - 1) > 0.02) throw new Error(`std ${w.std}`);
    const bs = stats(values(m.bias!));
    if (bs.lo < -b || bs.hi > b) throw new Error("bias outside the bound");
  } finally {
    m.dispose();
  }
});

opTest("kaiming normal (fan_in and fan_out), kaiming uniform, signed constant, normal", () => {
  const shape = [128, 64, 3, 3];
  const fanIn = 64 * 9, fanOut = 128 * 9;
  const check = (what: string, got: number, want: number, tol = 0.02) => {
    if (Math.abs(got / want - 1) > tol) throw new Error(`${what}: ${got}, expected ${want}`);
  };
  const kn = stats(values(drawWeight(shape, { scheme: "kaiming_normal" }, 1, "w")));
  check("kaiming normal fan_in std", kn.std, Math.sqrt(2 / fanIn));
  if (Math.abs(kn.mean) > 0.002) throw new Error(`mean ${kn.mean}`);
  const ko = stats(
    values(drawWeight(shape, { scheme: "kaiming_normal", mode: "fan_out" }, 1, "w")),
  );
  check("kaiming normal fan_out std", ko.std, Math.sqrt(2 / fanOut));
  const ku = stats(values(drawWeight(shape, { scheme: "kaiming_uniform" }, 1, "w")));
  const bound = Math.sqrt(6 / fanIn);
  if (ku.lo < -bound || ku.hi > bound) throw new Error("kaiming uniform outside its bound");
  check("kaiming uniform std", ku.std, bound / Math.sqrt(3));
  const sc = values(drawWeight(shape, { scheme: "signed_constant" }, 1, "w"));
  const c = Math.sqrt(2 / fanIn);
  let pos = 0;
  for (const v of sc) {
    if (Math.abs(Math.abs(v) - c) > 1e-7) throw new Error(`signed constant value ${v} != ±${c}`);
    if (v > 0) pos++;
  }
  if (Math.abs(pos / sc.length - 0.5) > 0.02) throw new Error(`positive fraction ${pos}`);
  const nn = stats(values(drawWeight([256, 300], { scheme: "normal", std: 0.01 }, 1, "w")));
  check("normal std", nn.std, 0.01);
  assertThrowsMsg(() => drawWeight([4, 4], { scheme: "normal" }, 1, "w"), /needs std >= 0/);
  // Non-default schemes zero the biases.
  const l = new Linear(10, 4, { init: { scheme: "kaiming_normal" } });
  try {
    if (values(l.bias!).some((v) => v !== 0)) throw new Error("bias must be zero");
  } finally {
    l.dispose();
  }
});

class Two extends Module {
  constructor(order: "ab" | "ba") {
    super();
    const a = () => this.registerModule("a", new Linear(20, 30, { init: false }));
    const b = () => this.registerModule("b", new Linear(20, 30, { init: false }));
    if (order === "ab") {
      a();
      b();
    } else {
      b();
      a();
    }
    initParameters(this, { seed: 9 });
  }
  forward(x: T.Tensor): T.Tensor {
    return x;
  }
}

opTest("init depends on seed and dotted name only, not on construction order or device", () => {
  const m1 = new Two("ab"), m2 = new Two("ba");
  try {
    const s1 = m1.stateDict(), s2 = m2.stateDict();
    for (const k of ["a.weight", "a.bias", "b.weight", "b.bias"]) {
      const u = values(s1.get(k)!), v = values(s2.get(k)!);
      if (!u.every((e, i) => e === v[i])) throw new Error(`${k} differs with construction order`);
    }
    const aw = values(s1.get("a.weight")!), bw = values(s1.get("b.weight")!);
    if (aw.every((e, i) => e === bw[i])) throw new Error("a and b must differ");
    // The same draw as the address (seed 9, "a.weight", 0) gives directly.
    const direct = values(drawWeight([30, 20], { scheme: "default" }, 9, "a.weight"));
    if (!aw.every((e, i) => e === direct[i])) throw new Error("a.weight is not its own stream");
  } finally {
    m1.dispose();
    m2.dispose();
  }
  // A layer inside a Sequential gets the stream of its dotted name.
  const s = new Sequential(new Linear(5, 5, { init: false }), new Linear(5, 5, { init: false }));
  try {
    initParameters(s, { seed: 2 });
    const w1 = values(s.stateDict().get("1.weight")!);
    const d = values(drawWeight([5, 5], { scheme: "default" }, 2, "1.weight"));
    if (!w1.every((e, i) => e === d[i])) throw new Error("1.weight stream");
  } finally {
    s.dispose();
  }
});
