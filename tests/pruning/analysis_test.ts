/**
 * Network analysis: units with no input, unreachable units, units with no path to the output,
 * weights on no input-to-output path, and units that never fire on a probe batch, on a
 * SmallCNN with hand-made holes.
 * @module
 */

import assert from "node:assert/strict";
import {
  copyFromHost,
  createModel,
  getDefaultBackend,
  max,
  noGrad,
  relu,
  type Tensor,
  tidy,
  uniform,
} from "@topiary/core";
import { analyzeNetwork } from "@topiary/pruning";
import { assertThrowsMsg } from "../_harness.ts";

function edit(t: Tensor, f: (v: Float32Array) => void): void {
  const v = t.toArray() as Float32Array;
  f(v);
  noGrad(() => copyFromHost(t, v));
}

Deno.test("analysis: no-input, unreachable and no-path units, disconnected weights, dead units", () => {
  const before = getDefaultBackend().memoryStats().liveBuffers;
  const model = createModel("small_cnn", { seed: 8 });
  const p = new Map(model.namedParameters());
  try {
    const dense = analyzeNetwork(model);
    assert.equal(dense.disconnectedWeights, 0);
    assert.equal(dense.nonzeroWeights, 166406 - 16 - 32 - 100 - 10);
    assert.deepEqual(dense.layers.map((l) => [l.name, l.units, l.noInput]), [
      ["0", 16, 0],
      ["2", 32, 0],
      ["5", 100, 0],
      ["7", 10, 0],
    ]);
    // conv1 filter 3 loses its inputs; fc1 reads nothing of conv2 channel 5; fc1 unit 7 has
    // no inputs.
    edit(p.get("0.weight")!, (v) => v.fill(0, 3 * 16, 4 * 16));
    edit(p.get("5.weight")!, (v) => {
      for (let r = 0; r < 100; r++) v.fill(0, r * 1568 + 5 * 49, r * 1568 + 6 * 49);
      v.fill(0, 7 * 1568, 8 * 1568);
    });
    edit(p.get("0.bias")!, (v) => (v[3] = -1));
    const probe = uniform([64, 1, 28, 28], { seed: 0, stream: "probe" });
    try {
      const a = analyzeNetwork(model, probe);
      const by = Object.fromEntries(a.layers.map((l) => [l.name, l]));
      assert.equal(by["0"].noInput, 1);
      assert.equal(by["0"].unreachable, 1);
      assert.equal(by["2"].noPathToOutput, 1);
      assert.equal(by["5"].noInput, 1);
      assert.equal(by["5"].unreachable, 1);
      assert.equal(by["2"].unreachable + by["7"].unreachable + by["0"].noPathToOutput, 0);
      // conv2's weights from channel 3 (32·16), conv2 filter 5's weights (16·16, of which the
      // 16 from channel 3 are already counted), fc2's weights from unit 7 (10).
      assert.equal(a.disconnectedWeights, 512 + 256 - 16 + 10);
      assert.equal(a.probeImages, 64);
      // Dead units on the probe, against a direct computation of conv1 + ReLU.
      const direct = tidy(() => {
        const conv1 = model.namedModules().find(([n]) => n === "0")![1];
        const h = relu(conv1.forward(probe));
        return (max(h, [0, 2, 3]).toArray() as Float32Array).filter((x) => x <= 0).length;
      });
      assert.ok(direct >= 1);
      assert.equal(by["0"].deadOnProbe, direct);
      assert.equal(by["7"].deadOnProbe, null, "no ReLU after the output layer");
    } finally {
      probe.dispose();
    }
  } finally {
    model.dispose();
  }
  assert.equal(getDefaultBackend().memoryStats().liveBuffers - before, 0, "leak");
  const r = createModel("resnet18", { seed: 0 });
  try {
    assertThrowsMsg(() => analyzeNetwork(r), /needs a sequential network/);
  } finally {
    r.dispose();
  }
});
