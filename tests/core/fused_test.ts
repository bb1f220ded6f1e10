import * as T from "@topiary/core";
import {
  adamUpdate,
  type AttackNorm,
  attackStep,
  projectToBall,
  sgdUpdate,
  tensor,
} from "@topiary/core";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";
import { type AdamCfg, adamRef, f32, type SgdCfg, sgdRef } from "./optim/_reference.ts";

const N = 64;
const STEPS = 6;

const sgdCases: [string, SgdCfg][] = [
  ["plain", { lr: 0.1 }],
  ["weight decay", { lr: 0.05, weightDecay: 0.01 }],
  ["momentum", { lr: 0.1, momentum: 0.9 }],
  ["momentum with dampening and weight decay", {
    lr: 0.02,
    momentum: 0.8,
    dampening: 0.3,
    weightDecay: 5e-4,
  }],
  ["nesterov", { lr: 0.1, momentum: 0.9, nesterov: true }],
  ["nesterov with weight decay", { lr: 0.03, momentum: 0.5, nesterov: true, weightDecay: 0.1 }],
];

for (const [name, cfg] of sgdCases) {
  opTest(`sgdUpdate ${name}: ${STEPS} steps match torch.optim.SGD in float64`, () => {
    const w0 = f32(randomData(N, `sgd-w-${name}`));
    const w = tensor(Float32Array.from(w0), [8, 8]);
    const buf = cfg.momentum ? T.zeros([8, 8]) : null;
    const wr = w0.slice(), br = new Float64Array(N);
    for (let s = 0; s < STEPS; s++) {
      const gd = f32(randomData(N, `sgd-g-${name}-${s}`, -2, 2));
      sgdUpdate(w, tensor(Float32Array.from(gd), [8, 8]), { ...cfg, buf, firstStep: s === 0 });
      sgdRef(wr, gd, br, cfg, s === 0);
      assertClose(values(w), wr, 1e-6, 1e-6, `${name} weights after step ${s + 1}`);
      if (buf) assertClose(values(buf), br, 1e-6, 1e-6, `${name} buffer after step ${s + 1}`);
    }
  });
}

opTest("sgdUpdate firstStep: the buffer becomes d, ignoring its old contents and dampening", () => {
  const g = tensor([1, -2, 0.5, 4]);
  const w = tensor([0.5, 0.25, -1, 2]);
  const buf = T.full([4], 123);
  sgdUpdate(w, g, {
    lr: 0.5,
    momentum: 0.9,
    dampening: 0.5,
    weightDecay: 0.5,
    buf,
    firstStep: true,
  });
  // d = g + 0.5 w
  const d = [1.25, -1.875, 0, 5];
  assertClose(values(buf), d, 0, 0, "buffer on the first step");
  assertClose(values(w), [0.5 - 0.625, 0.25 + 0.9375, -1, 2 - 2.5], 1e-7, 0, "weights");
  // Without firstStep the old buffer is used: buf = 0.9 buf + (1 - 0.5) d.
  const w2 = tensor([0, 0, 0, 0]);
  const b2 = T.full([4], 2);
  sgdUpdate(w2, g, { lr: 1, momentum: 0.9, dampening: 0.5, buf: b2 });
  assertClose(values(b2), [2.3, 0.8, 2.05, 3.8], 1e-6, 0, "buffer on a later step");
  assertClose(values(w2), [-2.3, -0.8, -2.05, -3.8], 1e-6, 0, "weights on a later step");
});

const adamCases: [string, AdamCfg][] = [
  ["defaults", { lr: 1e-2 }],
  ["custom betas and eps", { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6 }],
  ["L2 weight decay (Adam)", { lr: 1e-2, weightDecay: 0.1 }],
  ["decoupled weight decay (AdamW)", { lr: 1e-2, weightDecay: 0.1, decoupled: true }],
];

