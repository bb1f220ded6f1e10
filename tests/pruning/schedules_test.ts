import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  gradualSparsity,
  lotteryKeptCounts,
  lotterySparsities,
  perLayerSparsity,
} from "@topiary/pruning";
import { assertThrowsMsg } from "../_harness.ts";

Deno.test("lottery rounds: 20% of the remaining weights per round, the last exactly to target", () => {
  const s = lotterySparsities(0.99, 0.2);
  assertEquals(s.length, 21);
  assert(Math.abs(s[0] - 0.2) < 1e-12 && Math.abs(s[1] - 0.36) < 1e-12);
  assertEquals(s[20], 0.99);
  assert(s[19] < 0.99);
  assertEquals(lotterySparsities(0.75, 0.5), [0.5, 0.75]);
  assertEquals(lotterySparsities(0.2, 0.2), [0.2]);
  assert(Math.abs(perLayerSparsity(0.1, 2) - 0.19) < 1e-12);
  assertThrowsMsg(() => lotterySparsities(1, 0.2), /target sparsity must be in \(0, 1\)/);
  assertThrowsMsg(() => lotterySparsities(0.9, 0), /rate must be in \(0, 1\)/);
});

Deno.test("gradual pruning (Zhu & Gupta): cubic ramp from s_i to s_f every Δt steps", () => {
  const o = { initial: 0, final: 0.9, start: 100, every: 10, count: 10 };
  assertEquals(gradualSparsity(0, o), 0);
  assertEquals(gradualSparsity(100, o), 0);
  assert(Math.abs(gradualSparsity(150, o) - (0.9 - 0.9 * 0.5 ** 3)) < 1e-12);
  assertEquals(gradualSparsity(155, o), gradualSparsity(150, o), "constant between pruning steps");
  assertEquals(gradualSparsity(200, o), 0.9);
  assertEquals(gradualSparsity(10_000, o), 0.9);
});

Deno.test("lottery kept counts: floor(rate * remaining) per round (open_lth), last exactly target", () => {
  const c = lotteryKeptCounts(1000, 0.99, 0.2);
  assertEquals(c.slice(0, 4), [800, 640, 512, 410]);
  assertEquals(c[c.length - 1], 10);
  assert(c[c.length - 2] > 10);
  for (let i = 1; i < c.length - 1; i++) assertEquals(c[i], c[i - 1] - Math.floor(0.2 * c[i - 1]));
  assertEquals(lotteryKeptCounts(10, 0.5, 0.2), [8, 7, 6, 5]);
});
