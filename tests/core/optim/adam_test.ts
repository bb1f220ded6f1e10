import * as T from "@topiary/core";
import { type Tensor, tensor } from "@topiary/core";
import { Adam, type AdamOptions, AdamW } from "../../../core/optim/mod.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../../_harness.ts";
import { type AdamCfg, adamRef, assertMaskedZero, f32 } from "./_reference.ts";

const SHAPES: [string, number[]][] = [["conv.weight", [2, 3, 2, 2]], ["conv.bias", [2]], [
  "fc.weight",
  [5, 8],
]];
const STEPS = 6;
const lrAt = (s: number) => 1e-2 * (1 - s / 10);

function makeParams(tag: string): { named: [string, Tensor][]; ref: Float64Array[] } {
  const ref = SHAPES.map(([n, sh]) => f32(randomData(T.numel(sh), `${tag}-w-${n}`)));
  const named = SHAPES.map(([n, sh], i): [string, Tensor] => [
    n,
    tensor(Float32Array.from(ref[i]), sh, { requiresGrad: true }),
  ]);
  return { named, ref };
}

const gradData = (tag: string, n: string, size: number, s: number) =>
  f32(randomData(size, `${tag}-g-${n}-${s}`, -1, 1));

const cases: [string, Omit<AdamOptions, "lr">, boolean][] = [
  ["Adam defaults", {}, false],
  ["Adam custom betas and eps", { betas: [0.8, 0.99], eps: 1e-6 }, false],
  ["Adam L2 weight decay", { weightDecay: 0.1 }, false],
  ["AdamW default weight decay", {}, true],
  ["AdamW weight decay 0.3", { weightDecay: 0.3 }, true],
];

for (const [name, opts, isW] of cases) {
  for (const masked of [false, true]) {
    opTest(
      `${name}${masked ? " with a mask" : ""}: ${STEPS} steps match PyTorch in float64`,
      () => {
        const { named, ref } = makeParams(name);
        const maskData = Float32Array.from({ length: 40 }, (_, i) => (i % 4 === 1 ? 0 : 1));
        const masks = masked ? new Map([["fc.weight", tensor(maskData, [5, 8])]]) : undefined;
        const opt = isW
          ? new AdamW(named, { lr: lrAt(0), ...opts, masks })
          : new Adam(named, { lr: lrAt(0), ...opts, masks });
        const cfg: AdamCfg = {
          lr: 0,
          beta1: opts.betas?.[0],
          beta2: opts.betas?.[1],
          eps: opts.eps,
          weightDecay: opts.weightDecay ?? (isW ? 1e-2 : 0),
          decoupled: isW,
        };
        const ms = ref.map((w) => new Float64Array(w.length));
        const vs = ref.map((w) => new Float64Array(w.length));
        for (let s = 0; s < STEPS; s++) {
          opt.lr = lrAt(s);
          const gd = SHAPES.map(([n, sh]) => gradData(name, n, T.numel(sh), s));
          opt.step(SHAPES.map(([, sh], i) => tensor(Float32Array.from(gd[i]), sh)));
          const st = opt.stateDict().tensors;
          ref.forEach((w, i) => {
            const n = SHAPES[i][0], m = masked && i === 2 ? maskData : null;
            adamRef(w, gd[i], ms[i], vs[i], { ...cfg, lr: lrAt(s) }, s + 1, m);
            const got = values(named[i][1]);
            assertClose(got, w, 1e-7, 1e-6, `${n} after step ${s + 1}`);
            const gm = values(st.get(`state.${n}.exp_avg`)!);
            const gv = values(st.get(`state.${n}.exp_avg_sq`)!);
            assertClose(gm, ms[i], 2e-8, 1e-6, `exp_avg of ${n} after step ${s + 1}`);
            assertClose(gv, vs[i], 1e-12, 1e-6, `exp_avg_sq of ${n} after step ${s + 1}`);
            if (m) {
              for (const [what, a] of [["weight", got], ["exp_avg", gm], ["exp_avg_sq", gv]]) {
                assertMaskedZero(`${n} ${what} after step ${s + 1}`, a as Float64Array, m);
              }
            }
          });
        }
        opt.dispose();
      },
    );
  }
}

