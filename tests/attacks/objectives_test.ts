import {
  BatchLoader,
  fit,
  full,
  noGrad,
  SGD,
  softmaxCrossEntropy,
  syntheticDataset,
  tensor,
  tidy,
} from "@topiary/core";
import {
  cleanObjective,
  fgsmTraining,
  mixedTraining,
  Pgd,
  pgdTraining,
  TradesAttack,
  tradesLoss,
  tradesTraining,
  warmupEps,
} from "@topiary/attacks";
import { assertClose, assertThrowsMsg, opTest } from "../_harness.ts";
import { snapshot, tinyBatch, tinyConvNet } from "./_attack_models.ts";
import { MaskingNet } from "./_masking_net.ts";

const threat = { norm: "linf" as const, eps: 0.1 };
const pos = (step: number) => ({ epoch: 0, batch: step, step });

opTest("tradesLoss = CE(f(x), y) + beta * KL(f(x) || f(x')) on a hand-checked case", () => {
  const p = [[1, 2, 0], [0.5, -1, 2]], q = [[0.5, 0.5, 1], [0, 0, 0]], y = [1, 2], beta = 2;
  const lsm = (r: number[]) => {
    const lse = Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    return r.map((v) => v - lse);
  };
  let ce = 0, kl = 0;
  for (let i = 0; i < 2; i++) {
    const lp = lsm(p[i]), lq = lsm(q[i]);
    ce -= lp[y[i]] / 2;
    kl += lp.reduce((s, v, j) => s + Math.exp(v) * (v - lq[j]), 0) / 2;
  }
  const got = tradesLoss(
    tensor(p.flat(), [2, 3]),
    tensor(q.flat(), [2, 3]),
    tensor(y, [2], {
      dtype: "i32",
    }),
    beta,
  ).item();
  assertClose([got], [ce + beta * kl], 1e-6, 1e-6, "trades loss");
  const same = tradesLoss(
    tensor(p.flat(), [2, 3]),
    tensor(p.flat(), [2, 3]),
    tensor(y, [2], {
      dtype: "i32",
    }),
    beta,
  ).item();
  assertClose([same], [ce], 1e-6, 1e-6, "trades loss with x' = x");
});

opTest("eps warm-up: a linear ramp by optimizer step", () => {
  assertClose(
    [0, 1, 4, 9, 10, 50].map((s) => warmupEps(0.3, s, 10)),
    [
      0.03,
      0.06,
      0.15,
      0.3,
      0.3,
      0.3,
    ],
    1e-12,
    0,
    "warmupEps",
  );
  if (warmupEps(0.3, 0, 0) !== 0.3) throw new Error("no warm-up must give the full eps");
  const o = pgdTraining({ threat, seed: 0, warmup: { epochs: 2, stepsPerEpoch: 5 } });
  assertClose([o.epsAt(0), o.epsAt(4), o.epsAt(9), o.epsAt(10)], [0.01, 0.05, 0.1, 0.1], 1e-12);
  const w = o.settings.warmup as Record<string, number>;
  if (w.epochs !== 2 || w.stepsPerEpoch !== 5 || w.steps !== 10) throw new Error("settings");
  const attack = o.settings.attack as Record<string, number>;
  if (attack.stepSize !== 0.025 || attack.steps !== 10) throw new Error(JSON.stringify(attack));
});

opTest("PGD-AT and TRADES losses equal CE / CE + beta KL on separately generated attacks", () => {
  using net = tinyConvNet();
  net.train();
  const { x, y } = tinyBatch(6);
  const ctx = { seed: 3, indices: Int32Array.from([0, 1, 2, 3, 4, 5]), round: 7 };
  const evalAttack = (a: Pgd | TradesAttack) => {
    net.eval();
    try {
      return a.run(net, x, y, ctx);
    } finally {
      net.train();
    }
  };
  const at = pgdTraining({ threat, seed: 3, steps: 3 });
  // The attack first: the objective's train-mode pass then updates the running statistics.
  const adv = evalAttack(new Pgd({ threat, steps: 3, keepBest: false }));
  const got = tidy(() => at.loss(net, x, y, pos(7)).loss.item());
  const want = tidy(() => softmaxCrossEntropy(net.forward(adv), y).item());
  assertClose([got], [want], 1e-6, 1e-6, "pgd-at");
  const tr = tradesTraining({ threat, seed: 3, steps: 3, beta: 4 });
  const adv2 = evalAttack(new TradesAttack({ threat, steps: 3 }));
  const got2 = tidy(() => tr.loss(net, x, y, pos(7)).loss.item());
  const want2 = tidy(() => tradesLoss(net.forward(x), net.forward(adv2), y, 4).item());
  assertClose([got2], [want2], 1e-6, 1e-6, "trades");
  const at0 = tradesTraining({ threat: { norm: "linf", eps: 0 }, seed: 3, beta: 4 });
  const ce0 = tidy(() => at0.loss(net, x, y, pos(0)).loss.item());
  const ce = tidy(() => softmaxCrossEntropy(net.forward(x), y).item());
  assertClose([ce0], [ce], 1e-5, 1e-5, "trades at eps 0 is the clean loss");
  if (!net.namedModules().every(([, m]) => m.training)) throw new Error("train mode lost");
});

