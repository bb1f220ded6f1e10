import { checkDataset, CIFAR10_FILES, loadCifar10, loadDataset } from "../../../core/data/mod.ts";
import { assertRejectsMsg, assertSameArray, check, withTempDir } from "./_util.ts";

const R = 3; // records per synthetic file
const RECORD = 3073;

/** Label and pixel bytes of record r of file f: label (f * R + r) % 10, pixels from f, r, p. */
const labelOf = (f: number, r: number) => (f * R + r) % 10;
const byteOf = (f: number, r: number, p: number) => (f * 91 + r * 17 + p * 5 + (p >> 10) * 3) & 255;

/** Writes CIFAR-10 binary files with R records each into `dir`. */
function writeFiles(dir: string): void {
  const names = [...CIFAR10_FILES.train, ...CIFAR10_FILES.test];
  names.forEach((name, f) => {
    const b = new Uint8Array(R * RECORD);
    for (let r = 0; r < R; r++) {
      b[r * RECORD] = labelOf(f, r);
      for (let p = 0; p < 3072; p++) b[r * RECORD + 1 + p] = byteOf(f, r, p);
    }
    Deno.writeFileSync(`${dir}/${name}`, b);
  });
}

Deno.test("loadCifar10 reads labels and CHW pixels of every record in file order", async () => {
  await withTempDir(async (dir) => {
    writeFiles(dir);
    const train = await loadCifar10(dir, "train", { recordsPerFile: R });
    const test = await loadCifar10(dir, "test", { recordsPerFile: R });
    check(train.name === "cifar10-train" && test.name === "cifar10-test", "names");
    assertSameArray(train.shape, [3, 32, 32], "shape");
    check(train.length === 5 * R && test.length === R && train.numClasses === 10, "sizes");
    checkDataset(train);
    checkDataset(test);
    for (const [ds, files] of [[train, [0, 1, 2, 3, 4]], [test, [5]]] as const) {
      files.forEach((f, k) => {
        for (let r = 0; r < R; r++) {
          const i = k * R + r;
          check(ds.labels[i] === labelOf(f, r), `${ds.name} label ${i}`);
          for (let p = 0; p < 3072; p++) {
            const want = Math.fround(byteOf(f, r, p) / 255);
            if (ds.images[i * 3072 + p] !== want) {
              throw new Error(`${ds.name} image ${i} pixel ${p}`);
            }
          }
        }
      });
    }
  });
});

Deno.test("loadCifar10 finds the cifar-10-batches-bin sub-folder; loadDataset passes dir", async () => {
  await withTempDir(async (dir) => {
    Deno.mkdirSync(`${dir}/cifar-10-batches-bin`);
    writeFiles(`${dir}/cifar-10-batches-bin`);
    const ds = await loadCifar10(dir, "test", { recordsPerFile: R });
    assertSameArray(ds.labels, [5, 6, 7].map((v) => v % 10), "labels of test_batch.bin");
    // With the default 10,000 records per file, the small files are refused.
    await assertRejectsMsg(
      () => loadDataset("cifar10", "test", { dir }),
      /test_batch.bin: too short: expected 30730000 bytes \(10000 records of 1 label byte \+ 3072 pixel bytes\), found 9219 \(3 records\)/,
    );
  });
});

Deno.test("loadCifar10: missing folders and files, short files and bad labels are named", async () => {
  await withTempDir(async (dir) => {
    await assertRejectsMsg(
      () => loadCifar10(`${dir}/none`, "train"),
      /CIFAR-10: folder not found: .*\/none/,
    );
    await assertRejectsMsg(
      () => loadCifar10(dir, "train"),
      /expected data_batch_1.bin, .*test_batch.bin in .* or .*cifar-10-batches-bin, found none$/,
    );
    Deno.writeFileSync(`${dir}/data_batch_1`, new Uint8Array(1));
    await assertRejectsMsg(() => loadCifar10(dir, "train"), /found the Python pickle version/);
    writeFiles(dir);
    Deno.removeSync(`${dir}/data_batch_3.bin`);
    await assertRejectsMsg(
      () => loadCifar10(dir, "train", { recordsPerFile: R }),
      new RegExp(`CIFAR-10: file not found: ${dir}/data_batch_3.bin`),
    );
    writeFiles(dir);
    const b = Deno.readFileSync(`${dir}/data_batch_2.bin`);
    Deno.writeFileSync(`${dir}/data_batch_2.bin`, b.subarray(0, b.length - 100));
    await assertRejectsMsg(
      () => loadCifar10(dir, "train", { recordsPerFile: R }),
      new RegExp(`${dir}/data_batch_2.bin: too short: expected 9219 bytes .*found 9119$`),
    );
    const long = new Uint8Array(b.length + RECORD);
    long.set(b);
    Deno.writeFileSync(`${dir}/data_batch_2.bin`, long);
    await assertRejectsMsg(
      () => loadCifar10(dir, "train", { recordsPerFile: R }),
      /data_batch_2.bin: too long: expected 9219 bytes .*found 12292 \(4 records\)/,
    );
    b[RECORD] = 57;
    Deno.writeFileSync(`${dir}/data_batch_2.bin`, b);
    await assertRejectsMsg(
      () => loadCifar10(dir, "train", { recordsPerFile: R }),
      /data_batch_2.bin: expected labels 0..9, found 57 in record 1/,
    );
    if (!Deno.env.get("TOPIARY_CIFAR10_DIR")) {
      await assertRejectsMsg(() => loadDataset("cifar10", "test"), /cifar10: no folder given/);
    }
  });
});