opTest("Adam counts steps per parameter (bias correction of a late-starting parameter)", () => {
  const { named, ref } = makeParams("late");
  const opt = new Adam(named, { lr: 1e-2 });
  const ms = ref.map((w) => new Float64Array(w.length));
  const vs = ref.map((w) => new Float64Array(w.length));
  const counts = [0, 0, 0];
  for (let s = 0; s < 5; s++) {
    const skip = (i: number) => i === 0 && s < 3; // conv.weight starts at step 3
    const gd = SHAPES.map(([n, sh]) => gradData("late", n, T.numel(sh), s));
    opt.step(SHAPES.map(([, sh], i) => (skip(i) ? null : tensor(Float32Array.from(gd[i]), sh))));
    ref.forEach((w, i) => {
      if (!skip(i)) adamRef(w, gd[i], ms[i], vs[i], { lr: 1e-2 }, ++counts[i]);
    });
  }
  ref.forEach((w, i) => assertClose(values(named[i][1]), w, 1e-7, 1e-6, SHAPES[i][0]));
  if (opt.stepOf("conv.weight") !== 2 || opt.stepOf("fc.weight") !== 5 || opt.steps !== 5) {
    throw new Error(`step counts ${opt.stepOf("conv.weight")} ${opt.stepOf("fc.weight")}`);
  }
  const sc = opt.stateDict().scalars;
  if (sc["state.conv.weight.step"] !== 2 || sc["state.conv.bias.step"] !== 5) {
    throw new Error(`scalar step counts ${JSON.stringify(sc)}`);
  }
  opt.dispose();
});

opTest(
  "Adam state round trip: a fresh optimizer loaded from the state continues bit-exactly",
  () => {
    const a = makeParams("rt"), b = makeParams("rt");
    const opts = { lr: 3e-3, betas: [0.85, 0.995] as const, weightDecay: 0.05 };
    const optA = new AdamW(a.named, opts);
    const grads = (s: number) =>
      SHAPES.map(([n, sh]) => tensor(Float32Array.from(gradData("rt", n, T.numel(sh), s)), sh));
    for (let s = 0; s < 4; s++) optA.step(grads(s));
    b.named.forEach(([, t], i) => T.copyFromHost(t, a.named[i][1].toArray() as Float32Array));
    const optB = new AdamW(b.named, opts);
    optB.loadStateDict(optA.stateDict());
    for (let s = 4; s < 8; s++) {
      optA.step(grads(s));
      optB.step(grads(s));
    }
    a.named.forEach(([n, t], i) => {
      const x = t.toArray(), y = b.named[i][1].toArray();
      if (x.some((v, j) => !Object.is(v, y[j]))) throw new Error(`${n} differs after resume`);
    });
    optA.dispose();
    optB.dispose();
  },
);

opTest("Adam refuses bad settings and inconsistent states", () => {
  const { named } = makeParams("bad");
  assertThrowsMsg(() => new Adam(named, { betas: [1, 0.999] }), /beta1 must be in \[0, 1\)/);
  assertThrowsMsg(() => new Adam(named, { eps: -1 }), /eps must be a finite number >= 0/);
  const opt = new Adam(named);
  opt.step(SHAPES.map(([, sh]) => T.ones(sh)));
  const st = opt.stateDict();
  const w = new AdamW(named);
  assertThrowsMsg(() => w.loadStateDict(st), /state is of a Adam optimizer, not AdamW/);
  const fresh = new Adam(named);
  const partial = new Map(st.tensors);
  partial.delete("state.fc.weight.exp_avg_sq");
  assertThrowsMsg(
    () => fresh.loadStateDict({ tensors: partial, scalars: st.scalars }),
    /state of "fc.weight" lacks "exp_avg_sq"/,
  );
  const noStep = { ...st.scalars };
  delete noStep["state.fc.weight.step"];
  assertThrowsMsg(
    () => fresh.loadStateDict({ tensors: st.tensors, scalars: noStep }),
    /"state.fc.weight.step" must be an integer >= 1/,
  );
  assertThrowsMsg(
    () =>
      fresh.loadStateDict({ tensors: st.tensors, scalars: { ...st.scalars, "state.x.step": 1 } }),
    /unexpected scalar "state.x.step"/,
  );
  if (fresh.stateDict().tensors.size !== 0) throw new Error("a failed load changed the state");
  opt.dispose();
  w.dispose();
  fresh.dispose();
});
