/**
 * ADMM and ATMC building blocks: sparsity projections (irregular, filter, column) keep exactly
 * the largest-norm groups; Z is the projection of W + U and U accumulates W − Z; the penalty's
 * gradient is ρ(W − Z + U); k-means quantization takes at most 2^b + 1 values, keeps zeros,
 * and is exact when the weights already fit the codebook; model size in bits.
 * @module
 */

import assert from "node:assert/strict";
import { copyFromHost, createModel, getDefaultBackend, grad, noGrad, tidy } from "@topiary/core";
import {
  Admm,
  groupNorms,
  hardPrune,
  modelSizeBits,
  projectionMask,
  projectSparse,
  prunableLayers,
  quantizeKmeans,
  quantizeProjection,
  sparsityProjection,
} from "@topiary/pruning";
import { assertThrowsMsg } from "../_harness.ts";

function live(): number {
  return getDefaultBackend().memoryStats().liveBuffers;
}

/** Deterministic values in [-1, 1). */
function draw(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

Deno.test("irregular projection keeps the largest |w|, ties to the lower index", () => {
  const v = Float32Array.from([0.5, -3, 0.5, 2, -0.5, 1]);
  // sparsity 0.5 of 6 keeps 3: -3, 2, 1.
  assert.deepEqual([...projectSparse(v, [2, 3], { sparsity: 0.5, structure: "irregular" })], [
    0,
    -3,
    0,
    2,
    0,
    1,
  ]);
  // Keep 4: the three above and the first of the tied 0.5s.
  assert.deepEqual(
    [...projectionMask(v, [2, 3], { sparsity: 2 / 6, structure: "irregular" })],
    [1, 1, 0, 1, 0, 1],
  );
});

Deno.test("filter and column projections remove whole groups by L2 norm", () => {
  // Weight [3 filters, 2 channels, 1, 2]: inner size 4.
  const shape = [3, 2, 1, 2];
  const v = Float32Array.from([
    ...[1, 1, 1, 1], // filter 0: norm² 4
    ...[3, 0, 0, 0], // filter 1: norm² 9
    ...[0, 0, 0, 0.5], // filter 2: norm² 0.25
  ]);
  assert.deepEqual([...groupNorms(v, shape, "filter")], [4, 9, 0.25]);
  // Columns j: sums over filters of v[o, j]².
  assert.deepEqual([...groupNorms(v, shape, "column")], [10, 1, 1, 1.25]);
  const f = projectSparse(v, shape, { sparsity: 1 / 3, structure: "filter" });
  assert.deepEqual([...f], [1, 1, 1, 1, 3, 0, 0, 0, 0, 0, 0, 0]);
  const c = projectSparse(v, shape, { sparsity: 0.5, structure: "column" });
  // Keeps columns 0 and 3.
  assert.deepEqual([...c], [1, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0.5]);
  // The projection is the nearest point with that many groups: no other choice of 2 filters
  // is closer (brute force).
  const dist = (a: Float32Array) => a.reduce((s, x, i) => s + (x - v[i]) ** 2, 0);
  const best = dist(f);
  for (const keep of [[0, 2], [1, 2]]) {
    const alt = v.map((x, i) => (keep.includes(Math.floor(i / 4)) ? x : 0));
    assert.ok(dist(alt) >= best);
  }
  assertThrowsMsg(
    () => projectSparse(v, [5, 2], { sparsity: 0.5, structure: "filter" }),
    /12 values do not fill a weight of \[5,2\]/,
  );
  assertThrowsMsg(
    () => projectSparse(v, shape, { sparsity: 0.5, structure: "rows" as never }),
    /unknown structure "rows"/,
  );
});

Deno.test("ADMM: Z is the projection of W + U, U accumulates W − Z, the penalty's gradient", () => {
  const before = live();
  const model = createModel("small_cnn", { seed: 1 });
  const layers = prunableLayers(model);
  const o = { sparsity: 0.75, structure: "irregular" as const };
  const admm = new Admm(layers, sparsityProjection(o));
  try {
    // Initially Z = Π(W), U = 0.
    for (const l of layers) {
      const w = l.weight.toArray() as Float32Array;
      assert.deepEqual(admm.zOf(l.name).toArray(), projectSparse(w, l.weight.shape, o));
      assert.ok((admm.uOf(l.name).toArray() as Float32Array).every((x) => x === 0));
    }
    // Move the weights, update, and check against the definition.
    const w1 = new Map<string, Float32Array>(), u0 = new Map<string, Float32Array>();
    for (const l of layers) {
      u0.set(l.name, admm.uOf(l.name).toArray() as Float32Array);
      const w = draw(l.weight.size, l.weight.size);
      noGrad(() => copyFromHost(l.weight, w));
      w1.set(l.name, w);
    }
    const r = admm.update();
    assert.ok(r.primal > 0 && r.dual > 0);
    for (const l of layers) {
      const w = w1.get(l.name)!, u = u0.get(l.name)!;
      const z = projectSparse(w.map((x, i) => x + u[i]), l.weight.shape, o);
      assert.deepEqual(admm.zOf(l.name).toArray(), z, l.name);
      const u1 = admm.uOf(l.name).toArray() as Float32Array;
      for (let i = 0; i < u1.length; i += 97) {
        assert.ok(Math.abs(u1[i] - (u[i] + w[i] - z[i])) < 1e-6, `${l.name} U[${i}]`);
      }
    }
    // d/dW of ρ/2‖W − Z + U‖² is ρ(W − Z + U).
    const rho = 0.3;
    const l = layers[1];
    tidy(() => {
      const [g] = grad(admm.penalty(rho), [l.weight]);
      const gw = g.toArray() as Float32Array, w = l.weight.toArray() as Float32Array;
      const z = admm.zOf(l.name).toArray() as Float32Array;
      const u = admm.uOf(l.name).toArray() as Float32Array;
      for (let i = 0; i < gw.length; i += 31) {
        assert.ok(Math.abs(gw[i] - rho * (w[i] - z[i] + u[i])) < 1e-5, `grad[${i}]`);
      }
    });
    // Resume: Z and U round-trip through the state dict.
    const sd = new Map([...admm.stateDict()].map(([k, t]) => [k, t.toArray() as Float32Array]));
    const other = new Admm(layers, sparsityProjection(o));
    try {
      other.loadStateDict(admm.stateDict());
      for (const [k, t] of other.stateDict()) assert.deepEqual(t.toArray(), sd.get(k), k);
      assertThrowsMsg(() => other.loadStateDict(new Map()), /"0\.weight_admm_z" is missing/);
    } finally {
      other.dispose();
    }
    assertThrowsMsg(() => admm.penalty(-1), /rho must be >= 0/);
    // Hard pruning: exactly the projection's count per layer, the weights zeroed.
    const masks = hardPrune(layers, { sparsity: 0.9, structure: "filter" });
    try {
      for (const s of masks.report().layers) {
        const out = layers.find((x) => x.name === s.name)!.weight.shape[0];
        const keptFilters = out - Math.floor(0.9 * out);
        assert.equal(s.kept, keptFilters * (s.total / out), s.name);
      }
    } finally {
      masks.dispose();
    }
  } finally {
    admm.dispose();
    model.dispose();
  }
  assert.equal(live() - before, 0, "native buffers leaked");
});

Deno.test("k-means quantization: at most 2^b + 1 values, zeros kept, exact codebooks", () => {
  const v = draw(5000, 3);
  for (let i = 0; i < v.length; i += 3) v[i] = 0;
  for (const bits of [1, 2, 4]) {
    const q = quantizeKmeans(v, bits);
    const distinct = new Set(q.values);
    assert.ok(distinct.size <= 2 ** bits + 1, `${bits} bits: ${distinct.size} values`);
    assert.ok(distinct.has(0));
    for (let i = 0; i < v.length; i += 3) assert.equal(q.values[i], 0);
    // Every value went to its nearest code (the zero included).
    const codes = [0, ...q.centres];
    for (let i = 1; i < v.length; i += 7) {
      const d = Math.abs(q.values[i] - v[i]);
      assert.ok(codes.every((c) => d <= Math.abs(c - v[i]) + 1e-7), `value ${i}`);
    }
    // Lloyd converged: each centre is the mean of its cluster.
    for (const c of q.centres) {
      const members = [...v].filter((x, i) => x !== 0 && q.values[i] === Math.fround(c));
      if (members.length) {
        const m = members.reduce((a, b) => a + b, 0) / members.length;
        assert.ok(Math.abs(m - c) < 1e-5, `centre ${c} vs mean ${m}`);
      }
    }
  }
  // More bits never fit worse.
  const err = (b: number) =>
    quantizeKmeans(v, b).values.reduce((s, x, i) => s + (x - v[i]) ** 2, 0);
  assert.ok(err(4) < err(2) && err(2) < err(1));
  // Weights that already take few values are kept exactly.
  const few = Float32Array.from([0, 0.5, -0.25, 0.5, 0, 0.125, -0.25]);
  assert.deepEqual(quantizeKmeans(few, 2).values, few);
  assert.deepEqual(quantizeKmeans(new Float32Array(4), 3).values, new Float32Array(4));
  assertThrowsMsg(() => quantizeKmeans(v, 0), /bits must be an integer in \[1, 16\]/);
  assertThrowsMsg(() => quantizeKmeans(Float32Array.from([1, NaN]), 2), /NaN is not finite/);
  // As an ADMM projection (ATMC): Z takes at most 2^b + 1 values per layer.
  const model = createModel("small_cnn", { seed: 2 });
  const layers = prunableLayers(model);
  const admm = new Admm(layers, quantizeProjection(3));
  try {
    for (const l of layers) {
      assert.ok(new Set(admm.zOf(l.name).toArray() as Float32Array).size <= 9, l.name);
    }
  } finally {
    admm.dispose();
    model.dispose();
  }
});

Deno.test("model size in bits: codes, the cheaper index, the codebook", () => {
  // 1000 weights, 10 non-zeros: index 10 · ceil(log2 1000) = 100 bits < bitmap 1000.
  // 64 weights, 40 non-zeros: bitmap 64 < 40 · 6 = 240.
  const s = modelSizeBits([
    { size: 1000, nonZeros: 10, centres: 4 },
    { size: 64, nonZeros: 40, centres: 2 },
  ], 2);
  assert.deepEqual(s, { codes: 100, index: 164, codebook: 192, bits: 456 });
});
