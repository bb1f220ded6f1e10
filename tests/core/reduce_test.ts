import * as T from "@topiary/core";
import { philoxPermutation, type Tensor, tensor } from "@topiary/core";
import { gradCheck } from "../_gradcheck.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";
import { reduceAxes, sizeOf } from "../_reference.ts";

type Axes = number | number[] | undefined;

const reducers: [
  string,
  (x: Tensor, axes?: Axes, keepDims?: boolean) => Tensor,
  (x: ArrayLike<number>, shape: number[], axes: number[]) => Float64Array,
][] = [
  ["sum", T.sum, (x, s, a) => reduceAxes(x, s, a).data],
  ["mean", T.mean, (x, s, a) => {
    const cnt = a.reduce((n, i) => n * s[i], 1);
    return reduceAxes(x, s, a).data.map((v) => v / cnt);
  }],
  ["max", T.max, (x, s, a) => reduceAxes(x, s, a, -Infinity, Math.max).data],
  ["min", T.min, (x, s, a) => reduceAxes(x, s, a, Infinity, Math.min).data],
];

/** The axis list a test case reduces, normalised and sorted (undefined: all). */
function axisList(axes: Axes, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const l = typeof axes === "number" ? [axes] : axes;
  return l.map((a) => (a < 0 ? a + ndim : a)).sort((a, b) => a - b);
}

function outShape(shape: number[], axes: number[], keepDims: boolean): number[] {
  return keepDims
    ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : shape.filter((_, i) => !axes.includes(i));
}

function assertShape(t: Tensor, want: number[], what: string): void {
  if (t.shape.join() !== want.join()) {
    throw new Error(`${what}: shape [${t.shape}], expected [${want}]`);
  }
}

const axisCases: Axes[] = [0, 1, 2, -1, [0, 2], [1, 2], [2, 0], [0, 1, 2], undefined];

for (const [name, op, ref] of reducers) {
  opTest(`${name} over single, several and all axes, with and without keepDims`, () => {
    const shape = [3, 4, 5];
    const data = randomData(60, `reduce-${name}`);
    const x = tensor(Float32Array.from(data), shape);
    const x64 = Float64Array.from(Float32Array.from(data));
    for (const axes of axisCases) {
      const ax = axisList(axes, 3);
      const want = ref(x64, shape, ax);
      for (const keepDims of [false, true]) {
        const y = op(x, axes, keepDims);
        const what = `${name} axes ${JSON.stringify(axes)} keepDims ${keepDims}`;
        assertShape(y, outShape(shape, ax, keepDims), what);
        if (y.dtype !== "f32") throw new Error(`${what}: dtype ${y.dtype}`);
        assertClose(values(y), want, 1e-6, 1e-6, what);
      }
    }
  });

  opTest(`${name} on strided views (transpose, slice with step)`, () => {
    const data = randomData(6 * 7 * 4, `reduce-view-${name}`);
    const base = tensor(Float32Array.from(data), [6, 7, 4]);
    const host = Float64Array.from(Float32Array.from(data));
    // v[i, j, k] = base[k, 1 + 2 j, i]: shape [4, 3, 6], no dim has unit stride.
    const v = T.slice(T.permute(base, [2, 1, 0]), 1, 1, 7, 2);
    assertShape(v, [4, 3, 6], "view");
    if (v.isContiguous) throw new Error("the view should be strided");
    const dense = new Float64Array(72);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 3; j++) {
        for (let k = 0; k < 6; k++) dense[(i * 3 + j) * 6 + k] = host[(k * 7 + 1 + 2 * j) * 4 + i];
      }
    }
    for (const axes of [0, 1, 2, [0, 2], [0, 1], undefined] as Axes[]) {
      const ax = axisList(axes, 3);
      assertClose(values(op(v, axes)), ref(dense, [4, 3, 6], ax), 1e-6, 1e-6, `${name} ${axes}`);
    }
    // A plain 2-d transpose: column reductions become row reductions and vice versa.
    const m = T.transpose(T.reshape(base, [42, 4]));
    const md = new Float64Array(168);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 42; j++) md[i * 42 + j] = host[j * 4 + i];
    for (const axes of [0, 1]) {
      assertClose(values(op(m, axes)), ref(md, [4, 42], [axes]), 1e-6, 1e-6, `${name} T ${axes}`);
    }
  });
}

