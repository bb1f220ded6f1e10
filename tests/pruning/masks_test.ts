import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  Adam,
  BatchLoader,
  copyFromHost,
  createModel,
  fit,
  getDefaultBackend,
  grad,
  MLP,
  mul,
  noGrad,
  SGD,
  softmaxCrossEntropy,
  syntheticDataset,
  tidy,
} from "@topiary/core";
import {
  MaskSet,
  measureModel,
  prunableLayers,
  prune,
  ScoreSet,
  selectMasks,
} from "@topiary/pruning";
import { assertThrowsMsg } from "../_harness.ts";

function live(): number {
  return getDefaultBackend().memoryStats().liveBuffers;
}

/** Runs fn and checks that native buffers return to their count. */
function noLeak(name: string, fn: () => void | Promise<void>) {
  Deno.test(name, async () => {
    const before = live();
    await fn();
    assertEquals(live() - before, 0, "native buffers leaked");
  });
}

function zerosOf(a: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === 0) n++;
  return n;
}

noLeak("prunable layers: conv and linear weights, output exclusion, patterns", () => {
  const m = createModel("small_cnn", { seed: 0 });
  try {
    const all = prunableLayers(m).map((l) => l.name);
    assertEquals(all.length, 4);
    assertEquals(prunableLayers(m, { excludeOutput: true }).length, 3);
    assertEquals(prunableLayers(m, { exclude: [all[0]] }).map((l) => l.name), all.slice(1));
    assertThrowsMsg(() => prunableLayers(m, { exclude: ["nope.weight"] }), /matches no weight/);
  } finally {
    m.dispose();
  }
});

noLeak("masks keep exactly n - floor(s n) per scope, also among ties and iteratively", () => {
  const m = createModel("small_cnn", { seed: 1 });
  const layers = prunableLayers(m);
  const masks = new MaskSet(layers);
  try {
    // Ties: set a layer to constant values; the count must still be exact.
    const w0 = layers[0].weight;
    copyFromHost(w0, new Float32Array(w0.size).fill(0.5));
    for (const s of [0, 0.5, 0.9, 0.99, 1]) {
      prune(masks, { sparsity: s, scope: "layerwise", criterion: "magnitude" });
      const r = masks.report();
      for (const l of r.layers) assertEquals(l.kept, l.total - Math.floor(s * l.total + 1e-9));
    }
    const total = layers.reduce((n, l) => n + l.weight.size, 0);
    const g = new MaskSet(layers);
    try {
      for (const s of [0.2, 0.36, 0.488]) {
        prune(g, { sparsity: s, scope: "global", criterion: "magnitude", iterative: true });
        assertEquals(g.report().kept, total - Math.floor(s * total + 1e-9));
      }
      // Iterative: a weight pruned earlier stays pruned.
      const before = g.mask(layers[2].name).toArray();
      prune(g, { sparsity: 0.8, scope: "global", criterion: "magnitude", iterative: true });
      const after = g.mask(layers[2].name).toArray();
      for (let i = 0; i < before.length; i++) if (before[i] === 0) assertEquals(after[i], 0);
      assertThrowsMsg(
        () => prune(g, { sparsity: 0.5, scope: "global", criterion: "magnitude", iterative: true }),
        /masks only shrink/,
      );
    } finally {
      g.dispose();
    }
    // Random masks: exact counts, deterministic per seed.
    const r1 = selectMasks(layers, {
      sparsity: 0.7,
      scope: "layerwise",
      criterion: "random",
      seed: 3,
    });
    const r2 = selectMasks(layers, {
      sparsity: 0.7,
      scope: "layerwise",
      criterion: "random",
      seed: 3,
    });
    try {
      r1.forEach((t, i) => {
        assertEquals(t.toArray(), r2[i].toArray());
        assertEquals(t.size - zerosOf(t.toArray()), t.size - Math.floor(0.7 * t.size + 1e-9));
      });
    } finally {
      for (const t of [...r1, ...r2]) t.dispose();
    }
  } finally {
    masks.dispose();
    m.dispose();
  }
});

