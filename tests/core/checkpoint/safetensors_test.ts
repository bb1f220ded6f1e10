import * as T from "@topiary/core";
import { tensor } from "@topiary/core";
import {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
  loadSafetensors,
  loadSafetensorsSync,
  saveSafetensors,
  saveSafetensorsSync,
} from "../../../core/checkpoint/mod.ts";
import { assertThrowsMsg, liveBuffers } from "../../_harness.ts";
import { assertBitEqual } from "../optim/_reference.ts";
import { rawFile, withTempDir } from "./_util.ts";

const SHAPES: number[][] = [[], [0], [1], [5], [2, 3], [2, 0, 4], [1, 2, 3, 2]];

function sample(): Map<string, T.Tensor> {
  const m = new Map<string, T.Tensor>();
  SHAPES.forEach((sh, k) => {
    const n = T.numel(sh);
    const f = Float32Array.from({ length: n }, (_, i) => (i - 2.5) * 0.1 * (k + 1));
    if (n > 2) f[1] = -0; // signed zero must survive
    if (n > 3) f[2] = 1e-40; // a subnormal too
    m.set(`f32.s${k}`, tensor(f, sh));
    m.set(
      `i32.s${k}`,
      tensor(Int32Array.from({ length: n }, (_, i) => i * 1000003 - 7), sh, { dtype: "i32" }),
    );
    m.set(
      `u8.s${k}`,
      tensor(Uint8Array.from({ length: n }, (_, i) => (i * 37) & 255), sh, { dtype: "u8" }),
    );
  });
  return m;
}

function assertSameTensors(a: Map<string, T.Tensor>, b: Map<string, T.Tensor>): void {
  if ([...a.keys()].sort().join() !== [...b.keys()].sort().join()) {
    throw new Error(`names differ: ${[...a.keys()]} vs ${[...b.keys()]}`);
  }
  for (const [k, t] of a) {
    const u = b.get(k)!;
    if (
      t.dtype !== u.dtype || t.shape.join() !== u.shape.join() || t.shape.length !== u.shape.length
    ) {
      throw new Error(`${k}: ${t} vs ${u}`);
    }
    assertBitEqual(k, t.toArray(), u.toArray());
  }
}

Deno.test("safetensors round trip: f32, i32, u8 of scalar, empty and n-d shapes, metadata", async () => {
  const before = liveBuffers(T.getDefaultBackend());
  await withTempDir(async (dir) => {
    const src = sample();
    const meta = { note: 'héllo "quoted"\n', "z-last": "1", a: "" };
    await saveSafetensors(`${dir}/a.safetensors`, src, { metadata: meta });
    saveSafetensorsSync(`${dir}/b.safetensors`, src, { metadata: meta });
    const a = await loadSafetensors(`${dir}/a.safetensors`);
    const b = loadSafetensorsSync(`${dir}/b.safetensors`);
    assertSameTensors(src, a.tensors);
    assertSameTensors(src, b.tensors);
    if (JSON.stringify(a.metadata) !== JSON.stringify({ a: "", note: meta.note, "z-last": "1" })) {
      throw new Error(`metadata ${JSON.stringify(a.metadata)}`);
    }
    const same = Deno.readFileSync(`${dir}/a.safetensors`),
      other = Deno.readFileSync(`${dir}/b.safetensors`);
    assertBitEqual("async and sync files", same, other);
    T.dispose([src, a.tensors, b.tensors]);
  });
  if (liveBuffers(T.getDefaultBackend()) !== before) throw new Error("native buffers leaked");
});