opTest("reductions of broadcast (expanded, zero-stride) views", () => {
  const col = tensor([1, -2, 3], [3, 1]);
  const e = T.expand(col, [3, 4]); // stride 0 along axis 1
  assertClose(values(T.sum(e, 1)), [4, -8, 12], 0, 0, "sum along the broadcast axis");
  assertClose(values(T.sum(e, 0)), [2, 2, 2, 2], 0, 0, "sum across the broadcast axis");
  assertClose(values(T.mean(e)), [2 / 3], 1e-7, 0, "mean of all");
  assertClose(values(T.max(e, 0)), [3, 3, 3, 3], 0, 0, "max across");
  const s = T.expand(T.reshape(T.scalar(1.5), [1, 1, 1]), [2, 3, 5]); // all strides 0
  assertClose(values(T.sum(s, [0, 2])), [15, 15, 15], 0, 0, "sum of an all-zero-stride view");
  assertClose(values(T.sum(s)), [45], 0, 0, "sum of all");
  assertClose(values(T.argmin(s, 2)), [0, 0, 0, 0, 0, 0], 0, 0, "argmin of equal values");
});

opTest("sum and mean of a 0-d tensor and over a size-1 dim are the identity", () => {
  const s = T.scalar(2.5);
  assertClose(values(T.sum(s)), [2.5], 0, 0);
  assertClose(values(T.mean(s)), [2.5], 0, 0);
  const x = tensor([1, 2, 3], [3, 1]);
  assertClose(values(T.max(x, 1)), [1, 2, 3], 0, 0);
  assertShape(T.sum(x, 1), [3], "sum over the size-1 dim");
  // An empty axis list reduces nothing.
  const y = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  assertClose(values(T.sum(y, [])), [1, 2, 3, 4, 5, 6], 0, 0, "sum over no axes");
  assertShape(T.mean(y, []), [2, 3], "mean over no axes");
});

opTest("argmax and argmin give i32 indices, the first one on ties", () => {
  const x = tensor(
    [
      [1, 5, 5, 0],
      [2, 2, 2, 2],
      [-3, -1, -7, -7],
    ].flat(),
    [3, 4],
  );
  const amax = T.argmax(x);
  if (amax.dtype !== "i32") throw new Error(`argmax dtype ${amax.dtype}`);
  assertShape(amax, [3], "argmax");
  assertClose(values(amax), [1, 0, 1], 0, 0, "argmax rows");
  assertClose(values(T.argmin(x, 1)), [3, 0, 2], 0, 0, "argmin rows");
  assertClose(values(T.argmax(x, 0)), [1, 0, 0, 1], 0, 0, "argmax columns");
  assertClose(values(T.argmin(x, 0)), [2, 2, 2, 2], 0, 0, "argmin columns");
  const kd = T.argmax(x, -1, true);
  if (kd.dtype !== "i32") throw new Error(`argmax keepDims dtype ${kd.dtype}`);
  assertShape(kd, [3, 1], "argmax keepDims");
  // On a transposed view: the rows of x^T are the columns of x.
  assertClose(values(T.argmax(T.transpose(x), 1)), [1, 0, 0, 1], 0, 0, "argmax of x^T");
  // Against a reference on random data (3-d, middle axis).
  const shape = [4, 9, 5];
  const d = Float32Array.from(randomData(180, "argmax-random"));
  const t = tensor(d, shape);
  const wantMax: number[] = [], wantMin: number[] = [];
  for (let i = 0; i < 4; i++) {
    for (let k = 0; k < 5; k++) {
      let bi = 0, si = 0;
      for (let j = 1; j < 9; j++) {
        const v = d[(i * 9 + j) * 5 + k];
        if (v > d[(i * 9 + bi) * 5 + k]) bi = j;
        if (v < d[(i * 9 + si) * 5 + k]) si = j;
      }
      wantMax.push(bi);
      wantMin.push(si);
    }
  }
  assertClose(values(T.argmax(t, 1)), wantMax, 0, 0, "argmax axis 1");
  assertClose(values(T.argmin(t, -2)), wantMin, 0, 0, "argmin axis -2");
});

opTest("NaN: max/min propagate it, argmax/argmin pick the first NaN", () => {
  const x = tensor([1, NaN, 3, NaN, -2]);
  if (!Number.isNaN(T.max(x).item())) throw new Error("max must propagate NaN");
  if (!Number.isNaN(T.min(x).item())) throw new Error("min must propagate NaN");
  assertClose(values(T.argmax(x)), [1], 0, 0, "argmax with NaN");
  assertClose(values(T.argmin(x)), [1], 0, 0, "argmin with NaN");
});

