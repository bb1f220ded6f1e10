import { type Module, noGrad, Sequential, tensor, tidy } from "@topiary/core";
import { apgd, apgdTargeted, fgsm, type Norm, pgd, square, TradesAttack } from "@topiary/attacks";
import { assertThrowsMsg, opTest } from "../_harness.ts";
import {
  allAttacks,
  perturbation,
  snapshot,
  tinyBatch,
  tinyConvNet,
  tinyMlp,
} from "./_attack_models.ts";

const EPS: Record<Norm, number> = { linf: 0.1, l2: 0.5 };

for (const norm of ["linf", "l2"] as const) {
  opTest(`every attack stays in the ${norm} eps-ball and in [0, 1], input untouched`, () => {
    using net = tinyConvNet();
    net.eval();
    const { x, y, ctx } = tinyBatch(7);
    const x0 = Float32Array.from(x.toArray());
    const eps = EPS[norm];
    for (const a of allAttacks(norm, eps)) {
      tidy(() => {
        const adv = a.run(net, x, y, ctx);
        if (adv.shape.join() !== x.shape.join() || adv.dtype !== "f32" || adv === x) {
          throw new Error(`${a.name}: output ${adv} is not a new tensor of x's shape`);
        }
        if (adv.requiresGrad) throw new Error(`${a.name}: the output requires a gradient`);
        const p = perturbation(adv.toArray(), x0, 36);
        const bound = norm === "linf" ? p.linf <= eps + 1e-6 : p.l2 <= eps * (1 + 1e-5);
        if (!bound || p.lo < 0 || p.hi > 1) {
          throw new Error(
            `${a.name} ${norm}: linf ${p.linf}, l2 ${p.l2}, range [${p.lo}, ${p.hi}]`,
          );
        }
        if (p.linf === 0 && a.name !== "fgsm") {
          // every attack but plain FGSM at a zero gradient moves something
          throw new Error(`${a.name} ${norm}: no example moved`);
        }
      });
    }
    const after = x.toArray();
    if (!after.every((v, i) => v === x0[i])) throw new Error("an attack modified its input x");
  });
}

opTest("eps = 0 returns the inputs (within rounding) for every attack", () => {
  using net = tinyMlp();
  const { x, y, ctx } = tinyBatch(4);
  for (const norm of ["linf", "l2"] as const) {
    for (const a of allAttacks(norm, 0)) {
      const p = tidy(() => perturbation(a.run(net, x, y, ctx).toArray(), x.toArray(), 36));
      if (p.linf > 1e-7) throw new Error(`${a.name} ${norm}: moved ${p.linf} at eps 0`);
    }
  }
});

function checkUntouched(net: Module, what: string, run: () => void): void {
  const before = snapshot(net);
  run();
  const after = snapshot(net);
  if (after.flags !== before.flags) {
    throw new Error(`${what}: flags changed\n${before.flags}\n${after.flags}`);
  }
  for (const [k, v] of before.values) {
    const w = after.values.get(k)!;
    if (!v.every((e, i) => e === w[i])) throw new Error(`${what}: ${k} changed`);
  }
}

opTest("attacks leave parameters, buffers, requiresGrad and eval mode untouched", () => {
  using net = tinyConvNet();
  net.eval();
  const { x, y, ctx } = tinyBatch(5);
  for (const a of [...allAttacks("linf", 0.1), ...allAttacks("l2", 0.5)]) {
    checkUntouched(net, a.name, () => tidy(() => a.run(net, x, y, ctx)));
  }
});

opTest("attacks keep train mode (batch norm updates running stats there, as PyTorch)", () => {
  using net = tinyConvNet();
  net.train();
  const { x, y, ctx } = tinyBatch(5);
  const params = () => net.namedParameters().map(([, t]) => Array.from(t.toArray()).join());
  const before = params();
  const mean0 = Array.from(net.stateDict().get("1.running_mean")!.toArray()).join();
  for (const a of allAttacks("linf", 0.1)) tidy(() => a.run(net, x, y, ctx));
  if (!net.namedModules().every(([, m]) => m.training)) throw new Error("train mode was lost");
  if (params().join("|") !== before.join("|")) throw new Error("parameters changed");
  if (Array.from(net.stateDict().get("1.running_mean")!.toArray()).join() === mean0) {
    throw new Error("train-mode forward passes should update batch-norm running statistics");
  }
});

opTest("a mixed-mode model keeps each module's mode", () => {
  using net = tinyConvNet();
  net.train();
  net.at(1).eval();
  const { x, y, ctx } = tinyBatch(3);
  checkUntouched(
    net,
    "pgd",
    () => tidy(() => pgd({ threat: { norm: "linf", eps: 0.1 } }).run(net, x, y, ctx)),
  );
});

