import * as T from "@topiary/core";
import {
  bernoulli,
  normal,
  philox4x32,
  philoxBits,
  philoxPermutation,
  philoxUniform,
  randomBits,
  streamId,
  type Tensor,
  uniform,
} from "@topiary/core";
import { assertClose, assertThrowsMsg, opTest } from "../_harness.ts";

const hex = (a: ArrayLike<number>) =>
  Array.from(a, (v) => (v >>> 0).toString(16).padStart(8, "0")).join(" ");

function assertEqualWords(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} != ${want.length} words`);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
}

/** The u32 words of an i32 tensor from randomBits. */
function bitsOf(t: Tensor): Uint32Array {
  const a = t.toArray();
  if (!(a instanceof Int32Array)) throw new Error(`randomBits must give i32, got ${t.dtype}`);
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

Deno.test("philox4x32 matches the Random123 known-answer vectors", () => {
  const kats: [number[], number[], string][] = [
    [[0, 0, 0, 0], [0, 0], "6627e8d5 e169c58d bc57ac4c 9b00dbd8"],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      "408f276d 41c83b0e a20bc7c6 6d5451fd",
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      "d16cfe09 94fdcceb 5001e420 24126ea1",
    ],
  ];
  for (const [ctr, key, want] of kats) {
    const got = hex(philox4x32(ctr, key));
    if (got !== want) {
      throw new Error(`philox4x32(${hex(ctr)}; ${hex(key)}) = ${got}, want ${want}`);
    }
  }
});

Deno.test("philoxBits addresses blocks as documented: (i / 4, counter lo, counter hi, stream)", () => {
  const seed = 0x1234567890abcdefn, counter = 0xfedcba9876543210n, stream = 0xdeadbeef;
  const got = philoxBits(10, seed, stream, counter);
  const key = [0x90abcdef, 0x12345678];
  const want: number[] = [];
  for (let b = 0; b < 3; b++) want.push(...philox4x32([b, 0x76543210, 0xfedcba98, stream], key));
  assertEqualWords(got, want.slice(0, 10), "philoxBits");
});

const addresses: { seed: number | bigint; stream: number | string; counter: number | bigint }[] = [
  { seed: 0, stream: 0, counter: 0 },
  { seed: 7, stream: "dropout", counter: 3 },
  { seed: 2 ** 40 + 12345, stream: "init", counter: 0 },
  { seed: 0xffffffffffffffffn, stream: 0xffffffff, counter: 2n ** 64n - 1n },
  { seed: 0x100000000n, stream: "shuffle", counter: 2 ** 33 + 5 },
  { seed: 99, stream: "日本語 stream", counter: 1 },
];

opTest("native randomBits equals philoxBits (seeds > 2^32, names, counters, odd sizes)", () => {
  for (const a of addresses) {
    for (const n of [1, 3, 5, 63, 64, 65, 130, 1001]) {
      const got = bitsOf(randomBits([n], a));
      const what = `randomBits n=${n} ${JSON.stringify(a, (_k, v) => String(v))}`;
      assertEqualWords(got, philoxBits(n, a.seed, a.stream, a.counter), what);
    }
  }
  // A 2-d shape fills row-major from the same flat draw; a named stream equals its id.
  const a = { seed: 5, stream: "attack", counter: 9 };
  const flat = philoxBits(12, 5, "attack", 9);
  assertEqualWords(bitsOf(randomBits([3, 4], a)), flat, "randomBits [3, 4]");
  assertEqualWords(bitsOf(randomBits([12], { ...a, stream: streamId("attack") })), flat, "by id");
  // bigint and number seeds are the same address
  assertEqualWords(
    bitsOf(randomBits([9], { seed: 2n ** 40n, stream: 1 })),
    bitsOf(randomBits([9], { seed: 2 ** 40, stream: 1 })),
    "bigint vs number seed",
  );
});

opTest("native uniform(0, 1) equals philoxUniform exactly", () => {
  for (const a of addresses) {
    for (const n of [1, 7, 64, 129, 4099]) {
      const got = uniform([n], a).toArray();
      const want = philoxUniform(n, a.seed, a.stream, a.counter);
      assertEqualWords(got, want, `uniform n=${n} stream ${a.stream}`);
    }
  }
  // philoxUniform is (word >> 8) * 2^-24.
  const bits = philoxBits(5, 3, "u");
  assertEqualWords(philoxUniform(5, 3, "u"), Array.from(bits, (w) => (w >>> 8) / 16777216), "u");
});

opTest("uniform(lo, hi) is fma(hi - lo, u, lo) in float, inside [lo, hi)", () => {
  const n = 5000, lo = -2, hi = 3;
  const y = uniform([n], { seed: 17, stream: "lohi" }, lo, hi).toArray();
  const u = philoxUniform(n, 17, "lohi");
  const w = Math.fround(hi - lo);
  const want = Array.from(u, (v) => Math.fround(w * v + lo));
  assertClose(y, want, 2.5e-7, 0, "uniform(-2, 3)");
  for (let i = 0; i < n; i++) {
    if (!(y[i] >= lo && y[i] < hi)) {
      throw new Error(`uniform element ${i} = ${y[i]} not in [-2, 3)`);
    }
  }
});

opTest("normal is Box-Muller on word pairs, as documented", () => {
  for (const n of [1, 6, 257]) {
    const mean = 1.5, std = 0.25;
    const y = normal([n], { seed: 4, stream: "bm", counter: 2 }, mean, std).toArray();
    const u = philoxUniform(n + 1, 4, "bm", 2);
    const want = new Float64Array(n);
    for (let k = 0; k < n; k += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - u[k])), t = 2 * Math.PI * u[k + 1];
      want[k] = mean + std * r * Math.cos(t);
      if (k + 1 < n) want[k + 1] = mean + std * r * Math.sin(t);
    }
    assertClose(y, want, 1e-6, 1e-6, `normal n=${n}`);
  }
});

opTest("bernoulli(p) is 1 exactly where uniform < p", () => {
  for (const p of [0, 0.3, 0.5, 1]) {
    const n = 3001;
    const y = bernoulli([n], { seed: 8, stream: "drop", counter: 1 }, p).toArray();
    const u = philoxUniform(n, 8, "drop", 1);
    const pf = Math.fround(p);
    assertEqualWords(y, Array.from(u, (v) => (v < pf ? 1 : 0)), `bernoulli p=${p}`);
  }
});

function moments(a: ArrayLike<number>): [number, number] {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const m = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - m) ** 2;
  return [m, v / a.length];
}

opTest("uniform, normal and bernoulli moments over 200000 draws", () => {
  const n = 200000;
  // Tolerances are about 5 standard errors.
  const [um, uv] = moments(uniform([n], { seed: 1, stream: "mom-u" }).toArray());
  assertClose([um, uv], [0.5, 1 / 12], 0.0035, 0, "uniform mean, variance");
  const [am, av] = moments(uniform([n], { seed: 1, stream: "mom-u2" }, -4, 2).toArray());
  assertClose([am, av], [-1, 3], 0.02, 0, "uniform(-4, 2) mean, variance");
  const z = normal([n], { seed: 1, stream: "mom-n" }).toArray();
  const [nm, nv] = moments(z);
  assertClose([nm, nv], [0, 1], 0.016, 0, "normal mean, variance");
  let skew = 0, kurt = 0;
  for (const v of z) {
    skew += v ** 3;
    kurt += v ** 4;
  }
  assertClose([skew / n, kurt / n], [0, 3], 0.06, 0, "normal third and fourth moments");
  let inside = 0;
  for (const v of z) if (Math.abs(v) < 1) inside++;
  assertClose([inside / n], [0.682689492], 0.006, 0, "normal P(|z| < 1)");
  const [sm, sv] = moments(normal([n], { seed: 1, stream: "mom-n2" }, 3, 2).toArray());
  assertClose([sm, Math.sqrt(sv)], [3, 2], 0.025, 0, "normal(3, 2) mean, std");
  const [bm] = moments(bernoulli([n], { seed: 1, stream: "mom-b" }, 0.3).toArray());
  assertClose([bm], [0.3], 0.0055, 0, "bernoulli(0.3) mean");
});

opTest(
  "different streams, seeds or counters give different draws; the same address repeats",
  () => {
    const base = { seed: 123, stream: "a", counter: 4 };
    const ref = bitsOf(randomBits([64], base));
    assertEqualWords(bitsOf(randomBits([64], { ...base })), ref, "same address");
    assertEqualWords(uniform([64], base).toArray(), uniform([64], base).toArray(), "uniform");
    assertEqualWords(normal([64], base).toArray(), normal([64], base).toArray(), "normal");
    for (
      const other of [
        { ...base, stream: "b" },
        { ...base, seed: 124 },
        { ...base, seed: 123 + 2 ** 32 },
        { ...base, counter: 5 },
        { ...base, counter: 4 + 2 ** 32 },
      ]
    ) {
      const got = bitsOf(randomBits([64], other));
      const same = got.filter((w, i) => w === ref[i]).length;
      if (same > 1) throw new Error(`${JSON.stringify(other)} repeats ${same} of 64 words`);
    }
  },
);

Deno.test("philoxPermutation is a reproducible permutation", () => {
  for (const n of [0, 1, 2, 10, 1000]) {
    const p = philoxPermutation(n, 42, "shuffle", 3);
    const seen = new Uint8Array(n);
    for (const v of p) {
      if (!(v >= 0 && v < n) || seen[v]) throw new Error(`n=${n}: not a permutation (${v})`);
      seen[v] = 1;
    }
    if (p.length !== n) throw new Error(`n=${n}: length ${p.length}`);
    assertEqualWords(philoxPermutation(n, 42, "shuffle", 3), p, `n=${n} reproducible`);
  }
  const a = philoxPermutation(1000, 42, "shuffle", 3);
  for (
    const [what, b] of [
      ["counter", philoxPermutation(1000, 42, "shuffle", 4)],
      ["seed", philoxPermutation(1000, 43, "shuffle", 3)],
      ["stream", philoxPermutation(1000, 42, "other", 3)],
    ] as const
  ) {
    const fixed = a.filter((v, i) => v === b[i]).length;
    if (fixed > 10) throw new Error(`another ${what} gives a near-identical permutation`);
  }
  // Not the identity: a shuffle moves almost everything.
  if (a.filter((v, i) => v === i).length > 10) throw new Error("permutation is near-identity");
});

/** FNV-1a 32 by hand, in BigInt arithmetic over explicit UTF-8 bytes. */
function fnv1a(bytes: number[]): number {
  let h = 0x811c9dc5n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn;
  return Number(h);
}

Deno.test("streamId is FNV-1a 32 of the UTF-8 name and rejects non-u32 numbers", () => {
  // Published FNV-1a 32 test vectors.
  assertEqualWords([streamId(""), streamId("a"), streamId("foobar")], [
    0x811c9dc5,
    0xe40c292c,
    0xbf9cf968,
  ], "FNV-1a vectors");
  // "é" is U+00E9: UTF-8 bytes c3 a9 (not the UTF-16 unit e9).
  assertEqualWords([streamId("é")], [fnv1a([0xc3, 0xa9])], "UTF-8 é");
  assertEqualWords([streamId("é")], [0x1e9de8c1], "UTF-8 é constant");
  assertEqualWords([streamId("dropout")], [fnv1a([...new TextEncoder().encode("dropout")])], "d");
  assertEqualWords([streamId(0), streamId(0xffffffff), streamId(77)], [0, 0xffffffff, 77], "ids");
  for (const bad of [-1, 1.5, 2 ** 32, NaN, Infinity]) {
    assertThrowsMsg(() => streamId(bad), /stream id must be a u32 integer, got/);
  }
});

opTest("bad random arguments throw clear errors", () => {
  const a = { seed: 1, stream: "x" };
  for (const p of [-0.1, 1.5, NaN]) {
    assertThrowsMsg(() => bernoulli([4], a, p), /bernoulli: p must be in \[0, 1\], got/);
  }
  assertThrowsMsg(
    () => uniform([4], { seed: -1, stream: "x" }),
    /uniform: seed must be a u64, got -1/,
  );
  assertThrowsMsg(
    () => normal([4], { seed: -5n, stream: "x" }),
    /normal: seed must be a u64, got -5/,
  );
  assertThrowsMsg(
    () => randomBits([4], { seed: 2n ** 64n, stream: 1 }),
    /randomBits: seed must be a u64/,
  );
  assertThrowsMsg(
    () => uniform([4], { seed: 1, stream: "x", counter: -1 }),
    /uniform: counter must be a u64, got -1/,
  );
  assertThrowsMsg(() => uniform([4], { seed: 1, stream: -3 }), /stream id must be a u32 integer/);
  assertThrowsMsg(() => uniform([4], a, NaN, 1), /uniform: lo must be a finite number/);
  assertThrowsMsg(() => normal([4], a, 0, Infinity), /normal: std must be a finite number/);
  assertThrowsMsg(() => uniform([2, -1], a), /shape \[2, -1\] must hold non-negative integers/);
  assertThrowsMsg(() => philoxBits(4, -1, "x"), /seed must be a u64, got -1/);
  assertThrowsMsg(() => philoxUniform(4, 1, "x", -2), /counter must be a u64, got -2/);
  // An empty draw is fine and allocates an empty tensor.
  const e = T.uniform([0, 3], a);
  if (e.size !== 0 || e.shape.join() !== "0,3") throw new Error(`empty draw ${e.shape}`);
});
