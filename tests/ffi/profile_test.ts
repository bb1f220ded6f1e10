/**
 * The per-call profile (`TOPIARY_PROFILE=1`): wrapped entry points return what they returned,
 * count calls and time, drain an asynchronous device after each call, leave the bookkeeping
 * entry points alone; a profiled process reports its busiest calls at exit.
 * @module
 */

import assert from "node:assert/strict";
import {
  type NativeSymbols,
  profiledSymbols,
  profileEntries,
  profilingFromEnv,
  resetProfile,
} from "@topiary/ffi";
import { assertThrowsMsg } from "../_harness.ts";

Deno.test("profiledSymbols times each entry point, drains after it, passes results through", () => {
  const calls: string[] = [];
  const fake = {
    tp_gemm: (a: number, b: number) => (calls.push("gemm"), a + b),
    tp_last_error: () => (calls.push("last_error"), null),
    tp_synchronize: () => (calls.push("sync"), 0),
  } as unknown as NativeSymbols;
  resetProfile();
  const sym = profiledSymbols(fake, "fake", () => void calls.push("drain")) as unknown as Record<
    string,
    (...a: unknown[]) => unknown
  >;
  assert.equal(sym.tp_gemm(2, 3), 5);
  assert.equal(sym.tp_gemm(4, 5), 9);
  assert.equal(sym.tp_last_error(), null);
  assert.deepEqual(calls, ["gemm", "drain", "gemm", "drain", "last_error"]);
  const e = profileEntries().filter((x) => x.backend === "fake");
  assert.deepEqual(e.map((x) => [x.op, x.calls]), [["tp_gemm", 2]]);
  assert(e[0].ms >= 0);
  resetProfile();
  assert.equal(profileEntries().filter((x) => x.backend === "fake").length, 0);
});

Deno.test("TOPIARY_PROFILE: 1 turns it on, unset/empty/0 off, anything else is refused", () => {
  const prev = Deno.env.get("TOPIARY_PROFILE");
  try {
    for (const [v, on] of [["1", true], ["0", false], ["", false]] as const) {
      Deno.env.set("TOPIARY_PROFILE", v);
      assert.equal(profilingFromEnv(), on, v);
    }
    Deno.env.delete("TOPIARY_PROFILE");
    assert.equal(profilingFromEnv(), false);
    Deno.env.set("TOPIARY_PROFILE", "yes");
    assertThrowsMsg(() => profilingFromEnv(), /TOPIARY_PROFILE must be 0 or 1, got "yes"/);
  } finally {
    if (prev === undefined) Deno.env.delete("TOPIARY_PROFILE");
    else Deno.env.set("TOPIARY_PROFILE", prev);
  }
});

Deno.test("a profiled process prints its native calls at exit", async () => {
  const code = `import { matmul, tensor } from "@topiary/core";
    const a = tensor(new Float32Array(64).fill(1), [8, 8]);
    console.log(matmul(a, a).toArray()[0]);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { TOPIARY_PROFILE: "1", TOPIARY_DEVICE: "cpu" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [stdout, stderr] = [out.stdout, out.stderr].map((b) => new TextDecoder().decode(b));
  assert.equal(out.code, 0, stderr);
  assert.equal(stdout.trim(), "8");
  assert.match(stderr, /profile \(TOPIARY_PROFILE=1; [\d.]+ ms in native calls\)/);
  assert.match(stderr, /\| cpu \| tp_gemm \| 1 \|/);
});
