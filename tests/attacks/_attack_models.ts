/**
 * Tiny seeded models and batches for the attack tests.
 * @module
 */

import {
  argmax,
  BatchNorm2d,
  Conv2d,
  Flatten,
  initParameters,
  Linear,
  type Module,
  noGrad,
  philoxUniform,
  ReLU,
  Sequential,
  type Tensor,
  tensor,
  tidy,
} from "@topiary/core";
import {
  apgd,
  apgdTargeted,
  type Attack,
  type AttackContext,
  fgsm,
  type Norm,
  pgd,
  square,
  TradesAttack,
} from "@topiary/attacks";

/** Images [1, 6, 6], 5 classes: conv, batch norm, relu, linear. */
export function tinyConvNet(seed = 1): Sequential {
  const net = new Sequential(
    new Conv2d(1, 4, 3, { padding: 1 }),
    new BatchNorm2d(4),
    new ReLU(),
    new Flatten(),
    new Linear(4 * 6 * 6, 5),
  );
  initParameters(net, { seed });
  return net;
}

/** Images [1, 6, 6], 5 classes: flatten, 36 -> 16 -> 5. */
export function tinyMlp(seed = 2): Sequential {
  const net = new Sequential(new Flatten(), new Linear(36, 16), new ReLU(), new Linear(16, 5));
  initParameters(net, { seed });
  return net;
}

/** A batch of n images [1, 6, 6] in [0, 1) with labels in 0..4 and indices `first`.. . */
export function tinyBatch(n: number, first = 0): { x: Tensor; y: Tensor; ctx: AttackContext } {
  const xs = new Float32Array(n * 36), ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    xs.set(philoxUniform(36, 3, "tiny-x", first + i), i * 36);
    ys[i] = (first + i) % 5;
  }
  return {
    x: tensor(xs, [n, 1, 6, 6]),
    y: tensor(ys, [n], { dtype: "i32" }),
    ctx: { seed: 9, indices: Int32Array.from({ length: n }, (_, i) => first + i) },
  };
}

/** Every attack with small settings for a threat model (5 classes). */
export function allAttacks(norm: Norm, eps: number): Attack[] {
  const threat = { norm, eps };
  return [
    fgsm({ threat }),
    fgsm({ threat, randomStart: true }),
    pgd({ threat, steps: 5 }),
    pgd({ threat, steps: 5, loss: "cw", restarts: 2 }),
    pgd({ threat, steps: 5, keepBest: false, randomStart: false }),
    apgd({ threat, steps: 12 }),
    apgd({ threat, steps: 12, loss: "dlr", restarts: 2 }),
    apgdTargeted({ threat, steps: 10, targets: 3 }),
    square({ threat, queries: 40 }),
    new TradesAttack({ threat, steps: 3 }),
    ...(norm === "linf" ? [pgd({ threat, steps: 5, start: "vertex" as const, restarts: 2 })] : []),
  ];
}

/** Largest |a - b| and largest per-example L2 norm of a - b (rows of `dim` values). */
export function perturbation(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dim: number,
): { linf: number; l2: number; lo: number; hi: number } {
  let linf = 0, l2 = 0, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < a.length / dim; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const v = a[i * dim + j], d = v - b[i * dim + j];
      linf = Math.max(linf, Math.abs(d));
      s += d * d;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    l2 = Math.max(l2, Math.sqrt(s));
  }
  return { linf, l2, lo, hi };
}

/** Host copies of a module's state (parameters and buffers) and the params' flags. */
export function snapshot(m: Module): { values: Map<string, Float32Array>; flags: string } {
  const values = new Map<string, Float32Array>();
  for (const [k, t] of m.stateDict()) values.set(k, Float32Array.from(t.toArray()));
  const flags = m.namedParameters().map(([k, t]) => `${k}:${t.requiresGrad}`).join() + "|" +
    m.namedModules().map(([k, c]) => `${k}:${c.training}`).join();
  return { values, flags };
}

/** The model's own predictions as labels (so every example starts correctly classified). */
export function predicted(net: Module, x: Tensor): Tensor {
  return tidy(() => noGrad(() => argmax(net.forward(x), 1)));
}