opTest("empty reductions: sum gives 0, mean NaN", () => {
  const e = T.zeros([0, 3]);
  assertClose(values(T.sum(e, 0)), [0, 0, 0], 0, 0, "sum over an empty dim");
  const m = values(T.mean(e, 0));
  if (m.length !== 3 || !m.every(Number.isNaN)) throw new Error(`mean of nothing: ${m}`);
  assertShape(T.max(e, 1), [0], "max over a non-empty dim of an empty tensor");
});

/** Distinct values far apart (gaps of 0.05 >> the finite-difference step). */
function distinct(n: number, name: string): Float64Array {
  const p = philoxPermutation(n, 11, name);
  return Float64Array.from(p, (v) => (v - n / 2) * 0.05);
}

const gradAxes: Axes[] = [0, 1, -1, [0, 2], undefined];

for (const [name, op, ref] of reducers) {
  opTest(`${name} gradient (gradCheck) over several axis choices`, () => {
    const shape = [3, 4, 5];
    const data = name === "max" || name === "min"
      ? distinct(60, `grad-${name}`)
      : randomData(60, `grad-${name}`);
    for (const axes of gradAxes) {
      for (const keepDims of [false, true]) {
        const ax = axisList(axes, 3);
        gradCheck({
          name: `${name} axes ${JSON.stringify(axes)} keepDims ${keepDims}`,
          inputs: [{ data, shape }],
          wrt: [0],
          native: ([x]) => op(x, axes, keepDims),
          reference: ([x]) => ref(x, shape, ax),
          h: 1e-3,
        });
      }
    }
  });
}

opTest("max and min gradients through a strided view reach the right elements", () => {
  const data = distinct(24, "grad-view");
  gradCheck({
    name: "max of a transposed slice",
    inputs: [{ data, shape: [4, 6] }],
    wrt: [0],
    native: ([x]) => T.max(T.slice(T.transpose(x), 0, 1, 6, 2), 1),
    reference: ([x]) =>
      Float64Array.from([1, 3, 5], (c) => Math.max(...[0, 1, 2, 3].map((r) => x[r * 6 + c]))),
    h: 1e-3,
  });
});

opTest("tied maxima and minima share the gradient equally", () => {
  const x = tensor([1, 3, 3], [3], { requiresGrad: true });
  const [g] = T.grad(T.max(x), [x]);
  assertClose(values(g), [0, 0.5, 0.5], 0, 0, "max([1, 3, 3])");
  const y = tensor([2, 0, 5, 0, 0, 0], [2, 3], { requiresGrad: true });
  const [gm] = T.grad(T.sum(T.mul(T.min(y, 1), tensor([2, 4]))), [y]);
  assertClose(values(gm), [0, 2, 0, 4 / 3, 4 / 3, 4 / 3], 1e-7, 0, "min rows with ties");
  const z = tensor([4, 4, 4, 4], [2, 2], { requiresGrad: true });
  const [gz] = T.grad(T.max(z), [z]);
  assertClose(values(gz), [0.25, 0.25, 0.25, 0.25], 0, 0, "max of all-equal values");
});

/**
 * The documented summation order: chunks of 16384 elements in row-major order, each summed
 * in double from zero, chunk partials added in order, the total rounded once to f32.
 */
function chunkedSum(x: ArrayLike<number>, begin: number, count: number, stride: number): number {
  const CHUNK = 16384;
  let total = 0;
  for (let c = 0; c < count; c += CHUNK) {
    let s = 0;
    for (let i = c; i < Math.min(count, c + CHUNK); i++) s += x[begin + i * stride];
    total = c === 0 ? s : total + s;
  }
  return total;
}

