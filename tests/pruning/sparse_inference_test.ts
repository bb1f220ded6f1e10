/**
 * Sparse inference of a pruned network: the converted model computes what the masked dense
 * model computes, layers are chosen by threshold or by measurement, and disposing restores
 * the dense forward.
 * @module
 */

import assert from "node:assert/strict";
import { createModel, getDefaultBackend, noGrad, tidy, uniform } from "@topiary/core";
import { MaskSet, prunableLayers, prune, pruneNm, toSparseInference } from "@topiary/pruning";
import { assertClose, assertThrowsMsg, values } from "../_harness.ts";

const hasSparse = getDefaultBackend().supportsOp("tp_sparse_conv2d_fwd");

Deno.test({
  name: "a 90%-pruned SmallCNN runs sparse with the masked model's outputs",
  ignore: !hasSparse,
  fn: () => {
    const before = getDefaultBackend().memoryStats().liveBuffers;
    const model = createModel("small_cnn", { seed: 5 }).eval();
    const masks = new MaskSet(prunableLayers(model));
    try {
      tidy(() => check(model));
    } finally {
      masks.dispose();
      model.dispose();
    }
    assert.equal(getDefaultBackend().memoryStats().liveBuffers, before, "native buffers leaked");

    function check(model: ReturnType<typeof createModel>) {
      prune(masks, { sparsity: 0.9, scope: "layerwise", criterion: "magnitude" });
      const x = uniform([6, 1, 28, 28], { seed: 1, stream: "sparse-inference-x" });
      const dense = noGrad(() => values(model.forward(x)));
      // Threshold 1: every layer sparse.
      const all = toSparseInference(model, { batch: 6, threshold: 1 });
      assert.deepEqual(all.layers.map((l) => l.kernel), ["sparse", "sparse", "sparse", "sparse"]);
      assert.deepEqual(all.layers.map((l) => l.name), ["0", "2", "5", "7"]);
      for (const l of all.layers) assert.ok(Math.abs(l.density - 0.1) < 0.01, `${l.name}`);
      assert.deepEqual(all.layers[2].inputShape, [6, 1568]);
      assertClose(noGrad(() => values(model.forward(x))), dense, 1e-5, 1e-4, "all sparse");
      assertThrowsMsg(() => tidy(() => model.forward(x)), /no backward pass/);
      all.dispose();
      // Threshold 0: nothing converted; measured: each layer timed both ways.
      const none = toSparseInference(model, { batch: 6, threshold: 0 });
      assert.ok(none.layers.every((l) => l.kernel === "dense"));
      none.dispose();
      const measured = toSparseInference(model, { batch: 6, repeats: 2, layers: ["2", "5"] });
      assert.deepEqual(measured.layers.map((l) => l.name), ["2", "5"]);
      for (const l of measured.layers) {
        assert.ok(l.denseMs! > 0 && l.sparseMs! > 0);
        // Faster alone -> sparse, unless the whole-network check turned it back.
        const alone = l.sparseMs! < l.denseMs! ? "sparse" : "dense";
        assert.equal(l.kernel, l.revertedByNetworkCheck ? "dense" : alone);
        if (l.revertedByNetworkCheck) assert.equal(alone, "sparse");
      }
      assertClose(noGrad(() => values(model.forward(x))), dense, 1e-5, 1e-4, "measured");
      measured.dispose();
      // Disposed: the dense forward again, gradients allowed.
      tidy(() => model.forward(x));
    }
  },
});

Deno.test({
  name: "a 2:4-pruned SmallCNN runs its linear layers in the 2:4 layout, same outputs",
  ignore: !getDefaultBackend().supportsOp("tp_nm24_linear"),
  fn: () => {
    const before = getDefaultBackend().memoryStats().liveBuffers;
    const model = createModel("small_cnn", { seed: 6 }).eval();
    const masks = new MaskSet(prunableLayers(model));
    try {
      tidy(() => {
        pruneNm(masks, { n: 2, m: 4 });
        const x = uniform([9, 1, 28, 28], { seed: 2, stream: "nm-x" });
        const dense = noGrad(() => values(model.forward(x)));
        // Linear layers 5 (1568 inputs) and 7 (100) are 2:4; convolutions stay dense.
        const forced = toSparseInference(model, { batch: 9, force: "2:4" });
        assert.deepEqual(forced.layers.map((l) => l.kernel), ["dense", "dense", "2:4", "2:4"]);
        assertClose(noGrad(() => values(model.forward(x))), dense, 1e-5, 1e-4, "2:4");
        forced.dispose();
        // Measured: the 2:4 kernel is timed for the 2:4 linear layers only.
        const measured = toSparseInference(model, { batch: 1, repeats: 2 });
        assert.deepEqual(measured.layers.map((l) => l.nm24Ms !== null), [false, false, true, true]);
        assertClose(noGrad(() => values(model.forward(x))), dense, 1e-5, 1e-4, "measured");
        measured.dispose();
        // An unstructured 50% mask (on fresh weights) is not 2:4: forcing 2:4 changes nothing.
        const other = createModel("small_cnn", { seed: 7 }).eval();
        const m2 = new MaskSet(prunableLayers(other));
        try {
          prune(m2, { sparsity: 0.5, scope: "layerwise", criterion: "random", seed: 1 });
          const not24 = toSparseInference(other, { batch: 9, force: "2:4" });
          assert.ok(not24.layers.every((l) => l.kernel === "dense"));
          not24.dispose();
        } finally {
          m2.dispose();
          other.dispose();
        }
      });
    } finally {
      masks.dispose();
      model.dispose();
    }
    assert.equal(getDefaultBackend().memoryStats().liveBuffers, before, "native buffers leaked");
  },
});

Deno.test("toSparseInference names bad options and unknown layers", () => {
  const model = createModel("small_cnn", { seed: 0 });
  try {
    assertThrowsMsg(() => toSparseInference(model, { batch: 0 }), /batch must be an integer/);
    assertThrowsMsg(() => toSparseInference(model, { threshold: 2 }), /threshold must be in/);
    assertThrowsMsg(
      () => toSparseInference(model, { threshold: 0.5, force: "sparse" }),
      /threshold or force, not both/,
    );
    assertThrowsMsg(
      () => toSparseInference(model, { force: "csr" as never }),
      /force must be "sparse" or "2:4"/,
    );
    assertThrowsMsg(
      () => toSparseInference(model, { layers: ["9"] }),
      /no Conv2d or Linear layer named 9 \(have 0, 2, 5, 7\)/,
    );
  } finally {
    model.dispose();
  }
});
