import * as T from "@topiary/core";
import { keptCount, type Tensor, tensor, topkMasks } from "@topiary/core";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";

Deno.test("keptCount is n - floor(sparsity * n), robust to representation error", () => {
  const cases: [number, number, number][] = [
    [100, 0.29, 71], // 0.29 * 100 = 28.999999999999996
    [10, 0.9, 1],
    [256, 0.99, 3],
    [100, 0.57, 43], // 0.57 * 100 = 56.99999999999999
    [1000, 0.001, 999],
    [7, 0.5, 4],
    [3, 0.7, 1],
    [0, 0.5, 0],
    [1, 0.999, 1],
    [50, 0, 50],
    [50, 1, 0],
  ];
  for (const [n, s, want] of cases) {
    const got = keptCount(n, s);
    if (got !== want) throw new Error(`keptCount(${n}, ${s}) = ${got}, expected ${want}`);
  }
});

Deno.test("keptCount stays exact for large counts (model-sized n)", () => {
  // ResNet-18 has 11689512 parameters: 0.041 * n = 479269.992, so 479269 are removed.
  // A guard growing with n (1e-9 * n = 0.0117 here) must not round this up to 479270.
  const cases: [number, number, number][] = [
    [11689512, 0.041, 11689512 - 479269],
    [25557032, 0.031, 25557032 - 792267], // 0.031 * n = 792267.992 (ResNet-50)
    [1e9, 0.5, 5e8],
    [2e9, 0.25, 1.5e9],
  ];
  for (const [n, s, want] of cases) {
    const got = keptCount(n, s);
    if (got !== want) throw new Error(`keptCount(${n}, ${s}) = ${got}, expected ${want}`);
  }
});

Deno.test("keptCount rejects sparsities outside [0, 1] and bad counts", () => {
  for (const s of [-0.01, 1.01, NaN]) {
    assertThrowsMsg(() => keptCount(10, s), /sparsity must be in \[0, 1\], got/);
  }
  for (const n of [-1, 2.5, NaN]) {
    assertThrowsMsg(() => keptCount(n, 0.5), /count must be a non-negative integer, got/);
  }
});

/** Flat indices of the concatenation ordered by key (descending), then index (ascending). */
function topkOrder(arrs: ArrayLike<number>[], useAbs: boolean): Int32Array {
  const flat: number[] = [];
  for (const a of arrs) {
    for (let i = 0; i < a.length; i++) flat.push(useAbs ? Math.abs(a[i]) : a[i]);
  }
  return Int32Array.from(flat, (_, i) => i).sort((a, b) => (flat[b] - flat[a]) || a - b);
}

/** Sort-based reference masks: the first `keep` entries of the order. */
function topkRef(
  arrs: ArrayLike<number>[],
  keep: number,
  useAbs: boolean,
  order = topkOrder(arrs, useAbs),
): number[][] {
  const kept = new Uint8Array(order.length);
  for (let k = 0; k < keep; k++) kept[order[k]] = 1;
  const out: number[][] = [];
  let at = 0;
  for (const a of arrs) {
    out.push(Array.from(kept.subarray(at, at + a.length)));
    at += a.length;
  }
  return out;
}

function checkMasks(masks: Tensor[], scores: Tensor[], want: number[][], what: string): void {
  if (masks.length !== scores.length) throw new Error(`${what}: ${masks.length} masks`);
  masks.forEach((m, i) => {
    if (m.dtype !== "f32" || m.shape.join() !== scores[i].shape.join()) {
      throw new Error(`${what}: mask ${i} is [${m.shape}] ${m.dtype}`);
    }
    assertClose(values(m), want[i], 0, 0, `${what}: mask ${i}`);
  });
}

function sumOf(masks: Tensor[]): number {
  return masks.reduce((s, m) => s + values(m).reduce((a, v) => a + v, 0), 0);
}

