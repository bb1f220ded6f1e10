import { BatchLoader, type Dataset, syntheticDataset } from "../../../core/data/mod.ts";
import { augmentParams } from "../../../core/data/mod.ts";
import { philoxPermutation } from "@topiary/core";
import { assertThrowsMsg, liveBuffers, opTest } from "../../_harness.ts";
import { assertSameArray, check, referenceCropFlip, sameArray } from "./_util.ts";

const ds: Dataset = syntheticDataset({ n: 103, shape: [3, 6, 5], numClasses: 4, seed: 2 });
const PER = 90;
const aug = { padding: 2, flip: true };

/** Host values of a batch's tensors. */
function hostOf(b: { x: { toArray(): ArrayLike<number> }; y: { toArray(): ArrayLike<number> } }) {
  return { x: Float32Array.from(b.x.toArray()), y: Int32Array.from(b.y.toArray()) };
}

opTest("BatchLoader: batch tensors, shapes, dtypes, last batch, dropLast", () => {
  const L = new BatchLoader(ds, { batchSize: 16, seed: 1 });
  check(L.batchesPerEpoch === 7, `${L.batchesPerEpoch} batches`);
  const b0 = L.batch(0, 0), last = L.batch(0, 6);
  assertSameArray(b0.x.shape, [16, 3, 6, 5], "x shape");
  assertSameArray(b0.y.shape, [16], "y shape");
  check(b0.x.dtype === "f32" && b0.y.dtype === "i32", `dtypes ${b0.x.dtype} ${b0.y.dtype}`);
  assertSameArray(last.x.shape, [7, 3, 6, 5], "last batch x shape");
  check(b0.epoch === 0 && b0.index === 0 && last.index === 6, "batch position");
  const D = new BatchLoader(ds, { batchSize: 16, seed: 1, dropLast: true });
  check(D.batchesPerEpoch === 6, `dropLast: ${D.batchesPerEpoch} batches`);
  check([...D.batches(0)].length === 6, "dropLast iterates 6 batches");
  assertThrowsMsg(() => D.batch(0, 6), /batch index 6 is outside 0..5/);
  // The tensors hold what hostBatch gives, and x/y match the dataset at the batch's indices.
  const hb = L.hostBatch(0, 6);
  const t = hostOf(last);
  assertSameArray(t.x, hb.x, "x tensor = host batch");
  assertSameArray(t.y, hb.y, "y tensor = host batch");
  hb.indices.forEach((i, j) => {
    check(t.y[j] === ds.labels[i], `label ${j}`);
    assertSameArray(
      t.x.subarray(j * PER, (j + 1) * PER),
      ds.images.subarray(i * PER, (i + 1) * PER),
      `image ${j}`,
    );
  });
});

opTest(
  "BatchLoader: each epoch visits every index once, in philoxPermutation(n, seed, 'shuffle', epoch)",
  () => {
    const L = new BatchLoader(ds, { batchSize: 16, seed: 5 });
    for (const epoch of [0, 1, 7]) {
      const visited: number[] = [];
      for (const b of L.batches(epoch)) {
        const idx = L.hostBatch(epoch, b.index).indices;
        const y = hostOf(b).y;
        idx.forEach((i, j) =>
          check(y[j] === ds.labels[i], `epoch ${epoch} batch ${b.index} label ${j}`)
        );
        visited.push(...idx);
        b.dispose();
      }
      assertSameArray(visited, philoxPermutation(103, 5, "shuffle", epoch), `epoch ${epoch} order`);
      assertSameArray(
        [...visited].sort((a, b) => a - b),
        Array.from({ length: 103 }, (_, i) => i),
        "a permutation",
      );
    }
    check(!sameArray(L.order(0), L.order(1)), "epochs 0 and 1 must differ in order");
    const other = new BatchLoader(ds, { batchSize: 16, seed: 6 });
    check(!sameArray(other.order(0), L.order(0)), "another seed must give another order");
    const plain = new BatchLoader(ds, { batchSize: 16, seed: 5, shuffle: false });
    assertSameArray(plain.order(3), Array.from({ length: 103 }, (_, i) => i), "shuffle: false");
  },
);

