/**
 * N:M masks: exactly N of every M weights along the input dimension, the largest by
 * magnitude (ties to the lower index), layers M does not divide left dense and reported.
 * @module
 */

import assert from "node:assert/strict";
import { createModel, getDefaultBackend, tidy } from "@topiary/core";
import { MaskSet, nmMask, prunableLayers, pruneNm } from "@topiary/pruning";
import { assertThrowsMsg } from "../_harness.ts";

Deno.test("2:4 masks keep exactly 2 of every 4 input weights, the largest", () => {
  const before = getDefaultBackend().memoryStats().liveBuffers;
  const model = createModel("lenet5", { seed: 3 });
  const masks = new MaskSet(prunableLayers(model));
  try {
    const weights = new Map(masks.layers.map((l) => [l.name, l.weight.toArray() as Float32Array]));
    const report = pruneNm(masks, { n: 2, m: 4 });
    // LeNet-5: conv1 has 1*5*5 = 25 and conv2 6*5*5 = 150 inputs per filter: not multiples of 4.
    assert.deepEqual(report.dense, [
      { name: "conv1.weight", inputSize: 25 },
      { name: "conv2.weight", inputSize: 150 },
    ]);
    assert.deepEqual(report.pruned, ["fc1.weight", "fc2.weight", "fc3.weight"]);
    tidy(() => {
      for (const l of masks.layers) {
        const mk = masks.mask(l.name).toArray(), w0 = weights.get(l.name)!;
        const w = l.weight.toArray();
        if (report.dense.some((d) => d.name === l.name)) {
          assert.ok(mk.every((v) => v === 1), `${l.name} should stay dense`);
          continue;
        }
        for (let g = 0; g < mk.length; g += 4) {
          const kept = [0, 1, 2, 3].filter((j) => mk[g + j] === 1);
          assert.equal(kept.length, 2, `${l.name} group ${g / 4}`);
          const dropped = [0, 1, 2, 3].filter((j) => mk[g + j] === 0);
          const minKept = Math.min(...kept.map((j) => Math.abs(w0[g + j])));
          const maxDropped = Math.max(...dropped.map((j) => Math.abs(w0[g + j])));
          assert.ok(minKept >= maxDropped, `${l.name} group ${g / 4} kept a smaller weight`);
          for (const j of dropped) assert.ok(w[g + j] === 0, "pruned weight not zero"); // ±0
        }
      }
    });
  } finally {
    masks.dispose();
    model.dispose();
  }
  assert.equal(getDefaultBackend().memoryStats().liveBuffers, before, "native buffers leaked");
});

Deno.test("N:M ties go to the lower index and bad N, M are refused", () => {
  assert.deepEqual(Array.from(nmMask(Float32Array.from([1, -1, 1, 1]), 4, 2, 4)), [1, 1, 0, 0]);
  assert.deepEqual(
    Array.from(nmMask(Float32Array.from([0, 3, -5, 1, 2, 0, 0, 2]), 8, 1, 4)),
    [0, 0, 1, 0, 1, 0, 0, 0],
  );
  assertThrowsMsg(() => nmMask(new Float32Array(6), 6, 2, 4), /6 columns are not a multiple of 4/);
  const model = createModel("small_cnn", { seed: 0 });
  const masks = new MaskSet(prunableLayers(model));
  try {
    assertThrowsMsg(() => pruneNm(masks, { n: 5, m: 4 }), /0 <= n <= m/);
  } finally {
    masks.dispose();
    model.dispose();
  }
});