opTest("topkMasks on one tensor: exact count, matches the sort reference", () => {
  const d = Float32Array.from(randomData(200, "topk-one", -3, 3));
  const t = tensor(d, [10, 20]);
  for (const useAbs of [true, false]) {
    for (const keep of [0, 1, 2, 57, 100, 199, 200]) {
      const masks = topkMasks([t], keep, { useAbs });
      if (sumOf(masks) !== keep) throw new Error(`keep ${keep}: ${sumOf(masks)} kept`);
      checkMasks(masks, [t], topkRef([d], keep, useAbs), `one tensor keep ${keep} abs ${useAbs}`);
    }
  }
});

opTest("topkMasks is global over several tensors (concatenation order)", () => {
  const shapes = [[3, 4], [10], [2, 2, 5], [1]];
  const ds = shapes.map((s, i) =>
    Float32Array.from(randomData(s.reduce((a, b) => a * b, 1), `topk-multi-${i}`, -1, 1))
  );
  // Scale one tensor up so a global threshold differs from per-tensor ones.
  ds[1] = ds[1].map((v) => v * 4);
  const ts = ds.map((d, i) => tensor(d, shapes[i]));
  for (const useAbs of [true, false]) {
    for (const keep of [0, 5, 21, 42, 43]) {
      const masks = topkMasks(ts, keep, { useAbs });
      if (sumOf(masks) !== keep) throw new Error(`keep ${keep}: ${sumOf(masks)} kept`);
      checkMasks(masks, ts, topkRef(ds, keep, useAbs), `global keep ${keep} abs ${useAbs}`);
    }
  }
});

opTest("topkMasks ranks by |score| by default and by signed score with useAbs false", () => {
  const t = tensor([-5, 1, 2, -0.5, 3, -4]);
  assertClose(values(topkMasks([t], 3)[0]), [1, 0, 0, 0, 1, 1], 0, 0, "default |score|");
  assertClose(values(topkMasks([t], 3, { useAbs: true })[0]), [1, 0, 0, 0, 1, 1], 0, 0, "abs");
  assertClose(values(topkMasks([t], 3, { useAbs: false })[0]), [0, 1, 1, 0, 1, 0], 0, 0, "signed");
  // Signed with only negatives: the least negative win.
  const n = tensor([-3, -1, -2, -7]);
  assertClose(values(topkMasks([n], 2, { useAbs: false })[0]), [0, 1, 1, 0], 0, 0, "negatives");
  // Infinities are ordinary extremes.
  const inf = tensor([1, -Infinity, Infinity, 2]);
  assertClose(values(topkMasks([inf], 2)[0]), [0, 1, 1, 0], 0, 0, "abs with infinities");
  assertClose(values(topkMasks([inf], 2, { useAbs: false })[0]), [0, 0, 1, 1], 0, 0, "signed inf");
});

opTest("topkMasks breaks ties by the lower index in concatenation order", () => {
  const a = T.full([4], 0.5), b = T.full([3], 0.5), c = T.full([2, 3], 0.5);
  const m = topkMasks([a, b, c], 6);
  checkMasks(m, [a, b, c], [[1, 1, 1, 1], [1, 1, 0], [0, 0, 0, 0, 0, 0]], "all equal, keep 6");
  const m2 = topkMasks([a, b, c], 9, { useAbs: false });
  checkMasks(m2, [a, b, c], [[1, 1, 1, 1], [1, 1, 1], [1, 1, 0, 0, 0, 0]], "all equal, keep 9");
  // |3| == |-3|; -0 ties with +0 in both modes.
  const s = tensor([3, -3, -3, 3, 1]);
  assertClose(values(topkMasks([s], 3)[0]), [1, 1, 1, 0, 0], 0, 0, "abs ties");
  const z = tensor([-1, 0, -0, 0, -0]);
  assertClose(values(topkMasks([z], 2, { useAbs: false })[0]), [0, 1, 1, 0, 0], 0, 0, "signed 0");
  assertClose(values(topkMasks([z], 3)[0]), [1, 1, 1, 0, 0], 0, 0, "abs ±0");
  // A tie straddling two tensors.
  const p = tensor([5, 2, 2]), q = tensor([2, 9, 2]);
  checkMasks(topkMasks([p, q], 4), [p, q], [[1, 1, 1], [0, 1, 0]], "tie across tensors");
  // The same score tensor twice: the first copy wins its ties.
  checkMasks(topkMasks([p, p], 3), [p, p], [[1, 1, 0], [1, 0, 0]], "one tensor twice");
  checkMasks(topkMasks([p, p], 4), [p, p], [[1, 1, 1], [1, 0, 0]], "one tensor twice, keep 4");
});

