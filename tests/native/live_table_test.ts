/**
 * The live-buffer table both allocators share (native/common/tp_live_table.h), compiled with gcc
 * and driven by tests/native/live_table_check.c: lookups and counts stay right under churn, and
 * churn alone does not grow the table.
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

Deno.test("the live-buffer table stays correct and bounded under allocation churn", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const exe = `${dir}/live_table_check`;
    const cc = await new Deno.Command("gcc", {
      args: [
        "-O2",
        "-Wall",
        "-Werror",
        "-I",
        here("../../native/common"),
        "-o",
        exe,
        here(
          "./live_table_check.c",
        ),
      ],
    }).output();
    assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
    const run = await new Deno.Command(exe).output();
    const out = new TextDecoder().decode(run.stdout);
    assert.equal(run.code, 0, out);
    assert.match(out, /fresh addresses: 1000 live/);
    assert.match(out, /recycled addresses: 1000 live/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
