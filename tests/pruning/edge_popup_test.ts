/**
 * Edge-popup: the random network (signed constant / Kaiming normal, fan scaled by the kept
 * fraction, biases zero, batch norm at the identity), the kaiming-uniform score init, and score
 * training that never changes a weight and keeps exactly the requested count per layer.
 * @module
 */

import assert from "node:assert/strict";
import {
  BatchLoader,
  BatchNorm2d,
  Conv2d,
  createModel,
  fill,
  fit,
  getDefaultBackend,
  keptCount,
  Sequential,
  SGD,
  syntheticDataset,
} from "@topiary/core";
import { prunableLayers, randomizeForEdgePopup, ScoreSet } from "@topiary/pruning";
import { assertThrowsMsg } from "../_harness.ts";

function live(): number {
  return getDefaultBackend().memoryStats().liveBuffers;
}

Deno.test("edge-popup's random network: signed constants with the scaled fan, zero biases", () => {
  const before = live();
  const model = createModel("small_cnn", { seed: 4 });
  try {
    const all = prunableLayers(model);
    // The output layer stays dense: its fan is not scaled.
    const pruned = prunableLayers(model, { excludeOutput: true });
    const sparsity = 0.9;
    const r = randomizeForEdgePopup(model, pruned, {
      sparsity,
      init: "signed_constant",
      scaleFan: true,
      seed: 4,
    });
    for (const l of all) {
      const fan = l.weight.shape.slice(1).reduce((a, b) => a * b, 1);
      const k = keptCount(l.weight.size, sparsity) / l.weight.size;
      const scaled = pruned.some((p) => p.name === l.name);
      const c = Math.sqrt(2 / (fan * (scaled ? k : 1)));
      const w = l.weight.toArray() as Float32Array;
      let positive = 0;
      for (const v of w) {
        assert.ok(Math.abs(Math.abs(v) - c) < 1e-6 * c, `${l.name}: |${v}| != ${c}`);
        if (v > 0) positive++;
      }
      const frac = positive / w.length;
      assert.ok(frac > 0.4 && frac < 0.6, `${l.name}: ${frac} positive`);
      assert.ok(Math.abs(r.scales[l.name] - c) < 1e-9 * c);
      const b = l.layer.bias!.toArray() as Float32Array;
      assert.ok(b.every((x) => x === 0), `${l.name} bias`);
    }
    assert.deepEqual(r.frozenBiases, ["0.bias", "2.bias", "5.bias", "7.bias"]);
    // The draw depends on the seed only: the same call redraws the same weights.
    const first = all.map((l) => l.weight.toArray());
    randomizeForEdgePopup(model, pruned, {
      sparsity,
      init: "signed_constant",
      scaleFan: true,
      seed: 4,
    });
    all.forEach((l, i) => assert.deepEqual(l.weight.toArray(), first[i]));
    // Kaiming normal, unscaled: std sqrt(2 / fan_in).
    randomizeForEdgePopup(model, pruned, {
      sparsity,
      init: "kaiming_normal",
      scaleFan: false,
      seed: 4,
    });
    const w = all[2].weight.toArray() as Float32Array;
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert.ok(Math.abs(std / Math.sqrt(2 / 1568) - 1) < 0.02, `std ${std}`);
    assertThrowsMsg(
      () =>
        randomizeForEdgePopup(model, pruned, {
          sparsity: 1,
          init: "kaiming_normal",
          scaleFan: true,
          seed: 0,
        }),
      /sparsity must be in \[0, 1\)/,
    );
    assertThrowsMsg(
      () =>
        randomizeForEdgePopup(model, pruned, {
          sparsity: 0.5,
          init: "xavier" as never,
          scaleFan: true,
          seed: 0,
        }),
      /unknown init "xavier"/,
    );
    // Frozen random biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the same draw for the same seed.
    const u = randomizeForEdgePopup(model, pruned, {
      sparsity,
      init: "signed_constant",
      scaleFan: true,
      biases: "uniform",
      seed: 4,
    });
    assert.equal(u.biases, "uniform");
    const drawn = all.map((l) => l.layer.bias!.toArray() as Float32Array);
    all.forEach((l, i) => {
      const bound = 1 / Math.sqrt(l.weight.shape.slice(1).reduce((a, b) => a * b, 1));
      const b = drawn[i];
      assert.ok(b.every((x) => Math.abs(x) <= bound), `${l.name}: bias outside ±${bound}`);
      assert.ok(b.some((x) => x < 0) && b.some((x) => x > 0), `${l.name}: bias not random`);
      // The bound is fan_in's: the largest of 10+ draws reaches past half of it.
      const top = b.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      assert.ok(top > 0.5 * bound, `${l.name}: max |bias| ${top} of ±${bound}`);
    });
    randomizeForEdgePopup(model, pruned, {
      sparsity,
      init: "signed_constant",
      scaleFan: true,
      biases: "uniform",
      seed: 4,
    });
    all.forEach((l, i) => assert.deepEqual(l.layer.bias!.toArray(), drawn[i]));
    randomizeForEdgePopup(model, pruned, {
      sparsity,
      init: "signed_constant",
      scaleFan: true,
      biases: "uniform",
      seed: 5,
    });
    all.forEach((l, i) =>
      assert.notDeepEqual(l.layer.bias!.toArray(), drawn[i], `${l.name}: seed ignored`)
    );
    assertThrowsMsg(
      () =>
        randomizeForEdgePopup(model, pruned, {
          sparsity: 0.5,
          init: "signed_constant",
          scaleFan: true,
          biases: "normal" as never,
          seed: 0,
        }),
      /unknown biases "normal"/,
    );
  } finally {
    model.dispose();
  }
  assert.equal(live() - before, 0, "native buffers leaked");
});