Deno.test("safetensors exact byte layout of a small file (readable by PyTorch's safetensors)", () => {
  const tensors: [string, HostTensor][] = [
    ["b", { dtype: "u8", shape: [3], data: Uint8Array.of(1, 2, 254) }],
    ["a", { dtype: "f32", shape: [2], data: Float32Array.of(1, -2) }],
    ["bn.num_batches_tracked", { dtype: "i32", shape: [], data: Int32Array.of(-3) }],
    ["c", { dtype: "i32", shape: [1, 1], data: Int32Array.of(258) }],
  ];
  const bytes = encodeSafetensors(tensors, { metadata: { format: "pt" } });
  // Order: dtype size descending (I64, F32, I32, U8), then name, as safetensors' serialize.
  const json = `{"__metadata__":{"format":"pt"},` +
    `"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},` +
    `"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},` +
    `"c":{"dtype":"I32","shape":[1,1],"data_offsets":[16,20]},` +
    `"b":{"dtype":"U8","shape":[3],"data_offsets":[20,23]}}`;
  const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
  const n = padded.length;
  const want = [
    ...[n & 255, n >> 8, 0, 0, 0, 0, 0, 0],
    ...new TextEncoder().encode(padded),
    ...[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // -3 as little-endian i64
    ...[0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0], // 1.0f, -2.0f
    ...[0x02, 0x01, 0x00, 0x00], // 258
    ...[1, 2, 254],
  ];
  assertBitEqual("file bytes", bytes, Uint8Array.from(want));
  if (n % 8 !== 0 || json.length % 8 === 0) throw new Error("the test should exercise padding");
  const d = decodeSafetensors(bytes, "small.safetensors");
  const nbt = d.tensors.get("bn.num_batches_tracked")!;
  if (nbt.dtype !== "i32" || nbt.data[0] !== -3 || nbt.shape.length !== 0) {
    throw new Error(`num_batches_tracked read back as ${JSON.stringify(nbt)}`);
  }
  if ([...d.tensors.keys()].join() !== "bn.num_batches_tracked,a,c,b") {
    throw new Error(`order ${[...d.tensors.keys()]}`);
  }
});

Deno.test("safetensors headers are padded with spaces to 8 bytes for every length", () => {
  for (let len = 1; len <= 16; len++) {
    const name = "x".repeat(len);
    const bytes = encodeSafetensors([[name, { dtype: "u8", shape: [1], data: Uint8Array.of(9) }]]);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    if (n % 8 !== 0 || text.trimEnd().length < n - 7 || !/^\{.*\} *$/.test(text)) {
      throw new Error(`name length ${len}: header of ${n} bytes "${text}"`);
    }
    if (bytes.length !== 8 + n + 1 || bytes[8 + n] !== 9) throw new Error("data misplaced");
  }
});

Deno.test("safetensors I64: num_batches_tracked is written as I64, other i32 stay I32", () => {
  const one = (v: number): HostTensor => ({ dtype: "i32", shape: [], data: Int32Array.of(v) });
  const dtypeOf = (bytes: Uint8Array, name: string) => {
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))[name].dtype;
  };
  const b = encodeSafetensors([
    ["layer1.0.bn1.num_batches_tracked", one(2147483647)],
    ["labels", one(-2147483648)],
  ]);
  if (dtypeOf(b, "layer1.0.bn1.num_batches_tracked") !== "I64" || dtypeOf(b, "labels") !== "I32") {
    throw new Error("wrong dtypes");
  }
  const d = decodeSafetensors(b, "f");
  if (d.tensors.get("layer1.0.bn1.num_batches_tracked")!.data[0] !== 2147483647) {
    throw new Error("I64 value not restored");
  }
  const custom = encodeSafetensors([["labels", one(-5)]], { i64: (n) => n === "labels" });
  if (
    dtypeOf(custom, "labels") !== "I64" ||
    decodeSafetensors(custom, "f").tensors.get("labels")!.data[0] !== -5
  ) {
    throw new Error("custom I64 rule");
  }
  // An I64 value beyond the i32 range is refused on read, naming the tensor.
  const big = new Uint8Array(8);
  new DataView(big.buffer).setBigInt64(0, 1n << 40n, true);
  const file = rawFile(`{"nbt":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, big);
  assertThrowsMsg(
    () => decodeSafetensors(file, "big.safetensors"),
    /big.safetensors: tensor "nbt": I64 value 1099511627776 at index 0 does not fit in i32/,
  );
});

Deno.test("safetensors refuses corrupt files with errors naming the file and the tensor", () => {
  const good = encodeSafetensors([
    ["w", { dtype: "f32", shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }],
    ["m", { dtype: "u8", shape: [4], data: Uint8Array.of(1, 0, 1, 0) }],
  ]);
  const F = "ckpt.safetensors";
  const dec = (b: Uint8Array) => () => decodeSafetensors(b, F);
  const f4 = new Uint8Array(16);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /ckpt.safetensors: truncated: 0 bytes/],
    ["cut inside the length", good.subarray(0, 5), /truncated: 5 bytes/],
    [
      "cut inside the header",
      good.subarray(0, 20),
      /header length \d+ runs beyond the end of the file \(20 bytes/,
    ],
    [
      "cut inside the data",
      good.subarray(0, good.length - 3),
      /tensor "m" \[16, 20\) runs beyond the data section \(17 bytes; file truncated\?\)/,
    ],
    [
      "trailing bytes",
      Uint8Array.from([...good, 0]),
      /data bytes \[20, 21\) after the last tensor belong to no tensor/,
    ],
    ["bad JSON", rawFile(`{"w": {"dtype": "F32",}}`), /the header is not valid JSON/],
    ["unterminated object", rawFile(`{`.padEnd(8)), /not valid JSON/],
    ["not starting with {", rawFile(`[1, 2, 3]`), /does not start with "\{"/],
    ["bad UTF-8", rawFile(`{"\xff"}`).map((x, i) => (i === 10 ? 0xff : x)), /not valid UTF-8/],
    [
      "overlapping offsets",
      rawFile(
        `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`,
        f4,
      ),
      /tensor "b" \[4, 12\) overlaps tensor "a" \[0, 8\)/,
    ],
    [
      "gap between tensors",
      rawFile(
        `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`,
        f4,
      ),
      /data bytes \[4, 8\) belong to no tensor/,
    ],
    [
      "offsets out of range",
      rawFile(`{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}`, f4),
      /tensor "a" \[0, 32\) runs beyond the data section \(16 bytes/,
    ],
    [
      "end before begin",
      rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`, f4),
      /tensor "a": data_offsets \[8, 4\] end before they begin/,
    ],
    [
      "unknown dtype",
      rawFile(`{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}`, f4),
      /tensor "a": unknown dtype "Q7"/,
    ],
    [
      "unsupported dtype",
      rawFile(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, f4),
      /tensor "a": dtype BF16 is not supported/,
    ],
    [
      "shape/size mismatch",
      rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, f4),
      /tensor "a": shape \[3\] F32 needs 12 bytes, data_offsets \[0, 16\] hold 16/,
    ],
    [
      "bad shape",
      rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f4),
      /tensor "a": shape must be an array of integers >= 0/,
    ],
    [
      "missing offsets",
      rawFile(`{"a":{"dtype":"F32","shape":[1]}}`, f4),
      /tensor "a": data_offsets must be \[begin, end\]/,
    ],
    ["bad metadata", rawFile(`{"__metadata__":{"k":1}}`), /__metadata__ "k" is not a string/],
  ];
  for (const [what, bytes, pattern] of cases) {
    try {
      assertThrowsMsg(dec(bytes), pattern);
      assertThrowsMsg(dec(bytes), /^safetensors file ckpt.safetensors: /);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  }
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 1n << 62n, true);
  assertThrowsMsg(dec(huge), /header length 4611686018427387904 runs beyond the end of the file/);
});

