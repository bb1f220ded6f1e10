/**
 * Smooth-gradient attacks: ReLU's surrogate backward is sigmoid(β·x) (so a large β gives the
 * exact gradient and the forward pass never changes), and PGD with `reluSurrogate` records it
 * and stays in the ball.
 * @module
 */

import assert from "node:assert/strict";
import { apgd, apgdTargeted, pgd } from "@topiary/attacks";
import {
  createModel,
  getDefaultBackend,
  grad,
  relu,
  sum,
  Tensor,
  tidy,
  uniform,
  withGrad,
  withReluSurrogate,
} from "@topiary/core";
import { assertClose, assertThrowsMsg } from "../_harness.ts";

Deno.test("withReluSurrogate: gradient sigmoid(βx), exact forward, exact as β grows", () => {
  tidy(() => {
    const x = Tensor.fromHost([-2, -0.1, 0, 0.1, 2], [5]);
    x.requiresGrad = true;
    const g = withGrad(() => withReluSurrogate(3, () => grad(sum(relu(x)), [x])[0]));
    const want = [-2, -0.1, 0, 0.1, 2].map((v) => 1 / (1 + Math.exp(-3 * v)));
    assertClose(g.toArray() as Float32Array, want, 1e-6, 1e-6, "sigmoid(3x)");
    assert.deepEqual(
      [...withReluSurrogate(3, () => relu(x)).toArray()],
      [0, 0, 0, 0.1, 2].map(Math.fround),
    );
    assertThrowsMsg(() => withReluSurrogate(0, () => 0), /beta must be a positive number/);
  });
  // A network's input gradient: β = 1e6 matches the exact one.
  const before = getDefaultBackend().memoryStats().liveBuffers;
  const model = createModel("small_cnn", { seed: 3 });
  try {
    tidy(() => {
      const x = uniform([4, 1, 28, 28], { seed: 0, stream: "sur-x" });
      x.requiresGrad = true;
      const exact = withGrad(() => grad(sum(model.forward(x)), [x])[0]).toArray() as Float32Array;
      const near = withGrad(() => withReluSurrogate(1e6, () => grad(sum(model.forward(x)), [x])[0]))
        .toArray() as Float32Array;
      const soft = withGrad(() => withReluSurrogate(1, () => grad(sum(model.forward(x)), [x])[0]))
        .toArray() as Float32Array;
      // Pre-activations within ~1e-6 of 0 still differ: compare in aggregate.
      const dev = near.reduce((a, v, i) => a + Math.abs(v - exact[i]), 0);
      const mag = exact.reduce((a, v) => a + Math.abs(v), 0);
      assert.ok(dev / mag < 1e-3, `beta 1e6: relative deviation ${dev / mag}`);
      assert.ok(soft.some((v, i) => Math.abs(v - exact[i]) > 1e-3), "beta 1 differs");
    });
  } finally {
    model.dispose();
  }
  assert.equal(getDefaultBackend().memoryStats().liveBuffers - before, 0, "leak");
});

Deno.test("PGD with reluSurrogate records it and stays in the ball", () => {
  const model = createModel("small_cnn", { seed: 4 }).eval();
  try {
    tidy(() => {
      const threat = { norm: "linf" as const, eps: 0.1 };
      const a = pgd({ threat, steps: 5, reluSurrogate: 10 });
      assert.equal(a.name, "pgd-ce-smooth10");
      assert.equal(a.settings().reluSurrogate, 10);
      const x = uniform([6, 1, 28, 28], { seed: 1, stream: "sur-pgd" });
      const y = Tensor.fromHost(Int32Array.from([0, 1, 2, 3, 4, 5]), [6], "i32");
      const adv = a.run(model, x, y, { seed: 0, indices: Int32Array.from([0, 1, 2, 3, 4, 5]) });
      const d = (adv.toArray() as Float32Array).map((v, i) =>
        Math.abs(v - (x.toArray() as Float32Array)[i])
      );
      assert.ok(d.every((v) => v <= 0.1 + 1e-6));
      assertThrowsMsg(() => pgd({ threat, reluSurrogate: 0 }), /reluSurrogate must be > 0/);
      // APGD's smooth variants: named, recorded, in the ball.
      const at = apgdTargeted({ threat, steps: 5, targets: 2, reluSurrogate: 10 });
      assert.equal(at.name, "apgd-t-smooth10");
      assert.equal(at.settings().reluSurrogate, 10);
      const ce = apgd({ threat, steps: 5, reluSurrogate: 10 });
      assert.equal(ce.name, "apgd-ce-smooth10");
      const ctx = { seed: 0, indices: Int32Array.from([0, 1, 2, 3, 4, 5]) };
      for (const atk of [at, ce]) {
        const z = (atk.run(model, x, y, ctx).toArray() as Float32Array).map((v, i) =>
          Math.abs(v - (x.toArray() as Float32Array)[i])
        );
        assert.ok(z.every((v) => v <= 0.1 + 1e-6), atk.name);
      }
      assertThrowsMsg(
        () => apgd({ threat, reluSurrogate: -1 }),
        /reluSurrogate must be a positive number/,
      );
    });
  } finally {
    model.dispose();
  }
});