for (const [name, cfg] of adamCases) {
  opTest(`adamUpdate ${name}: ${STEPS} steps match torch.optim.Adam in float64`, () => {
    const w0 = f32(randomData(N, `adam-w-${name}`));
    const w = tensor(Float32Array.from(w0));
    const m = T.zeros([N]), v = T.zeros([N]);
    const wr = w0.slice(), mr = new Float64Array(N), vr = new Float64Array(N);
    for (let s = 1; s <= STEPS; s++) {
      const gd = f32(randomData(N, `adam-g-${name}-${s}`, -1, 1));
      adamUpdate(w, tensor(Float32Array.from(gd)), m, v, { ...cfg, step: s });
      adamRef(wr, gd, mr, vr, cfg, s);
      assertClose(values(w), wr, 1e-7, 1e-6, `${name} weights after step ${s}`);
      assertClose(values(m), mr, 2e-8, 1e-6, `${name} first moment after step ${s}`);
      // The second moment is checked at 1e-6 in its own test below; here the ~1e-5 relative
      // error of the (1 - beta2) factor formed from the f32-rounded beta2 is tolerated.
      assertClose(values(v), vr, 1e-12, 1e-6, `${name} second moment after step ${s}`);
    }
  });
}

opTest("adamUpdate and AdamW differ exactly by where the weight decay goes", () => {
  const w1 = tensor([1, 1]), w2 = tensor([1, 1]);
  const g = tensor([0, 0]);
  adamUpdate(w1, g, T.zeros([2]), T.zeros([2]), { lr: 0.1, weightDecay: 0.5, step: 1 });
  adamUpdate(w2, g, T.zeros([2]), T.zeros([2]), {
    lr: 0.1,
    weightDecay: 0.5,
    step: 1,
    decoupled: true,
  });
  // Adam: g = 0.5 w, the normalised step is ~1: w = 1 - 0.1. AdamW: w = 1 - 0.1 * 0.5 = 0.95.
  assertClose(values(w1), [0.9, 0.9], 1e-6, 0, "Adam with L2");
  assertClose(values(w2), [0.95, 0.95], 1e-7, 0, "AdamW");
});

opTest("adamUpdate second moment v follows torch.optim.Adam to 1e-6 (beta2 = 0.999)", () => {
  // torch.optim.Adam on f32 tensors forms (1 - beta2) = 0.001 in double and rounds it to f32
  // once (0.00100000005). Forming it from the f32-rounded beta2 (0.99900001) instead gives
  // 0.00099998713, 1.3e-5 relative off.
  const g = tensor([0.5, -1, 2]);
  const v = T.zeros([3]);
  adamUpdate(tensor([0, 0, 0]), g, T.zeros([3]), v, { lr: 1e-3, step: 1 });
  assertClose(values(v), [0.25e-3, 1e-3, 4e-3], 0, 1e-6, "v after one step");
});