opTest("objectives are pure functions of (model, batch, step): exact resume", () => {
  using net = tinyConvNet();
  net.eval(); // no running-stat updates, so repeated calls see the same model
  const { x, y } = tinyBatch(5);
  for (
    const o of [
      pgdTraining({ threat, seed: 1 }),
      fgsmTraining({ threat, seed: 1 }),
      tradesTraining({ threat, seed: 1 }),
      mixedTraining({ threat, seed: 1, weight: 0.5 }),
    ]
  ) {
    const at = (s: number) => tidy(() => o.loss(net, x, y, pos(s)).loss.item());
    const a = at(4), b = at(4), c = at(5);
    if (a !== b) throw new Error(`${o.name}: step 4 gives ${a} then ${b}`);
    if (a === c) throw new Error(`${o.name}: steps 4 and 5 draw the same starts`);
  }
});

opTest("mixed objective: w CE(adv) + (1 - w) CE(clean)", () => {
  using net = tinyConvNet();
  net.eval();
  const { x, y } = tinyBatch(5);
  const l = (o: { loss: typeof cleanObjective.loss }) =>
    tidy(() => o.loss(net, x, y, pos(2)).loss.item());
  const adv = l(pgdTraining({ threat, seed: 2 })), clean = l(cleanObjective);
  assertClose([l(mixedTraining({ threat, seed: 2, weight: 1 }))], [adv], 1e-6, 1e-6, "w = 1");
  assertClose([l(mixedTraining({ threat, seed: 2, weight: 0 }))], [clean], 1e-6, 1e-6, "w = 0");
  const mid = l(mixedTraining({ threat, seed: 2, weight: 0.25 }));
  assertClose([mid], [0.25 * adv + 0.75 * clean], 1e-6, 1e-5, "w = 0.25");
});

opTest("bnMode: the attack runs in eval mode (no running-stat updates) or in train mode", () => {
  const { x, y } = tinyBatch(6);
  const stats = (mode: "eval" | "train") => {
    using net = tinyConvNet();
    net.train();
    tidy(() => pgdTraining({ threat, seed: 0, bnMode: mode, steps: 3 }).loss(net, x, y, pos(0)));
    if (!net.namedModules().every(([, m]) => m.training)) throw new Error("train mode lost");
    return snapshot(net).values.get("1.num_batches_tracked")![0];
  };
  // eval: only the loss's forward pass counts; train: 3 attack steps + the loss's pass.
  const e = stats("eval"), t = stats("train");
  if (e !== 1 || t !== 4) throw new Error(`batches tracked: eval ${e}, train ${t}`);
});

opTest("objectives plug into fit and record their settings", () => {
  const data = syntheticDataset({ n: 64, shape: [1, 6, 6], numClasses: 5, seed: 4 });
  using net = tinyConvNet();
  using optimizer = new SGD(net.namedParameters(), { lr: 0.05 });
  const objective = pgdTraining({ threat, seed: 5, steps: 2 });
  const r = fit({
    model: net,
    optimizer,
    train: new BatchLoader(data, { batchSize: 16, seed: 1 }),
    epochs: 1,
    objective,
    quiet: true,
  });
  if (!(r.epochs[0].trainLoss > 0) || r.end.step !== 4) throw new Error(JSON.stringify(r));
  const s = objective.settings;
  const want = { objective: "pgd-at", norm: "linf", eps: 0.1, bnMode: "eval", seed: "5" };
  for (const [k, v] of Object.entries(want)) {
    if (s[k] !== v) throw new Error(`settings.${k} = ${s[k]}`);
  }
});

