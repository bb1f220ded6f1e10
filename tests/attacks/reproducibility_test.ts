import { cat, slice, tidy } from "@topiary/core";
import {
  apgd,
  apgdTargeted,
  type Attack,
  drawCounter,
  fgsm,
  pgd,
  square,
  squareP,
} from "@topiary/attacks";
import { opTest } from "../_harness.ts";
import { allAttacks, predicted, tinyBatch, tinyConvNet } from "./_attack_models.ts";

opTest("Square's p schedule halves p at AutoAttack's iterations", () => {
  const at = (it: number, q = 10000, rescale = true) => squareP(0.8, it, q, rescale);
  const want: [number, number][] = [[0, 0.8], [10, 0.8], [11, 0.4], [50, 0.4], [51, 0.2]];
  want.push([201, 0.1], [501, 0.05], [1001, 0.025], [2001, 0.0125], [8001, 0.8 / 512]);
  for (const [it, p] of want) if (at(it) !== p) throw new Error(`p(${it}) = ${at(it)}`);
  if (at(2, 1000) !== 0.4 || at(1, 1000) !== 0.8) throw new Error("rescaled schedule");
  if (at(11, 1000, false) !== 0.4) throw new Error("schedule without rescaling");
});

opTest("draw counters: round * 2^32 + dataset index", () => {
  const c = drawCounter({ seed: 1, indices: Int32Array.from([7, 123456]), round: 3 }, 1);
  if (c !== 3n * 2n ** 32n + 123456n) throw new Error(`counter ${c}`);
});

function runArray(a: Attack, seed: number, n: number, first = 0, eval_ = true) {
  using net = tinyConvNet();
  if (eval_) net.eval();
  const { x, ctx } = tinyBatch(n, first);
  return tidy(() => a.run(net, x, predicted(net, x), { ...ctx, seed }).toArray());
}

opTest("same seed and indices give identical outputs; another seed differs", () => {
  for (const norm of ["linf", "l2"] as const) {
    for (const a of allAttacks(norm, norm === "linf" ? 0.1 : 0.5)) {
      const r1 = runArray(a, 5, 6), r2 = runArray(a, 5, 6);
      if (!r1.every((v, i) => v === r2[i])) throw new Error(`${a.name} ${norm}: not reproducible`);
      const random = !(a.name === "fgsm") &&
        !(a.name === "pgd-ce" && !(a.settings().randomStart as boolean));
      if (random) {
        const r3 = runArray(a, 6, 6);
        if (r1.every((v, i) => v === r3[i])) throw new Error(`${a.name} ${norm}: ignores the seed`);
      }
    }
  }
});

opTest("an example's adversarial output does not depend on the batch it is in", () => {
  const threat = { norm: "linf" as const, eps: 0.1 };
  const attacks: Attack[] = [
    pgd({ threat, steps: 5 }),
    pgd({ threat, steps: 5, restarts: 3, loss: "cw" }),
    pgd({ threat: { norm: "l2", eps: 0.5 }, steps: 5, keepBest: false }),
    fgsm({ threat, randomStart: true }),
    apgd({ threat, steps: 10, restarts: 2 }),
    apgdTargeted({ threat, steps: 10, targets: 2 }),
    square({ threat, queries: 30 }),
  ];
  using net = tinyConvNet();
  net.eval();
  // Examples 0..7 in one batch, and examples 4..7 with others (indices 20..23) in another.
  const a = tinyBatch(8, 0), b = tinyBatch(4, 20);
  const x2 = cat([slice(a.x, 0, 4, 8), b.x]), y2 = cat([slice(a.y, 0, 4, 8), b.y]);
  const ctx2 = { seed: 9, indices: Int32Array.from([4, 5, 6, 7, 20, 21, 22, 23]) };
  for (const atk of attacks) {
    tidy(() => {
      const full = atk.run(net, a.x, a.y, a.ctx).toArray();
      const mixed = atk.run(net, x2, y2, ctx2).toArray();
      for (let k = 0; k < 4 * 36; k++) {
        const d = Math.abs(full[4 * 36 + k] - mixed[k]);
        if (d > 1e-6) throw new Error(`${atk.name}: element ${k} differs by ${d}`);
      }
    });
  }
});