noLeak("magnitude pruning keeps the largest |w|; global scope reports emptied layers", () => {
  const m = new MLP({ seed: 0, hidden: [8], inputShape: [1, 2, 2] });
  const layers = prunableLayers(m);
  const masks = new MaskSet(layers);
  try {
    // Layer 0 tiny weights, layer 1 large: global pruning empties layer 0.
    copyFromHost(layers[0].weight, new Float32Array(layers[0].weight.size).fill(1e-3));
    copyFromHost(
      layers[1].weight,
      Float32Array.from({ length: layers[1].weight.size }, (_, i) => 1 + i),
    );
    const n1 = layers[1].weight.size;
    const total = layers[0].weight.size + n1;
    prune(masks, { sparsity: (total - n1 / 2) / total, scope: "global", criterion: "magnitude" });
    const r = masks.report();
    assertEquals(r.emptyLayers, [layers[0].name]);
    const kept1 = masks.mask(layers[1].name).toArray();
    // The larger half of layer 1 (higher indices) is kept.
    for (let i = 0; i < n1; i++) assertEquals(kept1[i], i >= n1 - Math.ceil(n1 / 2) ? 1 : 0);
    assertEquals(
      zerosOf(layers[0].weight.toArray()),
      layers[0].weight.size,
      "pruned weights are 0",
    );
  } finally {
    masks.dispose();
    m.dispose();
  }
});

for (const opt of ["sgd", "adam"] as const) {
  noLeak(`masked weights stay exactly zero through training (${opt})`, () => {
    const data = syntheticDataset({ n: 96, shape: [1, 28, 28], seed: 4 });
    const m = createModel("small_cnn", { seed: 2 });
    const masks = new MaskSet(prunableLayers(m));
    const o = opt === "sgd"
      ? new SGD(m.namedParameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: true })
      : new Adam(m.namedParameters(), { lr: 1e-2, weightDecay: 1e-4 });
    try {
      prune(masks, { sparsity: 0.8, scope: "layerwise", criterion: "magnitude" });
      masks.attach(o);
      const zeros = masks.layers.map((l) => zerosOf(l.weight.toArray()));
      fit({
        model: m,
        optimizer: o,
        train: new BatchLoader(data, { batchSize: 32, seed: 0 }),
        epochs: 2,
        quiet: true,
      });
      masks.layers.forEach((l, i) => {
        const w = l.weight.toArray(), mk = masks.mask(l.name).toArray();
        for (let j = 0; j < w.length; j++) if (mk[j] === 0) assertEquals(w[j], 0);
        assert(zerosOf(w) >= zeros[i]);
      });
    } finally {
      o.dispose();
      masks.dispose();
      m.dispose();
    }
  });
}

noLeak("dense -> masked -> dense round trip is exact", () => {
  const m = createModel("small_cnn", { seed: 5 });
  const layers = prunableLayers(m);
  const masks = new MaskSet(layers);
  try {
    prune(masks, { sparsity: 0.9, scope: "global", criterion: "magnitude" });
    const dense = masks.denseWeights();
    const back = MaskSet.fromWeights(layers);
    try {
      for (const l of layers) {
        assertEquals(back.mask(l.name).toArray(), masks.mask(l.name).toArray());
        assertEquals(dense.get(l.name), l.weight.toArray());
      }
      // Masks round-trip through a state dict.
      const other = new MaskSet(layers);
      other.loadStateDict(masks.stateDict());
      for (const l of layers) {
        assertEquals(other.mask(l.name).toArray(), masks.mask(l.name).toArray());
      }
      other.dispose();
    } finally {
      back.dispose();
    }
  } finally {
    masks.dispose();
    m.dispose();
  }
});

