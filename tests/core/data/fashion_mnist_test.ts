import {
  checkDataset,
  classCounts,
  fashionMnistCachePath,
  loadFashionMnist,
  prepareFashionMnist,
} from "../../../core/data/mod.ts";
import { sha256, toHex } from "../../../core/data/_files.ts";
import { assertSameArray, check } from "./_util.ts";

// The real package, converted once into the cache folder ($TOPIARY_CACHE or ~/.cache/topiary;
// the first run takes a few seconds). Per-class training sizes after removing duplicates and
// the one image that occurs in two classes (0 and 6); see docs/data.md.
const TRAIN_PER_CLASS = [5996, 5994, 5987, 5993, 5994, 6000, 5987, 5996, 6000, 5998];
const PIXELS = 784;

function keyOf(images: Uint8Array, i: number): string {
  return String.fromCharCode.apply(
    null,
    images.subarray(i * PIXELS, (i + 1) * PIXELS) as unknown as number[],
  );
}

Deno.test("Fashion-MNIST (real package): split sizes, no duplicates, no overlap, hash rule", async () => {
  await prepareFashionMnist(); // converts once if needed
  const p = await prepareFashionMnist();
  check(p.built === null, "a valid cache file must be read, not rebuilt");
  check(p.path === fashionMnistCachePath(), `cache path ${p.path}`);
  const d = p.data;
  const count = (labels: Uint8Array) => {
    const c = new Array(10).fill(0);
    for (const l of labels) c[l]++;
    return c;
  };
  assertSameArray(count(d.trainLabels), TRAIN_PER_CLASS, "training images per class");
  assertSameArray(count(d.testLabels), new Array(10).fill(1000), "test images per class");
  // Every image occurs once in the whole data: no duplicate inside a split, none across.
  const seen = new Map<string, string>();
  for (
    const [name, images, n] of [
      ["train", d.trainImages, d.trainLabels.length],
      ["test", d.testImages, d.testLabels.length],
    ] as const
  ) {
    for (let i = 0; i < n; i++) {
      const k = keyOf(images, i);
      const prev = seen.get(k);
      if (prev) throw new Error(`${name} image ${i} duplicates ${prev} image`);
      seen.set(k, `${name} ${i}`);
    }
  }
  check(seen.size === 69945, `${seen.size} distinct images, expected 69945`);
  // The split rule: in each class, every test image has a smaller SHA-256 than every
  // training image; within a split images are sorted by class.
  const maxTest = new Array<string>(10).fill(""), minTrain = new Array<string>(10).fill("~");
  for (let i = 0; i < d.testLabels.length; i++) {
    const h = toHex(sha256(d.testImages.subarray(i * PIXELS, (i + 1) * PIXELS)));
    const c = d.testLabels[i];
    if (h > maxTest[c]) maxTest[c] = h;
    if (i > 0 && d.testLabels[i - 1] > c) throw new Error(`test labels not sorted at ${i}`);
  }
  for (let i = 0; i < d.trainLabels.length; i++) {
    const h = toHex(sha256(d.trainImages.subarray(i * PIXELS, (i + 1) * PIXELS)));
    const c = d.trainLabels[i];
    if (h < minTrain[c]) minTrain[c] = h;
    if (i > 0 && d.trainLabels[i - 1] > c) throw new Error(`train labels not sorted at ${i}`);
  }
  for (let c = 0; c < 10; c++) {
    check(maxTest[c] < minTrain[c], `class ${c}: a test image hashes above a training image`);
  }
});

Deno.test("loadFashionMnist: datasets in [0, 1] that match the cached bytes", async () => {
  const { data } = await prepareFashionMnist();
  for (const split of ["train", "test"] as const) {
    const ds = await loadFashionMnist(split);
    const bytes = split === "train" ? data.trainImages : data.testImages;
    const labels = split === "train" ? data.trainLabels : data.testLabels;
    check(ds.name === `fashion-mnist-${split}`, `name ${ds.name}`);
    assertSameArray(ds.shape, [1, 28, 28], "shape");
    check(ds.numClasses === 10 && ds.length === labels.length, `${ds.length} images`);
    checkDataset(ds);
    assertSameArray(ds.labels, labels, `${split} labels`);
    for (let i = 0; i < bytes.length; i += 7) {
      if (ds.images[i] !== Math.fround(bytes[i] / 255)) throw new Error(`pixel ${i} differs`);
    }
    const want = split === "train" ? TRAIN_PER_CLASS : new Array(10).fill(1000);
    assertSameArray(classCounts(ds), want, `${split} class counts`);
  }
});