opTest("masked weights and their optimizer state are exactly 0 and stay 0", () => {
  const maskData = Float32Array.from({ length: N }, (_, i) => (i % 3 === 1 || i < 4 ? 0 : 1));
  const mask = tensor(maskData);
  const check = (what: string, got: Float64Array, want: Float64Array) => {
    for (let i = 0; i < N; i++) {
      if (maskData[i] === 0 && got[i] !== 0) {
        throw new Error(`${what}: masked element ${i} is ${got[i]}, not 0`);
      }
    }
    assertClose(got, want, 1e-6, 1e-6, what);
  };
  // SGD with momentum (state: the buffer), and plain SGD with a buffer given.
  for (const cfg of [{ lr: 0.1, momentum: 0.9, weightDecay: 0.01 }, { lr: 0.1 }] as SgdCfg[]) {
    const w0 = f32(randomData(N, "mask-sgd-w", 0.5, 1));
    const w = tensor(Float32Array.from(w0)), buf = T.full([N], 0.5);
    const wr = w0.slice(), br = new Float64Array(N).fill(0.5);
    for (let s = 0; s < 4; s++) {
      const gd = f32(randomData(N, `mask-sgd-g-${s}`, -2, 2));
      sgdUpdate(w, tensor(Float32Array.from(gd)), { ...cfg, buf, mask, firstStep: s === 0 });
      sgdRef(wr, gd, br, cfg, s === 0, maskData);
      check(`sgd ${JSON.stringify(cfg)} weights, step ${s + 1}`, values(w), wr);
      check(`sgd ${JSON.stringify(cfg)} buffer, step ${s + 1}`, values(buf), br);
    }
  }
  for (const decoupled of [false, true]) {
    const cfg: AdamCfg = { lr: 1e-2, weightDecay: 0.05, decoupled };
    const w0 = f32(randomData(N, "mask-adam-w", 0.5, 1));
    const w = tensor(Float32Array.from(w0));
    const m = T.full([N], 0.25), v = T.full([N], 0.25);
    const wr = w0.slice(), mr = new Float64Array(N).fill(0.25), vr = new Float64Array(N).fill(0.25);
    for (let s = 1; s <= 4; s++) {
      const gd = f32(randomData(N, `mask-adam-g-${s}`, -2, 2));
      adamUpdate(w, tensor(Float32Array.from(gd)), m, v, { ...cfg, step: s, mask });
      adamRef(wr, gd, mr, vr, cfg, s, maskData);
      check(`adam decoupled=${decoupled} weights, step ${s}`, values(w), wr);
      check(`adam decoupled=${decoupled} m, step ${s}`, values(m), mr);
      const vv = values(v);
      for (let i = 0; i < N; i++) {
        if (maskData[i] === 0 && vv[i] !== 0) throw new Error(`adam v: masked ${i} is ${vv[i]}`);
      }
      // (1 - beta2) tolerance as in the unmasked Adam tests.
      assertClose(vv, vr, 1e-12, 1e-6, `adam decoupled=${decoupled} v, step ${s}`);
    }
  }
});

/** Linf step of the documented formula in float64 (sign(0) = 0). */
function linfRef(
  x: Float64Array,
  x0: ArrayLike<number>,
  g: ArrayLike<number> | null,
  a: number,
  e: number,
) {
  for (let i = 0; i < x.length; i++) {
    const v = g ? x[i] + a * Math.sign(g[i]) : x[i];
    x[i] = Math.min(Math.max(Math.min(Math.max(v, x0[i] - e), x0[i] + e), 0), 1);
  }
}

/** L2 step (or projection when g is null) of the documented formula in float64. */
function l2Ref(
  x: Float64Array,
  x0: ArrayLike<number>,
  g: ArrayLike<number> | null,
  a: number,
  e: number,
  dim: number,
) {
  for (let b = 0; b < x.length / dim; b++) {
    const o = b * dim;
    let gn = 0;
    if (g) { for (let j = 0; j < dim; j++) gn += g[o + j] ** 2; }
    const s = g ? a / Math.max(Math.sqrt(gn), 1e-12) : 0;
    const d = new Float64Array(dim);
    let dn = 0;
    for (let j = 0; j < dim; j++) {
      d[j] = x[o + j] + (g ? s * g[o + j] : 0) - x0[o + j];
      dn += d[j] ** 2;
    }
    dn = Math.sqrt(dn);
    const f = dn > e ? e / dn : 1;
    for (let j = 0; j < dim; j++) x[o + j] = Math.min(Math.max(x0[o + j] + d[j] * f, 0), 1);
  }
}

function checkBall(
  norm: AttackNorm,
  x: Float64Array,
  x0: ArrayLike<number>,
  eps: number,
  dim: number,
) {
  for (let i = 0; i < x.length; i++) {
    if (!(x[i] >= 0 && x[i] <= 1)) throw new Error(`${norm}: element ${i} = ${x[i]} not in [0, 1]`);
  }
  for (let b = 0; b < x.length / dim; b++) {
    let n = 0;
    for (let j = 0; j < dim; j++) {
      const d = Math.abs(x[b * dim + j] - x0[b * dim + j]);
      n = norm === "linf" ? Math.max(n, d) : n + d * d;
    }
    if (norm === "linf" && n > eps + 1e-7) throw new Error(`linf: example ${b} at ${n} > ${eps}`);
    if (norm === "l2" && Math.sqrt(n) > eps * (1 + 1e-6)) {
      throw new Error(`l2: example ${b} at norm ${Math.sqrt(n)} > ${eps}`);
    }
  }
}