noLeak("HYDRA: the initial score mask equals layer-wise magnitude pruning", () => {
  const m = createModel("small_cnn", { seed: 6 });
  const layers = prunableLayers(m);
  const scores = new ScoreSet(layers, { sparsity: 0.95, scope: "layerwise" });
  const lwm = selectMasks(layers, { sparsity: 0.95, scope: "layerwise", criterion: "magnitude" });
  try {
    layers.forEach((l, i) => assertEquals(scores.mask(l.name).toArray(), lwm[i].toArray()));
    // s = sqrt(6 / fan_in) W / max|W|.
    const w = layers[0].weight.toArray(), s = scores.scores.get(layers[0].name)!.toArray();
    const mx = Math.max(...Array.from(w, Math.abs));
    const fanIn = layers[0].weight.shape.slice(1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < w.length; i += 17) {
      assert(Math.abs(s[i] - Math.fround(Math.sqrt(6 / fanIn) / mx) * w[i]) < 1e-6);
    }
  } finally {
    for (const t of lwm) t.dispose();
    scores.dispose();
    m.dispose();
  }
});

noLeak("straight-through gradient: dL/ds = (dL/dW_eff ⊙ W) ⊙ sign(s)", () => {
  const m = createModel("small_cnn", { seed: 7 });
  const data = syntheticDataset({ n: 16, shape: [1, 28, 28], seed: 8 });
  const layers = prunableLayers(m);
  const scores = new ScoreSet(layers, { sparsity: 0.5, scope: "layerwise" });
  try {
    const batch = new BatchLoader(data, { batchSize: 16, shuffle: false }).batch(0, 0);
    // Negate some scores so sign(s) matters.
    const s0 = scores.scores.get(layers[1].name)!;
    noGrad(() => copyFromHost(s0, Float32Array.from(s0.toArray(), (v, i) => (i % 3 ? v : -v))));
    scores.refresh();
    scores.attach();
    const sList = layers.map((l) => scores.scores.get(l.name)!);
    const gs = tidy(() => {
      const loss = softmaxCrossEntropy(m.forward(batch.x), batch.y);
      return grad(loss, sList).map((g) => g!.toArray());
    });
    scores.detach();
    // Reference: the plain model with W_eff = W ⊙ m, gradient w.r.t. W_eff.
    const saved = layers.map((l) => l.weight.toArray() as Float32Array);
    tidy(() => {
      for (const l of layers) {
        copyFromHost(l.weight, mul(l.weight, scores.mask(l.name)).toArray() as Float32Array);
      }
    });
    const gw = tidy(() => {
      const loss = softmaxCrossEntropy(m.forward(batch.x), batch.y);
      return grad(loss, layers.map((l) => l.weight)).map((g) => g!.toArray());
    });
    layers.forEach((l, i) => {
      const s = sList[i].toArray();
      for (let j = 0; j < s.length; j++) {
        const want = gw[i][j] * saved[i][j] * Math.sign(s[j]);
        assert(Math.abs(gs[i][j] - want) <= 1e-5 + 1e-4 * Math.abs(want), `${l.name}[${j}]`);
      }
    });
    batch.x.dispose();
    batch.y.dispose();
  } finally {
    scores.dispose();
    m.dispose();
  }
});

noLeak("measurements: SmallCNN parameters and multiply-accumulates, dense and pruned", () => {
  const m = createModel("small_cnn", { seed: 0 });
  const masks = new MaskSet(prunableLayers(m));
  try {
    const d = measureModel(m, [1, 28, 28]);
    assertEquals(d.parameters, 166406);
    assertEquals(d.layers.map((l) => l.positions), [196, 49, 1, 1]);
    assertEquals(d.macs, 256 * 196 + 8192 * 49 + 156800 + 1000);
    prune(masks, { sparsity: 0.9, scope: "layerwise", criterion: "magnitude" });
    const p = measureModel(m, [1, 28, 28]);
    assertEquals(
      p.layers.map((l) => l.nonzero),
      p.layers.map((l) => l.total - Math.floor(0.9 * l.total + 1e-9)),
    );
    assertEquals(p.nonzeroMacs, p.layers.reduce((a, l) => a + l.nonzero * l.positions, 0));
  } finally {
    masks.dispose();
    m.dispose();
  }
});