Deno.test("edge-popup resets affine batch norm to the identity (non-affine batch norm)", () => {
  const bn = new BatchNorm2d(3);
  const model = new Sequential(new Conv2d(2, 3, 3), bn);
  try {
    fill(bn.weight!, 0.3);
    fill(bn.bias!, -2);
    const r = randomizeForEdgePopup(model, prunableLayers(model), {
      sparsity: 0.5,
      init: "signed_constant",
      scaleFan: false,
      seed: 0,
    });
    assert.deepEqual(r.identityBatchNorms, ["1"]);
    assert.deepEqual([...bn.weight!.toArray()], [1, 1, 1]);
    assert.deepEqual([...bn.bias!.toArray()], [0, 0, 0]);
  } finally {
    model.dispose();
  }
});

Deno.test("edge-popup score training never changes a weight and keeps exact counts", () => {
  const before = live();
  const model = createModel("small_cnn", { seed: 5 });
  const data = syntheticDataset({ n: 128, shape: [1, 28, 28], numClasses: 10, seed: 5 });
  const layers = prunableLayers(model);
  randomizeForEdgePopup(model, layers, {
    sparsity: 0.7,
    init: "signed_constant",
    scaleFan: true,
    seed: 5,
  });
  const scores = new ScoreSet(layers, {
    sparsity: 0.7,
    scope: "layerwise",
    init: "kaiming_uniform",
    seed: 5,
  });
  const opt = new SGD(scores.namedScores(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  try {
    // Scores start in U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and are not the weights' magnitudes.
    for (const l of layers) {
      const b = 1 / Math.sqrt(l.weight.shape.slice(1).reduce((a, c) => a * c, 1));
      const s = scores.scores.get(l.name)!.toArray() as Float32Array;
      assert.ok(s.every((v) => Math.abs(v) <= b), l.name);
      assert.ok(s.reduce((m, v) => Math.max(m, Math.abs(v)), 0) > 0.9 * b, l.name);
    }
    const weights = layers.map((l) => l.weight.toArray());
    const s0 = layers.map((l) => scores.scores.get(l.name)!.toArray());
    scores.attach();
    fit({
      model,
      optimizer: opt,
      train: new BatchLoader(data, { batchSize: 32, seed: 0 }),
      epochs: 2,
      quiet: true,
      beforeStep: () => scores.refresh(),
    });
    scores.refresh();
    layers.forEach((l, i) => {
      assert.deepEqual(l.weight.toArray(), weights[i], `${l.name} changed`);
      assert.notDeepEqual(scores.scores.get(l.name)!.toArray(), s0[i], `${l.name} scores`);
      const kept = (scores.mask(l.name).toArray() as Float32Array).reduce((a, b) => a + b, 0);
      assert.equal(kept, keptCount(l.weight.size, 0.7), l.name);
    });
    assertThrowsMsg(
      () => new ScoreSet(layers, { sparsity: 0.5, scope: "layerwise", init: "ones" as never }),
      /unknown init "ones"/,
    );
  } finally {
    scores.dispose();
    opt.dispose();
    model.dispose();
  }
  assert.equal(live() - before, 0, "native buffers leaked");
});
