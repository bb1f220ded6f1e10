import * as T from "@topiary/core";
import { type Tensor, tensor } from "@topiary/core";
import { SGD, type SGDOptions } from "../../../core/optim/mod.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../../_harness.ts";
import { assertMaskedZero, f32, sgdRef } from "./_reference.ts";

const SHAPES: [string, number[]][] = [["fc1.weight", [4, 6]], ["fc1.bias", [4]], [
  "fc2.weight",
  [3, 4],
]];
const STEPS = 6;
const lrAt = (s: number) => 0.1 * 0.8 ** s;

function makeParams(tag: string): { named: [string, Tensor][]; ref: Float64Array[] } {
  const ref = SHAPES.map(([n, sh]) => f32(randomData(T.numel(sh), `${tag}-w-${n}`)));
  const named = SHAPES.map(([n, sh], i): [string, Tensor] => [
    n,
    tensor(Float32Array.from(ref[i]), sh, { requiresGrad: true }),
  ]);
  return { named, ref };
}

const gradData = (tag: string, n: string, size: number, s: number) =>
  f32(randomData(size, `${tag}-g-${n}-${s}`, -2, 2));

const cases: [string, Omit<SGDOptions, "lr">][] = [
  ["plain", {}],
  ["weight decay", { weightDecay: 0.01 }],
  ["momentum", { momentum: 0.9 }],
  ["momentum, dampening and weight decay", { momentum: 0.8, dampening: 0.3, weightDecay: 5e-4 }],
  ["nesterov", { momentum: 0.9, nesterov: true }],
  ["nesterov and weight decay", { momentum: 0.5, nesterov: true, weightDecay: 0.1 }],
];

for (const [name, cfg] of cases) {
  for (const masked of [false, true]) {
    const title = `SGD ${name}${masked ? " with a mask" : ""}: ${STEPS} scheduled steps over ` +
      `3 parameters match torch.optim.SGD in float64`;
    opTest(title, () => {
      const { named, ref } = makeParams(name);
      const maskData = Float32Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 0 : 1));
      const mask = tensor(maskData, [4, 6]);
      const opt = new SGD(named, {
        lr: lrAt(0),
        ...cfg,
        masks: masked ? { "fc1.weight": mask } : {},
      });
      const bufs = ref.map((w) => new Float64Array(w.length));
      for (let s = 0; s < STEPS; s++) {
        opt.lr = lrAt(s);
        const gd = SHAPES.map(([n, sh]) => gradData(name, n, T.numel(sh), s));
        opt.step(SHAPES.map(([, sh], i) => tensor(Float32Array.from(gd[i]), sh)));
        ref.forEach((w, i) => {
          const m = masked && i === 0 ? maskData : null;
          sgdRef(w, gd[i], bufs[i], { ...cfg, lr: lrAt(s) }, s === 0, m);
          const got = values(named[i][1]);
          assertClose(got, w, 1e-6, 1e-6, `${SHAPES[i][0]} after step ${s + 1}`);
          if (m) assertMaskedZero(`${SHAPES[i][0]} after step ${s + 1}`, got, m);
          if (cfg.momentum) {
            const b = opt.stateDict().tensors.get(`state.${SHAPES[i][0]}.momentum_buffer`)!;
            assertClose(values(b), bufs[i], 1e-6, 1e-6, `buffer of ${SHAPES[i][0]}`);
            if (m) assertMaskedZero(`buffer of ${SHAPES[i][0]}`, values(b), m);
          }
        });
      }
      if (opt.steps !== STEPS) throw new Error(`steps is ${opt.steps}`);
      opt.dispose();
    });
  }
}

opTest("SGD: a null gradient skips the parameter; its buffer starts at its own first step", () => {
  const { named, ref } = makeParams("skip");
  const cfg = { lr: 0.05, momentum: 0.9, weightDecay: 0.01 };
  const opt = new SGD(named, cfg);
  const bufs = ref.map((w) => new Float64Array(w.length));
  const first = [true, true, true];
  for (let s = 0; s < 4; s++) {
    const gd = SHAPES.map(([n, sh]) => gradData("skip", n, T.numel(sh), s));
    // fc1.bias gets no gradient in steps 0 and 1.
    const skip = (i: number) => i === 1 && s < 2;
    opt.step(SHAPES.map(([, sh], i) => (skip(i) ? null : tensor(Float32Array.from(gd[i]), sh))));
    ref.forEach((w, i) => {
      if (skip(i)) return;
      sgdRef(w, gd[i], bufs[i], cfg, first[i]);
      first[i] = false;
    });
    if (s < 2 && opt.stateDict().tensors.has("state.fc1.bias.momentum_buffer")) {
      throw new Error("a skipped parameter must not have a momentum buffer yet");
    }
  }
  ref.forEach((w, i) => assertClose(values(named[i][1]), w, 1e-6, 1e-6, SHAPES[i][0]));
  opt.dispose();
});