opTest("bad objective settings give clear errors", () => {
  assertThrowsMsg(() => pgdTraining({ threat: { norm: "linf", eps: -1 }, seed: 0 }), /pgd-at: eps/);
  assertThrowsMsg(() => pgdTraining({ threat, seed: 0, steps: 0 }), /steps must be an integer/);
  assertThrowsMsg(
    () => pgdTraining({ threat, seed: 0, bnMode: "frozen" as "eval" }),
    /pgd-at: unknown bnMode "frozen"/,
  );
  assertThrowsMsg(() => mixedTraining({ threat, seed: 0, weight: 2 }), /mixed: weight must be/);
  assertThrowsMsg(() => tradesTraining({ threat, seed: 0, beta: -1 }), /trades: beta must be/);
  assertThrowsMsg(
    () => pgdTraining({ threat, seed: 0, warmup: { epochs: 1, stepsPerEpoch: 0 } }),
    /warmup.stepsPerEpoch must be an integer >= 1/,
  );
  const x = full([2, 1, 4, 4], 0.5), y = tensor([0, 0], [2], { dtype: "i32" });
  assertThrowsMsg(
    () => pgdTraining({ threat, seed: 0, overfitting: { x, y, action: "switch" } }),
    /pgd-at: overfitting action "switch" needs an FGSM-based objective/,
  );
});

/** A held-out batch of 0.5-images with label 0, and the two behaviours of the masking net. */
function coCase() {
  return { x: full([8, 1, 4, 4], 0.5), y: tensor(new Int32Array(8), [8], { dtype: "i32" }) };
}

opTest("catastrophic overfitting: PGD accuracy collapses while FGSM's holds", () => {
  const { x, y } = coCase();
  const net = new MaskingNet();
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => warnings.push(m);
  try {
    const o = fgsmTraining({ threat: { norm: "linf", eps: 0.3 }, seed: 0, overfitting: { x, y } });
    net.masked = false;
    o.checkOverfitting(net, 0);
    net.masked = true;
    o.checkOverfitting(net, 100);
    const h = o.monitor!.history;
    if (h.length !== 2 || h[0].triggered || !h[1].triggered || o.monitor!.triggeredAt !== 100) {
      throw new Error(JSON.stringify(h));
    }
    if (h[1].pgdAccuracy !== 0 || h[1].fgsmAccuracy !== 1 || h[0].pgdAccuracy !== 1) {
      throw new Error(`accuracies ${JSON.stringify(h)}`);
    }
    if (warnings.length !== 1 || !/catastrophic overfitting at step 100/.test(warnings[0])) {
      throw new Error(`warnings: ${warnings}`);
    }
    if (o.settings.switchedToPgdAtStep !== undefined) throw new Error("warn must not switch");
  } finally {
    console.warn = warn;
  }
});

opTest("catastrophic overfitting: stop throws, switch moves FGSM training to PGD", () => {
  const { x, y } = coCase();
  const net = new MaskingNet();
  const threat3 = { norm: "linf" as const, eps: 0.3 };
  const stop = fgsmTraining({ threat: threat3, seed: 0, overfitting: { x, y, action: "stop" } });
  net.masked = false;
  stop.checkOverfitting(net, 0);
  net.masked = true;
  assertThrowsMsg(
    () => stop.checkOverfitting(net, 5),
    /catastrophic overfitting at step 5: PGD-10 accuracy on the held-out batch \(8 examples, linf eps 0.3\) fell from 100.0% \(step 0\) to 0.0%, while FGSM accuracy is 100.0%.*training stopped/,
  );
  const warn = console.warn;
  console.warn = () => {};
  try {
    const sw = fgsmTraining({
      threat: threat3,
      seed: 0,
      overfitting: { x, y, action: "switch", every: 2 },
    });
    net.masked = false;
    noGrad(() => tidy(() => sw.loss(net, x, y, pos(0)))); // check due at step 0
    tidy(() => sw.loss(net, x, y, pos(1))); // not due
    net.masked = true;
    tidy(() => sw.loss(net, x, y, pos(2))); // due: triggers and switches
    if (sw.monitor!.history.length !== 2) throw new Error("checks must run every 2 steps");
    if (sw.settings.switchedToPgdAtStep !== 2) throw new Error(JSON.stringify(sw.settings));
    const a = sw.settings.switchAttack as Record<string, unknown>;
    if (a.attack !== "pgd" || a.steps !== 10) throw new Error(JSON.stringify(a));
    const restored = fgsmTraining({
      threat: threat3,
      seed: 0,
      overfitting: { x, y, action: "switch" },
    });
    restored.restore(sw.state());
    if (restored.settings.switchedToPgdAtStep !== 2) throw new Error("restore lost the switch");
  } finally {
    console.warn = warn;
  }
});
