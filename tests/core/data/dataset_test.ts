import {
  bytesToUnit,
  checkDataset,
  classCounts,
  type Dataset,
  makeDataset,
  subset,
  syntheticDataset,
} from "../../../core/data/mod.ts";
import { assertThrowsMsg } from "../../_harness.ts";
import { assertSameArray, check, sameArray } from "./_util.ts";

const tiny = (): Dataset =>
  makeDataset(
    "tiny",
    Float32Array.from({ length: 3 * 2 * 2 * 2 }, (_, i) => i / 24),
    Int32Array.from([0, 2, 1]),
    [2, 2, 2],
    3,
  );

Deno.test("checkDataset names the dataset and the first problem", () => {
  checkDataset(tiny());
  const t = tiny();
  assertThrowsMsg(
    () => checkDataset({ ...t, shape: [2, 2] as unknown as [number, number, number] }),
    /"tiny": shape must be \[C, H, W\]/,
  );
  assertThrowsMsg(() => checkDataset({ ...t, length: 4 }), /"tiny": length 4 but 3 labels/);
  assertThrowsMsg(
    () => checkDataset({ ...t, images: t.images.subarray(1) }),
    /"tiny": expected 3 images of \[2,2,2\] = 24 floats, found 23/,
  );
  assertThrowsMsg(
    () => checkDataset({ ...t, labels: Int32Array.from([0, 3, 1]) }),
    /"tiny": label 3 at index 1 is outside 0..2/,
  );
  assertThrowsMsg(
    () => checkDataset({ ...t, labels: Int32Array.from([0, -1, 1]) }),
    /label -1 at index 1/,
  );
  assertThrowsMsg(
    () => checkDataset({ ...t, numClasses: 0 }),
    /numClasses must be a positive integer/,
  );
  const px = t.images.slice();
  px[13] = 1.5;
  assertThrowsMsg(
    () => checkDataset({ ...t, images: px }),
    /pixel 13 \(image 1\) is 1.5, expected a value in \[0, 1\]/,
  );
  px[13] = NaN;
  assertThrowsMsg(() => checkDataset({ ...t, images: px }), /pixel 13 \(image 1\) is NaN/);
  checkDataset({ ...t, images: px }, { pixels: false });
  assertThrowsMsg(
    () => makeDataset("m", new Float32Array(7), new Int32Array(1), [1, 2, 4], 2),
    /"m": expected 1 images/,
  );
});

Deno.test("subset copies images and labels in index order; classCounts counts labels", () => {
  const t = tiny();
  const s = subset(t, [2, 0, 2], "picked");
  check(s.name === "picked" && s.length === 3 && s.numClasses === 3, "subset metadata");
  assertSameArray(s.labels, [1, 0, 1], "labels");
  assertSameArray(s.images.subarray(0, 8), t.images.subarray(16, 24), "image 0 = source 2");
  assertSameArray(s.images.subarray(8, 16), t.images.subarray(0, 8), "image 1 = source 0");
  assertSameArray(s.images.subarray(16, 24), t.images.subarray(16, 24), "image 2 = source 2");
  s.images[0] = 0.123;
  check(t.images[16] !== Math.fround(0.123), "subset must copy, not share");
  assertSameArray(classCounts(t), [1, 1, 1], "classCounts");
  assertSameArray(classCounts(s), [1, 2, 0], "classCounts of subset");
  assertThrowsMsg(() => subset(t, [0, 3]), /index 3 at position 1 is outside 0..2/);
});

Deno.test("bytesToUnit maps byte b to the float32 nearest b / 255", () => {
  const b = Uint8Array.from({ length: 256 }, (_, i) => i);
  assertSameArray(bytesToUnit(b), Array.from(b, (v) => Math.fround(v / 255)), "values");
  check(bytesToUnit(b)[255] === 1 && bytesToUnit(b)[0] === 0, "ends");
  assertThrowsMsg(() => bytesToUnit(b, new Float32Array(3)), /256 bytes for 3 floats/);
});

Deno.test("syntheticDataset: seeded, shaped, in [0, 1), every class present and learnable", () => {
  const a = syntheticDataset({ n: 500, shape: [3, 5, 4], numClasses: 7, seed: 3 });
  const b = syntheticDataset({ n: 500, shape: [3, 5, 4], numClasses: 7, seed: 3 });
  const c = syntheticDataset({ n: 500, shape: [3, 5, 4], numClasses: 7, seed: 4 });
  checkDataset(a);
  check(a.name === "synthetic" && a.length === 500 && a.images.length === 500 * 60, "sizes");
  assertSameArray(a.shape, [3, 5, 4], "shape");
  check(sameArray(a.images, b.images) && sameArray(a.labels, b.labels), "same seed, same data");
  check(
    !sameArray(a.images, c.images) && !sameArray(a.labels, c.labels),
    "another seed, other data",
  );
  check(a.images.every((v) => v >= 0 && v < 1), "pixels in [0, 1)");
  const counts = classCounts(a);
  check(counts.every((n) => n > 40 && n < 110), `balanced-ish classes: ${counts}`);
  // Nearest class mean (means from the first half) classifies the second half well.
  const per = 60, means = Array.from({ length: 7 }, () => new Float64Array(per));
  for (let i = 0; i < 250; i++) {
    for (let j = 0; j < per; j++) means[a.labels[i]][j] += a.images[i * per + j];
  }
  const half = classCounts({ labels: a.labels.subarray(0, 250), numClasses: 7 });
  means.forEach((m, k) => m.forEach((_, j) => m[j] /= half[k]));
  let right = 0;
  for (let i = 250; i < 500; i++) {
    let best = -1, bestD = Infinity;
    means.forEach((m, k) => {
      let d = 0;
      for (let j = 0; j < per; j++) d += (a.images[i * per + j] - m[j]) ** 2;
      if (d < bestD) [best, bestD] = [k, d];
    });
    if (best === a.labels[i]) right++;
  }
  check(right >= 240, `nearest-mean accuracy ${right}/250`);
  assertThrowsMsg(() => syntheticDataset({ n: 2, noise: 2 }), /noise must be in \[0, 1\]/);
  assertThrowsMsg(() => syntheticDataset({ n: -1 }), /n must be a non-negative integer/);
});