const BATCH = 5, DIM = 48;

for (const [norm, alpha, eps] of [["linf", 0.01, 8 / 255], ["l2", 0.4, 0.5]] as const) {
  opTest(`attackStep ${norm}: stays in the eps-ball and [0, 1], matches the formula`, () => {
    const n = BATCH * DIM;
    const x0d = f32(randomData(n, `atk-x0-${norm}`, 0, 1));
    // Some pixels sit on the [0, 1] boundary, so the clamp matters.
    for (let i = 0; i < n; i += 7) x0d[i] = i % 2 ? 1 : 0;
    const x0 = tensor(Float32Array.from(x0d), [BATCH, 1, 6, 8]);
    const x = T.clone(x0);
    const xr = x0d.slice();
    for (let s = 0; s < 5; s++) {
      const gd = f32(randomData(n, `atk-g-${norm}-${s}`, -1, 1));
      for (let i = 0; i < DIM; i += 5) gd[i] = 0; // sign(0) = 0
      if (norm === "l2") gd.fill(0, 2 * DIM, 3 * DIM); // a zero gradient row stays put
      attackStep(norm, x, x0, tensor(Float32Array.from(gd), [BATCH, 1, 6, 8]), alpha, eps);
      if (norm === "linf") linfRef(xr, x0d, gd, alpha, eps);
      else l2Ref(xr, x0d, gd, alpha, eps, DIM);
      const got = values(x);
      checkBall(norm, got, x0d, eps, DIM);
      assertClose(got, xr, 1e-6, 0, `${norm} step ${s + 1}`);
    }
    // After 5 steps of size alpha the ball constraint is active somewhere.
    const got = values(x);
    let maxDist = 0;
    for (let i = 0; i < n; i++) maxDist = Math.max(maxDist, Math.abs(got[i] - x0d[i]));
    if (norm === "linf" && maxDist < eps - 1e-6) throw new Error(`linf never reached eps`);
  });

  opTest(`projectToBall ${norm}: onto the eps-ball and [0, 1], matches the formula`, () => {
    const n = BATCH * DIM;
    const x0d = f32(randomData(n, `proj-x0-${norm}`, 0, 1));
    const xd = f32(randomData(n, `proj-x-${norm}`, -0.5, 1.5));
    // One example already inside the ball is left unchanged (up to the [0, 1] clamp).
    for (let j = 0; j < DIM; j++) xd[DIM + j] = x0d[DIM + j];
    const x0 = tensor(Float32Array.from(x0d), [BATCH, DIM]);
    const x = tensor(Float32Array.from(xd), [BATCH, DIM]);
    projectToBall(norm, x, x0, eps);
    const xr = xd.slice();
    if (norm === "linf") linfRef(xr, x0d, null, 0, eps);
    else l2Ref(xr, x0d, null, 0, eps, DIM);
    const got = values(x);
    checkBall(norm, got, x0d, eps, DIM);
    assertClose(got, xr, 1e-6, 0, `projectToBall ${norm}`);
    assertClose(got.slice(DIM, 2 * DIM), x0d.slice(DIM, 2 * DIM), 0, 0, "example inside");
    // eps = 0 projects onto x0.
    projectToBall(norm, x, x0, 0);
    assertClose(values(x), x0d, 0, 0, `${norm} eps 0`);
  });
}