opTest(
  "BatchLoader: same seed and (epoch, batch) give bit-identical batches, with augmentation",
  () => {
    const a = new BatchLoader(ds, { batchSize: 16, seed: 9, augment: aug });
    const b = new BatchLoader(ds, { batchSize: 16, seed: 9, augment: aug });
    for (const [e, i] of [[0, 0], [2, 3], [2, 6]]) {
      const x = hostOf(a.batch(e, i)), y = hostOf(b.batch(e, i));
      assertSameArray(x.x, y.x, `x (${e}, ${i})`);
      assertSameArray(x.y, y.y, `y (${e}, ${i})`);
    }
    // Another seed changes the order and the augmentation.
    const c = new BatchLoader(ds, { batchSize: 16, seed: 10, augment: aug });
    check(
      !sameArray(hostOf(c.batch(0, 0)).x, hostOf(a.batch(0, 0)).x),
      "another seed, other pixels",
    );
  },
);

opTest(
  "BatchLoader: augmented pixels are pad-crop-flip of the image with the drawn parameters",
  () => {
    const L = new BatchLoader(ds, { batchSize: 16, seed: 4, augment: aug });
    let flips = 0, shifted = 0;
    for (const [e, bi] of [[0, 0], [1, 6], [5, 2]]) {
      const hb = L.hostBatch(e, bi);
      const idx = Int32Array.from(hb.indices);
      const x = hostOf(L.batch(e, bi)).x;
      const p = augmentParams(idx.length, 4, e, bi, aug);
      idx.forEach((i, j) => {
        const want = referenceCropFlip(
          ds.images.subarray(i * PER, (i + 1) * PER),
          3,
          6,
          5,
          2,
          p[3 * j],
          p[3 * j + 1],
          p[3 * j + 2] === 1,
        );
        assertSameArray(
          x.subarray(j * PER, (j + 1) * PER),
          want,
          `epoch ${e} batch ${bi} image ${j}`,
        );
        flips += p[3 * j + 2];
        if (p[3 * j] !== 2 || p[3 * j + 1] !== 2) shifted++;
      });
    }
    check(
      flips > 5 && flips < 34 && shifted > 20,
      `augmentation must happen (${flips} flips, ${shifted} shifts of 39)`,
    );
  },
);

opTest("BatchLoader: resuming at (epoch, batch) matches an uninterrupted run", () => {
  const run = new BatchLoader(ds, { batchSize: 16, seed: 3, augment: aug });
  const full: { x: Float32Array; y: Int32Array }[] = [];
  for (let e = 0; e < 3; e++) for (const b of run.batches(e)) full.push(hostOf(b));
  // A fresh loader (as after a restart) resumes at epoch 1, batch 4, without visiting earlier batches.
  const resumed = new BatchLoader(ds, { batchSize: 16, seed: 3, augment: aug });
  const rest: { x: Float32Array; y: Int32Array }[] = [];
  for (const b of resumed.batches(1, 4)) rest.push(hostOf(b));
  for (const b of resumed.batches(2)) rest.push(hostOf(b));
  check(rest.length === full.length - 7 - 4, `${rest.length} batches after resume`);
  rest.forEach((b, k) => {
    assertSameArray(b.x, full[7 + 4 + k].x, `resumed batch ${k} x`);
    assertSameArray(b.y, full[7 + 4 + k].y, `resumed batch ${k} y`);
  });
  // Random access in any order gives the same batches (no hidden state).
  const random = new BatchLoader(ds, { batchSize: 16, seed: 3, augment: aug });
  for (const [e, i] of [[2, 5], [0, 1], [2, 0], [0, 6]]) {
    assertSameArray(hostOf(random.batch(e, i)).x, full[7 * e + i].x, `random access (${e}, ${i})`);
  }
});

opTest("BatchLoader: Batch.dispose frees the tensors; bad arguments are refused", (backend) => {
  const L = new BatchLoader(ds, { batchSize: 16, seed: 0 });
  const before = liveBuffers(backend);
  const b = L.batch(0, 0);
  check(liveBuffers(backend) === before + 2, "a batch holds two buffers");
  b.dispose();
  check(liveBuffers(backend) === before, "dispose frees them");
  {
    using _u = L.batch(0, 1);
    check(liveBuffers(backend) === before + 2, "using: alive inside the block");
  }
  check(liveBuffers(backend) === before, "using: freed at block end");
  assertThrowsMsg(
    () => new BatchLoader(ds, { batchSize: 0 }),
    /batchSize must be a positive integer/,
  );
  assertThrowsMsg(
    () => new BatchLoader(ds, { batchSize: 4, augment: { padding: -1 } }),
    /padding must be a non-negative integer/,
  );
  assertThrowsMsg(() => L.batch(-1, 0), /epoch must be an integer/);
  assertThrowsMsg(
    () => L.batch(0, 7),
    /batch index 7 is outside 0..6 \(103 images of "synthetic" in batches of 16\)/,
  );
});
