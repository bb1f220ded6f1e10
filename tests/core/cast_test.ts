import * as T from "@topiary/core";
import { cast, type DType, type Tensor, tensor } from "@topiary/core";
import { opTest } from "../_harness.ts";

const I32_MAX = 2147483647, I32_MIN = -2147483648;

/** Exact elementwise comparison (NaN equals NaN; -0 equals 0). */
function assertValues(t: Tensor, dtype: DType, shape: number[], want: number[], what: string) {
  if (t.dtype !== dtype) throw new Error(`${what}: dtype ${t.dtype}, expected ${dtype}`);
  if (t.shape.join() !== shape.join()) throw new Error(`${what}: shape [${t.shape}] != [${shape}]`);
  const got = t.toArray();
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values`);
  for (let i = 0; i < want.length; i++) {
    const ok = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : got[i] === want[i];
    if (!ok) throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

opTest("cast f32 -> i32 truncates toward zero, saturates, and maps NaN to 0", () => {
  const src = [
    1.9,
    -1.9,
    0.5,
    -0.5,
    0,
    -0,
    7,
    -7.99,
    16777217, // 16777216 in f32
    2147483520, // the largest f32 below 2^31
    2147483648,
    3e9,
    -2147483648,
    -3e9,
    Infinity,
    -Infinity,
    NaN,
  ];
  const want = [
    1,
    -1,
    0,
    0,
    0,
    0,
    7,
    -7,
    16777216,
    2147483520,
    I32_MAX,
    I32_MAX,
    I32_MIN,
    I32_MIN,
    I32_MAX,
    I32_MIN,
    0,
  ];
  assertValues(cast(tensor(src), "i32"), "i32", [src.length], want, "f32 -> i32");
});

opTest("cast f32 -> u8 saturates to [0, 255], truncates, and maps NaN to 0", () => {
  const src = [-1, -0.5, 0, 0.9, 1.5, 127.99, 254.9, 255, 255.5, 300, Infinity, -Infinity, NaN];
  const want = [0, 0, 0, 0, 1, 127, 254, 255, 255, 255, 255, 0, 0];
  assertValues(cast(tensor(src), "u8"), "u8", [src.length], want, "f32 -> u8");
});

opTest("cast i32 -> u8 saturates, i32 -> f32 rounds to nearest", () => {
  const src = [-5, 0, 128, 255, 256, 100000, I32_MIN, I32_MAX];
  const x = tensor(Int32Array.from(src), [2, 4], { dtype: "i32" });
  assertValues(cast(x, "u8"), "u8", [2, 4], [0, 0, 128, 255, 255, 255, 0, 255], "i32 -> u8");
  const y = tensor(Int32Array.from([16777217, I32_MAX, -7, 0, I32_MIN, 16777219]), [6], {
    dtype: "i32",
  });
  assertValues(
    cast(y, "f32"),
    "f32",
    [6],
    [16777216, 2147483648, -7, 0, -2147483648, 16777220],
    "i32 -> f32",
  );
});

opTest("cast u8 -> f32 and u8 -> i32 widen exactly", () => {
  const x = tensor(Uint8Array.from([0, 1, 128, 200, 255]), [5], { dtype: "u8" });
  assertValues(cast(x, "f32"), "f32", [5], [0, 1, 128, 200, 255], "u8 -> f32");
  assertValues(cast(x, "i32"), "i32", [5], [0, 1, 128, 200, 255], "u8 -> i32");
});

opTest("cast to the same dtype is an independent dense copy", () => {
  const f = tensor([1.5, -2.25, NaN]);
  const fc = cast(f, "f32");
  if (fc.storage === f.storage) throw new Error("f32 -> f32 must copy");
  f.dispose();
  assertValues(fc, "f32", [3], [1.5, -2.25, NaN], "f32 -> f32");
  const i = tensor(Int32Array.from([I32_MIN, 5]), [2], { dtype: "i32" });
  assertValues(cast(i, "i32"), "i32", [2], [I32_MIN, 5], "i32 -> i32");
  const u = tensor(Uint8Array.from([0, 255]), [2], { dtype: "u8" });
  assertValues(cast(u, "u8"), "u8", [2], [0, 255], "u8 -> u8");
});

opTest("cast reads strided views and offsets in logical order", () => {
  const x = tensor([0.5, 1.5, 2.5, -3.5, 4.5, -5.5], [2, 3]);
  assertValues(
    cast(T.transpose(x), "i32"),
    "i32",
    [3, 2],
    [0, -3, 1, 4, 2, -5],
    "transpose -> i32",
  );
  assertValues(cast(T.slice(x, 0, 1, 2), "u8"), "u8", [1, 3], [0, 4, 0], "row 1 -> u8");
  assertValues(cast(T.slice(x, 1, 0, 3, 2), "i32"), "i32", [2, 2], [0, 2, -3, -5], "step 2");
  const i = tensor(Int32Array.from([1, 2, 3, 4, 5, 6]), [3, 2], { dtype: "i32" });
  assertValues(cast(T.transpose(i), "f32"), "f32", [2, 3], [1, 3, 5, 2, 4, 6], "i32 view");
  assertValues(cast(T.zeros([0, 4]), "u8"), "u8", [0, 4], [], "empty");
});

opTest("relu propagates NaN and zeroes negatives", () => {
  const y = T.relu(tensor([NaN, -1, 0, -0, 2, -Infinity, Infinity, 1e-30, -1e-30]));
  assertValues(y, "f32", [9], [NaN, 0, 0, 0, 2, 0, Infinity, Math.fround(1e-30), 0], "relu");
  if (!Number.isNaN(T.relu(T.scalar(NaN)).item())) throw new Error("relu(NaN) must be NaN");
  if (T.relu(T.scalar(-1)).item() !== 0) throw new Error("relu(-1) must be 0");
});
