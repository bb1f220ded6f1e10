import * as T from "@topiary/core";
import { keep, leakStats, type Tensor, tensor, tidy } from "@topiary/core";
import { assertClose, assertThrowsMsg, liveBuffers, opTest, values } from "../_harness.ts";

opTest("host round trip for f32, i32 and u8", () => {
  assertClose(values(tensor([1.5, -2, 3], [3])), [1.5, -2, 3], 0, 0);
  const i = tensor([7, -8, 2147483647], [3], { dtype: "i32" });
  assertClose(Array.from(i.toArray()), [7, -8, 2147483647], 0, 0);
  const u = tensor([0, 255, 17], [3], { dtype: "u8" });
  assertClose(Array.from(u.toArray()), [0, 255, 17], 0, 0);
  const e = tensor([], [0, 4]);
  assertClose(values(e), [], 0, 0);
});

opTest("views share storage; host reads copy", () => {
  const x = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
  const t = T.transpose(x);
  const r = T.reshape(x, [3, 2]);
  const s = T.slice(x, 1, 1, 3);
  if (t.storage !== x.storage || r.storage !== x.storage || s.storage !== x.storage) {
    throw new Error("views must share storage");
  }
  assertClose(values(t), [0, 3, 1, 4, 2, 5], 0, 0);
  assertClose(values(r), [0, 1, 2, 3, 4, 5], 0, 0);
  assertClose(values(s), [1, 2, 4, 5], 0, 0);
  const host = x.toArray();
  host[0] = 99;
  assertClose(values(x), [0, 1, 2, 3, 4, 5], 0, 0);
  // A reshape of a non-contiguous view copies.
  const rt = T.reshape(t, [6]);
  assertClose(values(rt), [0, 3, 1, 4, 2, 5], 0, 0);
  assertClose(
    values(T.expand(T.reshape(tensor([1, 2]), [2, 1]), [2, 3])),
    [1, 1, 1, 2, 2, 2],
    0,
    0,
  );
  assertClose(
    values(T.permute(T.reshape(T.arange(24), [2, 3, 4]), [2, 0, 1])).slice(0, 6),
    [0, 4, 8, 12, 16, 20],
    0,
    0,
  );
});

opTest("cat along an inner axis and its gradient", () => {
  const a = tensor([1, 2, 3, 4], [2, 2], { requiresGrad: true });
  const b = tensor([5, 6], [2, 1], { requiresGrad: true });
  const y = T.cat([a, b], 1);
  assertClose(values(y), [1, 2, 5, 3, 4, 6], 0, 0);
  const [ga, gb] = T.grad(T.sum(T.mul(y, tensor([1, 2, 3, 4, 5, 6], [2, 3]))), [a, b]);
  assertClose(values(ga), [1, 2, 4, 5], 0, 0);
  assertClose(values(gb), [3, 6], 0, 0);
});

opTest("tidy frees intermediates and keeps results", (b) => {
  const start = liveBuffers(b);
  const kept = tidy(() => {
    const x = tensor([1, 2, 3]);
    const y = T.exp(x);
    T.mul(y, 2);
    return T.add(y, 1);
  });
  if (liveBuffers(b) !== start + 1) {
    throw new Error(`expected one live buffer, have ${liveBuffers(b) - start}`);
  }
  kept.dispose();
  const escaped = tidy(() => keep(tensor([1])));
  tidy(() => {}); // an empty scope does not touch it
  if (escaped.isDisposed) throw new Error("keep() must escape scopes");
  escaped.dispose();
  escaped.dispose(); // idempotent
  if (liveBuffers(b) !== start) throw new Error("buffers were not freed");
});

opTest("using disposes at block end", (b) => {
  const start = liveBuffers(b);
  {
    using x = tensor([1, 2]);
    if (liveBuffers(b) !== start + 1) throw new Error("not allocated");
    x.keep();
  }
  if (liveBuffers(b) !== start) throw new Error("`using` did not dispose");
});

opTest("tidy disposes everything when the function throws", (b) => {
  const start = liveBuffers(b);
  assertThrowsMsg(() =>
    tidy(() => {
      tensor([1, 2, 3]);
      throw new Error("boom");
    }), /boom/);
  if (liveBuffers(b) !== start) throw new Error("buffers leaked on throw");
});

opTest("creation errors name the problem", () => {
  assertThrowsMsg(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/);
  assertThrowsMsg(() => T.zeros([2, -1]), /shape \[2, -1\] must hold non-negative integers/);
  assertThrowsMsg(
    () => T.reshape(tensor([1, 2, 3]), [2, 2]),
    /cannot view \[3\] \(3 elements\) as \[2, 2\]/,
  );
  assertThrowsMsg(() => T.reshape(tensor([1, 2, 3]), [-1, -1]), /more than one -1/);
  assertThrowsMsg(() => T.slice(tensor([1, 2, 3]), 0, 2, 1), /slice: \[2, 1\) step 1 is invalid/);
  assertThrowsMsg(() => T.transpose(tensor([1, 2]), 0, 3), /axis 3 is out of range for 1 dims/);
  assertThrowsMsg(() => tensor([1, 2]).item(), /item: tensor has 2 elements/);
});

Deno.test("leak backstop counts collected handles", () => {
  if (typeof leakStats.collected !== "number") throw new Error("leakStats missing");
});

export type { Tensor };