opTest("attacks work inside noGrad (evaluation code): same result as outside", () => {
  using net = tinyMlp();
  const { x, y, ctx } = tinyBatch(3);
  const a = pgd({ threat: { norm: "linf", eps: 0.1 }, keepBest: false });
  const outside = tidy(() => a.run(net, x, y, ctx).toArray());
  const inside = noGrad(() => tidy(() => a.run(net, x, y, ctx).toArray()));
  const p = perturbation(inside, x.toArray(), 36);
  if (!(p.linf > 0)) throw new Error("PGD inside noGrad did not move the inputs");
  if (!inside.every((v, i) => v === outside[i])) throw new Error("noGrad changed the result");
});

opTest("bad threat models and settings give errors naming the setting", () => {
  const lin = { norm: "linf" as const, eps: 0.1 };
  const cases: [() => unknown, RegExp][] = [
    [
      () => pgd({ threat: { norm: "linf", eps: -0.1 } }),
      /pgd: eps must be a finite number >= 0, got -0.1/,
    ],
    [() => pgd({ threat: { norm: "l1" as Norm, eps: 0.1 } }), /pgd: unknown norm "l1"/],
    [() => pgd({ threat: { norm: "linf", eps: NaN } }), /eps must be a finite number/],
    [() => pgd(undefined as never), /threat model must be \{ norm, eps \}/],
    [() => pgd({ threat: lin, steps: 0 }), /pgd: steps must be an integer >= 1, got 0/],
    [
      () => pgd({ threat: { norm: "l2", eps: 1 }, start: "vertex" }),
      /start "vertex" needs the linf norm/,
    ],
    [() => pgd({ threat: lin, steps: 2.5 }), /steps must be an integer >= 1, got 2.5/],
    [() => pgd({ threat: lin, restarts: 0 }), /pgd: restarts must be an integer >= 1/],
    [() => pgd({ threat: lin, stepSize: -1 }), /pgd: stepSize must be a finite number >= 0/],
    [() => pgd({ threat: lin, loss: "dlr" as "ce" }), /pgd: unknown loss "dlr"/],
    [() => fgsm({ threat: { norm: "linf", eps: -1 } }), /fgsm: eps must be/],
    [() => fgsm({ threat: lin, loss: "x" as "ce" }), /fgsm: unknown loss "x"/],
    [() => apgd({ threat: lin, loss: "cw" as "ce" }), /apgd: unknown loss "cw"/],
    [() => apgd({ threat: lin, steps: 0 }), /apgd: steps must be an integer >= 1/],
    [() => apgd({ threat: lin, rho: 2 }), /apgd: rho must be a finite number in \[0, 1\]/],
    [() => apgdTargeted({ threat: lin, targets: 0 }), /apgd-t: targets must be an integer >= 1/],
    [() => square({ threat: lin, queries: 0 }), /square: queries must be an integer >= 1/],
    [
      () => square({ threat: lin, pInit: 1.5 }),
      /square: pInit must be a finite number in \[0, 1\]/,
    ],
    [() => square({ threat: lin, loss: "cw" as "ce" }), /square: unknown loss "cw"/],
    [() => new TradesAttack({ threat: { norm: "linf", eps: Infinity } }), /trades: eps must be/],
  ];
  for (const [fn, re] of cases) assertThrowsMsg(fn, re);
});

opTest("bad batches and contexts give clear errors", () => {
  using net = tinyMlp();
  const { x, y, ctx } = tinyBatch(3);
  const a = pgd({ threat: { norm: "linf", eps: 0.1 } });
  assertThrowsMsg(
    () => a.run(net, x, y, { seed: 1, indices: new Int32Array(2) }),
    /ctx.indices has 2 entries for a batch of 3/,
  );
  assertThrowsMsg(
    () => a.run(net, x, y, { seed: -1, indices: ctx.indices }),
    /ctx.seed must be a non-negative integer/,
  );
  assertThrowsMsg(() => a.run(net, x, y, { ...ctx, round: -2 }), /ctx.round must be an integer/);
  assertThrowsMsg(() => a.run(net, x, tensor([0, 1, 2], [3]), ctx), /y must be i32 \[3\] labels/);
  assertThrowsMsg(
    () => apgdTargeted({ threat: { norm: "linf", eps: 0.1 }, targets: 9 }).run(net, x, y, ctx),
    /apgd-t: targets \(9\) must be at most the number of classes - 1 \(4\)/,
  );
  const flat = tensor(new Float32Array(3 * 36), [3, 36]);
  assertThrowsMsg(
    () => square({ threat: { norm: "linf", eps: 0.1 } }).run(new Sequential(), flat, y, ctx),
    /square: x must be images \[N, C, H, W\]/,
  );
});