opTest("topkMasks with keep 0 and keep all", () => {
  const a = tensor(Float32Array.from(randomData(10, "topk-edge"))), b = T.zeros([2, 3]);
  checkMasks(topkMasks([a, b], 0), [a, b], [new Array(10).fill(0), new Array(6).fill(0)], "0");
  checkMasks(topkMasks([a, b], 16), [a, b], [new Array(10).fill(1), new Array(6).fill(1)], "all");
  // An empty tensor in the list takes no part.
  const e = T.zeros([0]);
  checkMasks(topkMasks([e, a], 3), [e, a], [[], topkRef([values(a)], 3, true)[0]], "empty");
});

opTest("topkMasks over > 65536 entries with many ties is exact for any thread count", (bk) => {
  const sizes = [30000, 20000, 20001];
  // Values on a coarse grid (many ties), both signs.
  const ds = sizes.map((n, i) =>
    Float32Array.from(randomData(n, `topk-big-${i}`, -1, 1), (v) => Math.round(v * 50) / 50)
  );
  const ts = ds.map((d) => tensor(d));
  const threads = bk.threads;
  try {
    for (const useAbs of [true, false]) {
      const order = topkOrder(ds, useAbs);
      for (const keep of [1, 33333, 69000]) {
        const want = topkRef(ds, keep, useAbs, order);
        for (const nt of [1, 2, 3, 5]) {
          bk.check(bk.sym.tp_set_num_threads(nt), "tp_set_num_threads");
          const masks = topkMasks(ts, keep, { useAbs });
          checkMasks(masks, ts, want, `big keep ${keep} abs ${useAbs} threads ${nt}`);
          masks.forEach((m) => m.dispose());
        }
      }
    }
  } finally {
    bk.check(bk.sym.tp_set_num_threads(threads), "tp_set_num_threads");
  }
});

opTest("topkMasks rejects NaN scores, bad keep and bad inputs", () => {
  const a = tensor([1, 2, 3]), b = tensor([4, 5, 6, NaN, 7]);
  assertThrowsMsg(() => topkMasks([a, b], 2), /topkMasks: .*scores\[1\] element 3 is NaN/);
  assertThrowsMsg(() => topkMasks([b], 0), /scores\[0\] element 3 is NaN/);
  const c = tensor([1, 2, 3, 4]);
  for (const keep of [-1, 5, 1.5, NaN]) {
    assertThrowsMsg(
      () => topkMasks([c], keep),
      /topkMasks: keep must be an integer in \[0, 4\], got/,
    );
  }
  assertThrowsMsg(() => topkMasks([a, c], 8), /keep must be an integer in \[0, 7\], got 8/);
  assertThrowsMsg(() => topkMasks([], 0), /topkMasks: no score tensors/);
  const s = T.transpose(T.zeros([2, 3]));
  assertThrowsMsg(() => topkMasks([s], 1), /topkMasks: scores \[3, 2\] f32 must be dense/);
  const i = tensor([1, 2], [2], { dtype: "i32" });
  assertThrowsMsg(() => topkMasks([i], 1), /topkMasks: expected f32 tensors/);
});