opTest("fused ops reject bad arguments with clear errors", () => {
  const w = T.zeros([4]), g = T.zeros([4]), buf = T.zeros([4]);
  assertThrowsMsg(
    () => sgdUpdate(w, g, { lr: 0.1, nesterov: true }),
    /sgdUpdate: Nesterov momentum requires momentum > 0 and zero dampening/,
  );
  assertThrowsMsg(
    () => sgdUpdate(w, g, { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true, buf }),
    /sgdUpdate: Nesterov momentum requires momentum > 0 and zero dampening/,
  );
  assertThrowsMsg(
    () => sgdUpdate(w, g, { lr: 0.1, momentum: 0.9 }),
    /sgdUpdate: momentum needs a buffer/,
  );
  assertThrowsMsg(
    () => sgdUpdate(w, T.zeros([5]), { lr: 0.1 }),
    /sgdUpdate: grad \[5\] does not match \[4\]/,
  );
  assertThrowsMsg(
    () => sgdUpdate(w, g, { lr: 0.1, mask: T.zeros([2, 2]) }),
    /sgdUpdate: mask \[2, 2\] does not match \[4\]/,
  );
  assertThrowsMsg(
    () => sgdUpdate(w, g, { lr: NaN }),
    /sgdUpdate: lr must be a finite number, got NaN/,
  );
  const wt = T.transpose(T.zeros([2, 3]));
  assertThrowsMsg(
    () => sgdUpdate(wt, T.zeros([3, 2]), { lr: 0.1 }),
    /sgdUpdate: weight \[3, 2\] f32 must be dense/,
  );
  const m = T.zeros([4]), v = T.zeros([4]);
  assertThrowsMsg(
    () => adamUpdate(w, g, m, v, { lr: 0.1, step: 0 }),
    /adamUpdate: step must be >= 1, got 0/,
  );
  assertThrowsMsg(
    () => adamUpdate(w, g, m, v, { lr: 0.1, step: 1.5 }),
    /adamUpdate: step must be >= 1, got 1.5/,
  );
  assertThrowsMsg(
    () => adamUpdate(w, g, m, T.zeros([3]), { lr: 0.1, step: 1 }),
    /adamUpdate: v \[3\] does not match \[4\]/,
  );
  assertThrowsMsg(
    () => adamUpdate(w, g, m, v, { lr: 0.1, step: 1, beta1: 1 }),
    /adamUpdate: .*betas must be in \[0, 1\)/,
  );
  const x = T.zeros([2, 3]), x0 = T.zeros([2, 3]), gx = T.zeros([2, 3]);
  assertThrowsMsg(
    () => attackStep("l1" as AttackNorm, x, x0, gx, 0.1, 0.3),
    /attackStep: norm must be "linf" or "l2", got "l1"/,
  );
  assertThrowsMsg(
    () => projectToBall("linf2" as AttackNorm, x, x0, 0.3),
    /projectToBall: norm must be "linf" or "l2", got "linf2"/,
  );
  assertThrowsMsg(
    () => attackStep("linf", x, x0, gx, 0.1, -0.1),
    /attackStep: eps must be finite and >= 0, got -0.1/,
  );
  assertThrowsMsg(
    () => projectToBall("l2", x, x0, NaN),
    /projectToBall: eps must be finite and >= 0, got NaN/,
  );
  assertThrowsMsg(
    () => attackStep("l2", x, x0, gx, NaN, 0.1),
    /attackStep: alpha must be a finite number/,
  );
  assertThrowsMsg(
    () => attackStep("linf", x, T.zeros([3, 2]), gx, 0.1, 0.1),
    /attackStep: x0 \[3, 2\] does not match \[2, 3\]/,
  );
  assertThrowsMsg(
    () => attackStep("l2", x, x0, T.zeros([6]), 0.1, 0.1),
    /attackStep: grad \[6\] does not match \[2, 3\]/,
  );
  assertThrowsMsg(
    () => projectToBall("l2", x, T.zeros([2, 4]), 0.1),
    /projectToBall: x0 \[2, 4\] does not match \[2, 3\]/,
  );
});
