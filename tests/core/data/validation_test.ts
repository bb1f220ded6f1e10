import {
  classCounts,
  splitValidation,
  syntheticDataset,
  validationIndices,
} from "../../../core/data/mod.ts";
import { philoxPermutation } from "../../../core/random/philox.ts";
import { assertThrowsMsg } from "../../_harness.ts";
import { assertSameArray, check, sameArray } from "./_util.ts";

/** Labels with uneven classes: 50 of class 0, 30 of class 1, 17 of class 2, 3 of class 3. */
const labels = Int32Array.from({ length: 100 }, (_, i) => i < 50 ? 0 : i < 80 ? 1 : i < 97 ? 2 : 3);

function checkPartition(train: Int32Array, val: Int32Array, n: number): void {
  const seen = new Uint8Array(n);
  for (const part of [train, val]) {
    for (let j = 0; j < part.length; j++) {
      if (j > 0 && part[j] <= part[j - 1]) throw new Error(`indices not ascending at ${j}`);
      if (seen[part[j]]++) throw new Error(`index ${part[j]} in both parts or twice`);
    }
  }
  check(train.length + val.length === n && seen.every((s) => s === 1), "parts must cover 0..n-1");
}

Deno.test("validationIndices (stratified): exact size, class proportions, disjoint cover", () => {
  const { train, val } = validationIndices(labels, 4, { size: 0.2, seed: 1 });
  check(val.length === 20, `${val.length} validation images`);
  checkPartition(train, val, 100);
  // Quotas 20 * n_k / 100 = 10, 6, 3.4, 0.6: floors 10, 6, 3, 0 and the one left over goes to
  // the largest remainder (class 3).
  const valLabels = Int32Array.from(val, (i) => labels[i]);
  assertSameArray(classCounts({ labels: valLabels, numClasses: 4 }), [10, 6, 3, 1], "per class");
  const count = validationIndices(labels, 4, { size: 20, seed: 1 });
  check(sameArray(count.val, val), "size 20 and size 0.2 choose the same images");
});

Deno.test("validationIndices: seeded (same seed same split, other seed other split)", () => {
  for (const stratified of [true, false]) {
    const a = validationIndices(labels, 4, { size: 30, seed: 5, stratified });
    const b = validationIndices(labels, 4, { size: 30, seed: 5, stratified });
    const c = validationIndices(labels, 4, { size: 30, seed: 6, stratified });
    check(sameArray(a.val, b.val), `stratified=${stratified}: same seed must give the same split`);
    check(!sameArray(a.val, c.val), `stratified=${stratified}: another seed must differ`);
    checkPartition(a.train, a.val, 100);
  }
});

Deno.test("validationIndices follows its documented draws exactly", () => {
  const { val } = validationIndices(labels, 4, { size: 10, seed: 2, stratified: false });
  const perm = philoxPermutation(100, 2, "validation", 0);
  assertSameArray(val, Array.from(perm.subarray(0, 10)).sort((a, b) => a - b), "plain draw");
  // Stratified, size 10: quotas 5, 3, 1.7 -> 1 + 1 (largest remainder 0.7), 0.3 -> 0.
  const strat = validationIndices(labels, 4, { size: 10, seed: 2 });
  const want: number[] = [];
  const starts = [0, 50, 80, 97], sizes = [50, 30, 17, 3], quota = [5, 3, 2, 0];
  for (let k = 0; k < 4; k++) {
    const p = philoxPermutation(sizes[k], 2, "validation", k);
    for (let j = 0; j < quota[k]; j++) want.push(starts[k] + p[j]);
  }
  assertSameArray(strat.val, want.sort((a, b) => a - b), "stratified draw");
});

Deno.test("validationIndices refuses sizes that leave no training or no validation data", () => {
  for (const size of [0, -0.1, 100, 150, 2.5, 0.001]) {
    assertThrowsMsg(
      () => validationIndices(labels, 4, { size, seed: 0 }),
      /validation size must be/,
    );
  }
});

Deno.test("splitValidation copies the two parts of a dataset", () => {
  const ds = syntheticDataset({ n: 200, shape: [1, 3, 3], numClasses: 5, seed: 9 });
  const { train, val, indices } = splitValidation(ds, { size: 0.25, seed: 4 });
  check(train.name === "synthetic-fit" && val.name === "synthetic-val", "names");
  check(train.length === 150 && val.length === 50, "sizes");
  val.labels.forEach((l, j) => check(l === ds.labels[indices.val[j]], `val label ${j}`));
  for (let j = 0; j < 150; j++) {
    const i = indices.train[j];
    assertSameArray(
      train.images.subarray(j * 9, j * 9 + 9),
      ds.images.subarray(i * 9, i * 9 + 9),
      `train ${j}`,
    );
  }
});