opTest("settings() records every setting, defaults included", () => {
  const threat = { norm: "linf" as const, eps: 0.3 };
  const want: [Record<string, unknown>, Record<string, unknown>][] = [
    [pgd({ threat }).settings(), {
      attack: "pgd",
      norm: "linf",
      eps: 0.3,
      steps: 10,
      stepSize: 0.075,
      restarts: 1,
      loss: "ce",
      randomStart: true,
      keepBest: true,
    }],
    [fgsm({ threat, randomStart: true }).settings(), {
      attack: "fgsm",
      norm: "linf",
      eps: 0.3,
      randomStart: true,
      stepSize: 0.375,
      loss: "ce",
    }],
    [apgd({ threat, loss: "dlr" }).settings(), {
      attack: "apgd",
      loss: "dlr",
      norm: "linf",
      eps: 0.3,
      steps: 100,
      restarts: 1,
      rho: 0.75,
      momentum: 0.75,
      initialStep: 2,
      checkpoints: [22, 41, 57, 70, 80, 87, 93, 99],
    }],
    [apgdTargeted({ threat }).settings(), {
      attack: "apgd-t",
      loss: "dlr-targeted",
      targets: 9,
      norm: "linf",
      eps: 0.3,
      steps: 100,
      restarts: 1,
      rho: 0.75,
      momentum: 0.75,
      initialStep: 2,
      checkpoints: [22, 41, 57, 70, 80, 87, 93, 99],
    }],
    [square({ threat }).settings(), {
      attack: "square",
      norm: "linf",
      eps: 0.3,
      queries: 5000,
      pInit: 0.8,
      restarts: 1,
      loss: "margin",
      rescaleSchedule: true,
    }],
  ];
  for (const [got, exp] of want) {
    if (JSON.stringify(got) !== JSON.stringify(exp)) {
      throw new Error(`settings ${JSON.stringify(got)} != ${JSON.stringify(exp)}`);
    }
  }
  const names = [
    pgd({ threat }),
    pgd({ threat, loss: "cw" }),
    fgsm({ threat }),
    apgd({ threat }),
    apgd({ threat, loss: "dlr" }),
    apgdTargeted({ threat }),
    square({ threat }),
  ].map((a) => a.name);
  if (names.join() !== "pgd-ce,pgd-cw,fgsm,apgd-ce,apgd-dlr,apgd-t,square") {
    throw new Error(names.join());
  }
});

opTest("attack iterations compute only the input gradient (no conv backward-weights)", (b) => {
  const sym = b.sym as unknown as Record<string, (...a: unknown[]) => number>;
  const original = sym.tp_conv2d_bwd_weights, bwdData = sym.tp_conv2d_bwd_data;
  let weights = 0, data = 0;
  sym.tp_conv2d_bwd_weights = (...a: unknown[]) => (weights++, original(...a));
  sym.tp_conv2d_bwd_data = (...a: unknown[]) => (data++, bwdData(...a));
  try {
    using net = tinyConvNet();
    net.eval();
    const { x, y, ctx } = tinyBatch(4);
    for (const a of [...allAttacks("linf", 0.1), ...allAttacks("l2", 0.5)]) {
      tidy(() => a.run(net, x, y, ctx));
    }
  } finally {
    sym.tp_conv2d_bwd_weights = original;
    sym.tp_conv2d_bwd_data = bwdData;
  }
  if (weights !== 0 || data === 0) {
    throw new Error(`conv backward-weights ran ${weights} times (backward-data ${data})`);
  }
});

opTest(
  "PGD's vertex start puts every coordinate at a corner of the Linf ball (or a [0, 1] bound)",
  () => {
    using net = tinyMlp();
    const { x, y, ctx } = tinyBatch(5);
    const eps = 0.1;
    const a = pgd({
      threat: { norm: "linf", eps },
      steps: 1,
      stepSize: 0,
      start: "vertex",
      keepBest: false,
    });
    const adv = tidy(() => a.run(net, x, y, ctx).toArray());
    const x0 = x.toArray();
    for (let i = 0; i < x0.length; i++) {
      const d = Math.abs(adv[i] - x0[i]);
      const atBound = adv[i] === 0 || adv[i] === 1;
      if (!(Math.abs(d - eps) < 1e-6 || atBound)) {
        throw new Error(`coordinate ${i}: moved ${d}, not eps and not at a bound`);
      }
    }
    if (a.settings().start !== "vertex") throw new Error("the start is not recorded");
  },
);