opTest("large sums (100000 elements) equal the float64 chunked reference bit for bit", (b) => {
  const n = 100000;
  const d = Float32Array.from(randomData(n, "big-sum", -1, 3));
  const x = tensor(d);
  const s = chunkedSum(d, 0, n, 1);
  const got = T.sum(x).item();
  if (got !== Math.fround(s)) throw new Error(`sum ${got} != f32(chunked double sum) ${s}`);
  // ... and within one f32 ulp of the exact (float64) sum.
  let exact = 0;
  for (const v of d) exact += v;
  const ulp = 2 ** (Math.floor(Math.log2(Math.abs(exact))) - 23);
  if (Math.abs(got - exact) > ulp) throw new Error(`sum ${got} vs exact ${exact}: > 1 ulp`);
  const mean = T.mean(x).item();
  if (mean !== Math.fround(s / n)) throw new Error(`mean ${mean} != ${Math.fround(s / n)}`);
  // Column sums of [50000, 2] (strided reduced dim) and sums over a [2, 50000] transpose.
  const m = T.reshape(x, [50000, 2]);
  const cols = values(T.sum(m, 0));
  const wantCols = [0, 1].map((j) => Math.fround(chunkedSum(d, j, 50000, 2)));
  assertClose(cols, wantCols, 0, 0, "column sums");
  assertClose(values(T.sum(T.transpose(m), 1)), wantCols, 0, 0, "row sums of the transpose");
  // Two reduced dims that do not merge, with chunk boundaries in the middle of a row:
  // [300, 2, 100] over axes [0, 2] reduces 30000 elements per output in (i, k) order.
  const y3 = T.reshape(T.slice(x, 0, 0, 60000), [300, 2, 100]);
  const want3 = [0, 1].map((j) => {
    const picked: number[] = [];
    for (let i = 0; i < 300; i++) {
      for (let k = 0; k < 100; k++) picked.push(d[i * 200 + j * 100 + k]);
    }
    return Math.fround(chunkedSum(picked, 0, picked.length, 1));
  });
  assertClose(values(T.sum(y3, [0, 2])), want3, 0, 0, "sum over axes [0, 2]");
  // Results do not depend on the thread count.
  const threads = b.threads;
  try {
    for (const nt of [1, 3]) {
      b.check(b.sym.tp_set_num_threads(nt), "tp_set_num_threads");
      if (T.sum(x).item() !== got) throw new Error(`sum differs with ${nt} threads`);
      assertClose(values(T.sum(m, 0)), wantCols, 0, 0, `column sums, ${nt} threads`);
    }
  } finally {
    b.check(b.sym.tp_set_num_threads(threads), "tp_set_num_threads");
  }
});

opTest("max, min and argmax over more than one chunk", () => {
  const n = 70000;
  const d = Float32Array.from(randomData(n, "big-max"));
  d[50001] = 5; // the maximum lies in the fourth chunk
  d[65000] = 5; // a later tie must not win
  d[16384] = -5; // the minimum starts the second chunk
  const x = tensor(d);
  assertClose(values(T.max(x)), [5], 0, 0, "max");
  assertClose(values(T.min(x)), [-5], 0, 0, "min");
  assertClose(values(T.argmax(x)), [50001], 0, 0, "argmax");
  assertClose(values(T.argmin(x)), [16384], 0, 0, "argmin");
  assertClose(values(T.mean(x)), [d.reduce((a, v) => a + v, 0) / n], 1e-7, 1e-6, "mean");
  if (sizeOf([n]) !== x.size) throw new Error("size");
});

opTest("reductions reject repeated axes, axes out of range and empty max/min", () => {
  const x = T.zeros([2, 3, 4]);
  assertThrowsMsg(() => T.sum(x, [1, 1]), /sum: repeated axis in \[1, 1\]/);
  assertThrowsMsg(() => T.mean(x, [0, -3]), /mean: repeated axis in \[0, -3\]/);
  assertThrowsMsg(() => T.sum(x, 3), /sum: axis 3 is out of range for 3 dims/);
  assertThrowsMsg(() => T.max(x, -4), /max: axis -4 is out of range for 3 dims/);
  assertThrowsMsg(() => T.min(x, [0, 1.5]), /min: axis 1.5 is out of range/);
  assertThrowsMsg(() => T.argmax(x, 5), /argmax: axis 5 is out of range for 3 dims/);
  assertThrowsMsg(() => T.argmin(x, -4), /argmin: axis -4 is out of range for 3 dims/);
  const e = T.zeros([2, 0, 3]);
  assertThrowsMsg(() => T.max(e, 1), /max: reducing the empty dim 1 of \[2, 0, 3\]/);
  assertThrowsMsg(() => T.min(e), /min: reducing the empty dim 1 of \[2, 0, 3\]/);
  assertThrowsMsg(() => T.argmax(e, 1), /argmax: .*empty/);
  const i = tensor([1, 2], [2], { dtype: "i32" });
  assertThrowsMsg(() => T.sum(i), /sum: expected f32 tensors, argument 0 is \[2\] i32/);
});
