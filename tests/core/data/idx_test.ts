import { parseIdx, readIdx, readIdxUnit } from "../../../core/data/mod.ts";
import { assertThrowsMsg } from "../../_harness.ts";
import { assertSameArray, check, idxBytes, withTempDir } from "./_util.ts";

const pixels = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256);

Deno.test("parseIdx reads dims and row-major u8 elements", () => {
  const a = parseIdx(idxBytes([2, 3, 4], pixels), "x", [2, 3, 4]);
  assertSameArray(a.dims, [2, 3, 4], "dims");
  assertSameArray(a.data, pixels, "data");
  const free = parseIdx(idxBytes([2, 3, 4], pixels), "x", [null, 3, null]);
  assertSameArray(free.dims, [2, 3, 4], "dims with wildcards");
  const labels = parseIdx(idxBytes([5], [0, 1, 2, 3, 9]), "y");
  assertSameArray(labels.data, [0, 1, 2, 3, 9], "labels without expected dims");
});

Deno.test("parseIdx: a bad magic number names the file, the expected and the found magic", () => {
  const b = idxBytes([2, 3, 4], pixels);
  b[0] = 0x12;
  assertThrowsMsg(
    () => parseIdx(b, "/d/train-images", [2, 3, 4]),
    /IDX file \/d\/train-images: expected magic number 0x00000803 .*found 0x12000803/,
  );
});

Deno.test("parseIdx: a non-u8 element type is refused", () => {
  const b = idxBytes([2, 3, 4], pixels);
  b[2] = 0x0d;
  assertThrowsMsg(
    () => parseIdx(b, "f", [2, 3, 4]),
    /IDX file f: expected element type 0x08 \(u8\).*found 0x0d \(f32\)/,
  );
});

Deno.test("parseIdx: the wrong number of dimensions (labels file given for images)", () => {
  assertThrowsMsg(
    () => parseIdx(idxBytes([24], pixels), "lab", [2, 3, 4]),
    /IDX file lab: expected 3 dimensions \(magic 0x00000803\), found 1 \(magic 0x00000801\)/,
  );
  assertThrowsMsg(
    () => parseIdx(idxBytes([], []), "z"),
    /expected at least one dimension, found 0/,
  );
});

Deno.test("parseIdx: a wrong dimension size names the dimension", () => {
  assertThrowsMsg(
    () => parseIdx(idxBytes([2, 3, 4], pixels), "f", [2, 4, 3]),
    /IDX file f: expected dimension 1 to be 4, found 3 \(dims \[2,3,4\]\)/,
  );
});

Deno.test("parseIdx: truncated and over-long files give expected and found sizes", () => {
  const b = idxBytes([2, 3, 4], pixels);
  assertThrowsMsg(
    () => parseIdx(b.subarray(0, b.length - 1), "f", [2, 3, 4]),
    /IDX file f: truncated: expected 40 bytes \(16-byte header \+ 2×3×4 elements\), found 39/,
  );
  const long = new Uint8Array(b.length + 3);
  long.set(b);
  assertThrowsMsg(() => parseIdx(long, "f", [2, 3, 4]), /too long: expected 40 bytes.*found 43/);
  assertThrowsMsg(
    () => parseIdx(b.subarray(0, 10), "f", [2, 3, 4]),
    /truncated header: expected 16 bytes for 3 dimensions, found 10/,
  );
  assertThrowsMsg(() => parseIdx(b.subarray(0, 3), "f"), /at least a 4-byte header, found 3/);
  assertThrowsMsg(() => parseIdx(new Uint8Array(0), "f"), /found 0 bytes/);
});

Deno.test("parseIdx: a gzip-compressed file is recognised", () => {
  assertThrowsMsg(
    () => parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]), "f.gz"),
    /IDX file f.gz: is gzip-compressed/,
  );
});

Deno.test("readIdx and readIdxUnit: files on disk, missing files, corrupt files", async () => {
  await withTempDir((dir) => {
    const good = `${dir}/good`, short = `${dir}/short`;
    Deno.writeFileSync(good, idxBytes([2, 3, 4], pixels));
    Deno.writeFileSync(short, idxBytes([2, 3, 4], pixels).subarray(0, 30));
    assertSameArray(readIdx(good, [2, 3, 4]).data, pixels, "readIdx");
    const unit = readIdxUnit(good, [2, 3, 4]);
    assertSameArray(unit.dims, [2, 3, 4], "readIdxUnit dims");
    assertSameArray(unit.data, pixels.map((v) => Math.fround(v / 255)), "readIdxUnit values");
    check(unit.data instanceof Float32Array, "readIdxUnit must give a Float32Array");
    for (const read of [readIdx, readIdxUnit]) {
      assertThrowsMsg(() => read(`${dir}/nope`, [2, 3, 4]), /file not found: .*\/nope/);
      assertThrowsMsg(
        () => read(short, [2, 3, 4]),
        new RegExp(`IDX file ${short}: truncated: expected 40 bytes .*found 30`),
      );
      assertThrowsMsg(() => read(dir, [2, 3, 4]), /expected a file, found a directory/);
    }
  });
});

Deno.test("readIdxUnit streams files larger than its 1 MiB chunk", async () => {
  await withTempDir((dir) => {
    const n = (1 << 20) + 12345;
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 9)) & 255);
    Deno.writeFileSync(`${dir}/big`, idxBytes([n], data));
    const got = readIdxUnit(`${dir}/big`, [n]).data;
    check(got.length === n, `length ${got.length}`);
    for (let i = 0; i < n; i++) {
      if (got[i] !== Math.fround(data[i] / 255)) throw new Error(`element ${i}: ${got[i]}`);
    }
  });
});