opTest("SGD state dict: PyTorch-like names, scalars, and an exact resume", () => {
  const cfg = { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 };
  const a = makeParams("resume"), b = makeParams("resume");
  const optA = new SGD(a.named, cfg);
  const grads = (s: number) =>
    SHAPES.map(([n, sh]) => tensor(Float32Array.from(gradData("resume", n, T.numel(sh), s)), sh));
  for (let s = 0; s < 3; s++) optA.step(grads(s));
  const st = optA.stateDict();
  const keys = [...st.tensors.keys()];
  const want = SHAPES.map(([n]) => `state.${n}.momentum_buffer`);
  if (keys.join() !== want.join()) throw new Error(`state keys ${keys} != ${want}`);
  const sc = JSON.stringify(st.scalars);
  const wantSc = JSON.stringify({
    type: "SGD",
    momentum: 0.9,
    dampening: 0,
    weightDecay: 1e-3,
    nesterov: true,
    lr: 0.1,
    steps: 3,
  });
  if (sc !== wantSc) throw new Error(`scalars ${sc} != ${wantSc}`);
  // B: the same weights as A after 3 steps, a fresh optimizer loaded from A's state.
  b.named.forEach(([, t], i) => T.copyFromHost(t, a.named[i][1].toArray() as Float32Array));
  const optB = new SGD(b.named, { ...cfg, lr: 1 });
  optB.loadStateDict(st);
  if (optB.lr !== 0.1 || optB.steps !== 3) throw new Error("lr or steps not restored");
  for (let s = 3; s < 6; s++) {
    optA.lr = optB.lr = lrAt(s);
    optA.step(grads(s));
    optB.step(grads(s));
  }
  a.named.forEach(([n, t], i) => {
    const x = t.toArray(), y = b.named[i][1].toArray();
    if (x.some((v, j) => !Object.is(v, y[j]))) throw new Error(`${n} differs after resume`);
  });
  optA.dispose();
  optB.dispose();
});

opTest("SGD refuses bad arguments with clear messages", () => {
  const { named } = makeParams("bad");
  assertThrowsMsg(() => new SGD(named, { lr: -1 }), /lr must be a finite number >= 0/);
  assertThrowsMsg(() => new SGD(named, { lr: 0.1, nesterov: true }), /Nesterov momentum/);
  assertThrowsMsg(() => new SGD([], { lr: 0.1 }), /no parameters/);
  assertThrowsMsg(
    () => new SGD([named[0], named[0]], { lr: 0.1 }),
    /"fc1.weight" appears twice/,
  );
  assertThrowsMsg(
    () => new SGD(named, { lr: 0.1, masks: { "fc1.weight": T.ones([4, 6], { dtype: "u8" }) } }),
    /mask of "fc1.weight" must be f32/,
  );
  assertThrowsMsg(
    () => new SGD(named, { lr: 0.1, masks: { "fc1.weight": T.ones([6, 4]) } }),
    /mask of "fc1.weight" is \[6, 4\], the parameter is \[4, 6\]/,
  );
  assertThrowsMsg(() => new SGD(named, { lr: 0.1, masks: { nope: T.ones([1]) } }), /"nope"/);
  const opt = new SGD(named, { lr: 0.1, momentum: 0.9 });
  assertThrowsMsg(() => opt.step([T.zeros([4, 6])]), /1 gradients for 3 parameters/);
  assertThrowsMsg(
    () => opt.step([T.zeros([4, 6]), T.zeros([5]), T.zeros([3, 4])]),
    /gradient of "fc1.bias" is .*\[5\].* the parameter is .*\[4\]/,
  );
  opt.lr = Number.NaN;
  assertThrowsMsg(() => opt.step([null, null, null]), /lr must be a finite number/);
  opt.lr = 0.1;
  opt.step(SHAPES.map(([, sh]) => T.ones(sh)));
  const st = opt.stateDict();
  const other = new SGD(named, { lr: 0.1, momentum: 0.5 });
  assertThrowsMsg(() => other.loadStateDict(st), /momentum = 0.9, this optimizer 0.5/);
  const wrongKey = {
    tensors: new Map([["state.fc3.weight.momentum_buffer", T.zeros([1])]]),
    scalars: st.scalars,
  };
  const same = new SGD(named, { lr: 0.1, momentum: 0.9 });
  assertThrowsMsg(() => same.loadStateDict(wrongKey), /unexpected state tensor/);
  assertThrowsMsg(
    () => same.loadStateDict({ tensors: st.tensors, scalars: { ...st.scalars, type: "Adam" } }),
    /state is of a Adam optimizer, not SGD/,
  );
  opt.dispose();
  other.dispose();
  same.dispose();
});

opTest("SGD with plain tensors names them by index and accepts strided gradients", () => {
  const w = tensor([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
  const opt = new SGD([w], { lr: 0.5, momentum: 0.9 });
  const g = T.transpose(tensor([1, 4, 2, 5, 3, 6], [3, 2])); // values [[1,2,3],[4,5,6]], strided
  opt.step([g]);
  assertClose(values(w), [0.5, 1, 1.5, 2, 2.5, 3], 0, 0, "weights");
  if (![...opt.stateDict().tensors.keys()].includes("state.0.momentum_buffer")) {
    throw new Error("expected state.0.momentum_buffer");
  }
  opt.dispose();
});