Deno.test("safetensors writer refuses what it cannot represent", () => {
  const x: HostTensor = { dtype: "f32", shape: [2], data: Float32Array.of(1, 2) };
  assertThrowsMsg(() => encodeSafetensors([["a", x], ["a", x]]), /"a" appears twice/);
  assertThrowsMsg(() => encodeSafetensors([["__metadata__", x]]), /"__metadata__" is reserved/);
  assertThrowsMsg(
    () => encodeSafetensors([["a", { ...x, shape: [3] }]]),
    /"a" has 2 values for shape \[3\]/,
  );
});

Deno.test("safetensors file errors name the path", async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/nope.safetensors`;
    let msg = "";
    await loadSafetensors(missing).catch((e) => msg = e.message);
    if (!msg.includes(`cannot read ${missing}`)) throw new Error(`message: ${msg}`);
    Deno.writeFileSync(
      `${dir}/junk.safetensors`,
      new TextEncoder().encode("hello world, not a file"),
    );
    await loadSafetensors(`${dir}/junk.safetensors`).catch((e) => msg = e.message);
    if (!msg.includes(`${dir}/junk.safetensors: header length`)) throw new Error(`message: ${msg}`);
    using t = tensor([1, 2]);
    await saveSafetensors(`${dir}/no/such/dir/x.safetensors`, [["t", t]]).catch((e) =>
      msg = e.message
    );
    if (!msg.includes(`cannot write ${dir}/no/such/dir/x.safetensors`)) {
      throw new Error(`message: ${msg}`);
    }
  });
});
