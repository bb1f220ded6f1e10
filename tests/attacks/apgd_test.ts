import { copyFromHost, Flatten, Linear, Sequential, tensor, tidy } from "@topiary/core";
import { apgd, apgdCheckpoints } from "@topiary/attacks";
import { apgdReduce } from "../../attacks/_apgd_core.ts";
import { assertClose, assertThrowsMsg, opTest } from "../_harness.ts";

opTest("APGD checkpoints: 22, 41, 57, 70, 80, 87, 93, 99 for 100 iterations", () => {
  const cases: [number, number[]][] = [
    [100, [22, 41, 57, 70, 80, 87, 93, 99]],
    [1000, [220, 410, 570, 700, 800, 870, 930, 990]],
    [10, [2, 3, 4, 5, 6, 7, 8, 9, 10]],
    [1, [1]],
  ];
  for (const [n, want] of cases) {
    const got = apgdCheckpoints(n);
    if (got.join() !== want.join()) throw new Error(`apgdCheckpoints(${n}) = ${got}`);
  }
  assertThrowsMsg(() => apgdCheckpoints(0), /apgdCheckpoints: steps must be an integer >= 1/);
});

opTest("APGD step-size conditions: few loss increases, or a stalled best loss", () => {
  // 22 steps since the last checkpoint, rho 0.75: halve below 16.5 increases.
  const r = apgdReduce([16, 17, 22, 22, 22], 22, 0.75, [0, 0, 1, 0, 0], [1, 1, 1, 2, 1], [
    2,
    2,
    1,
    2,
    2,
  ]);
  // 0: condition 1; 1: neither; 2: best unchanged but halved last time; 3: stalled; 4: grew.
  if (Array.from(r).join() !== "1,0,0,1,0") throw new Error(`decisions ${r}`);
  // 16 steps: exactly rho * 16 = 12 increases halves (the reference's "<="), 13 does not.
  const t = apgdReduce([12, 13], 16, 0.75, [0, 0], [1, 1], [2, 2]);
  if (Array.from(t).join() !== "1,0") throw new Error(`decisions at the threshold ${t}`);
});

/** A linear two-class model on [1, 2, 2] inputs: z = W x, so the CE is maximised at a corner. */
function linearNet(): Sequential {
  const lin = new Linear(4, 2, { bias: false });
  copyFromHost(lin.weight, Float32Array.from([1, -2, 0.5, 3, -1, 2, -0.5, -3]));
  return new Sequential(new Flatten(), lin);
}

opTest("APGD reaches the loss maximiser of a linear model (Linf corner, L2 direction)", () => {
  using net = linearNet();
  net.eval();
  const x0 = [0.5, 0.4, 0.6, 0.5, 0.3, 0.7, 0.5, 0.5];
  const x = tensor(x0, [2, 1, 2, 2]), y = tensor([0, 0], [2], { dtype: "i32" });
  const ctx = { seed: 0, indices: Int32Array.from([0, 1]) };
  // Both correctly classified as 0; d(CE)/dx is along w_1 - w_0 = (-2, 4, -1, -6).
  const d = [-2, 4, -1, -6];
  const eps = 0.1;
  const linf = tidy(() => apgd({ threat: { norm: "linf", eps }, steps: 20 }).run(net, x, y, ctx));
  const want = x0.map((v, i) => v + eps * Math.sign(d[i % 4]));
  assertClose(linf.toArray(), want, 1e-6, 0, "linf");
  const l2 = tidy(() => apgd({ threat: { norm: "l2", eps }, steps: 50 }).run(net, x, y, ctx));
  const nd = Math.hypot(...d);
  const wantL2 = x0.map((v, i) => v + eps * d[i % 4] / nd);
  assertClose(l2.toArray(), wantL2, 2e-3, 0, "l2");
});

opTest("APGD settings errors name the setting", () => {
  const threat = { norm: "linf" as const, eps: 0.1 };
  assertThrowsMsg(() => apgd({ threat, momentum: -1 }), /apgd: momentum must be/);
  assertThrowsMsg(() => apgd({ threat, initialStep: -1 }), /apgd: initialStep must be/);
  assertThrowsMsg(() => apgd({ threat, restarts: 1.5 }), /apgd: restarts must be an integer/);
});
