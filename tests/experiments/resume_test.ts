/**
 * Crash safety of runs: a real run process is SIGKILLed at seeded moments (after an
 * optimizer step, inside a checkpoint write between write and rename, and at a stage end),
 * started again, and must end with the result record and metrics of an uninterrupted run,
 * timing fields aside. The finished runs then feed `collect` (twice: same database) and
 * `report`.
 * @module
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { philoxUniform } from "@topiary/core";
import { collect } from "../../experiments/results/collect.ts";
import { writeReport } from "../../experiments/results/report.ts";
import { withoutTimings } from "../../experiments/run/run.ts";
import { chromiumPath, FIGURE_PROBE, launchBrowser } from "./_browser.ts";

const CLI = new URL("../../experiments/cli.ts", import.meta.url).pathname;
const CONFIG = new URL("./fixtures/tiny.yaml", import.meta.url).pathname;

async function cli(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    text: dec.decode(out.stdout) + dec.decode(out.stderr),
  };
}

function comparable(dir: string): { result: string; metrics: string } {
  const result = JSON.parse(Deno.readTextFileSync(join(dir, "result.json")));
  const metrics = Deno.readTextFileSync(join(dir, "metrics.jsonl")).trim().split("\n")
    .map((l) => JSON.parse(l));
  return {
    result: JSON.stringify(withoutTimings(result)),
    metrics: JSON.stringify(withoutTimings(metrics)),
  };
}

function dump(path: string): string {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const tables = ["runs", "attacks", "stages", "curves", "sparsity"];
    return JSON.stringify(
      tables.map((t) => db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2, 3`).all()),
    );
  } finally {
    db.close();
  }
}

Deno.test({
  name: "runs: SIGKILL at seeded moments resumes to the identical result; collect; report",
  sanitizeResources: false,
  fn: async (t) => {
    const root = Deno.makeTempDirSync({ prefix: "topiary-resume-" });
    try {
      const ref = join(root, "uninterrupted");
      const a = await cli(["run", CONFIG, "--seed", "0", "--out", ref, "--quiet"]);
      assertEquals(a.code, 0, a.text);
      const want = comparable(join(ref, "seed-0"));
      // 2 epochs x 18 steps; checkpoints every 3 steps, at epoch ends and the stage's model.
      const u = philoxUniform(2, 20261125, "kill-moments", 0);
      const moments = [
        `step:${4 + Math.floor(u[0] * 30)}`,
        `checkpoint:${1 + Math.floor(u[1] * 13)}`,
        "stage-end:train",
      ];
      for (const m of moments) {
        await t.step(`killed at ${m}`, async () => {
          const out = join(root, m.replace(":", "-"));
          const dir = join(out, "seed-0");
          const k = await cli(["run", CONFIG, "--seed", "0", "--out", out, "--quiet"], {
            TOPIARY_KILL_AT: m,
          });
          assertEquals(k.signal, "SIGKILL", k.text);
          assert(!Deno.readDirSync(dir).some((e) => e.name === "result.json"), "no result yet");
          if (m.startsWith("checkpoint")) {
            const tmp = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp"));
            assertEquals(tmp.length, 1, "the killed write leaves its temporary file");
          }
          const r = await cli(["run", CONFIG, "--seed", "0", "--out", out, "--quiet"]);
          assertEquals(r.code, 0, r.text);
          const got = comparable(dir);
          assertEquals(got.result, want.result);
          assertEquals(got.metrics, want.metrics);
        });
      }
      await t.step("collect twice gives the same database", () => {
        const db = join(root, "results.sqlite");
        const s1 = collect([root], db);
        // The four folders hold the same run: one row, the other three reported as duplicates.
        assertEquals([s1.found, s1.inserted, s1.updated, s1.skipped.length], [4, 1, 0, 3]);
        assert(s1.skipped.every((k) => /same config and seed as/.test(k.reason)));
        const d1 = dump(db);
        const s2 = collect([root], db);
        assertEquals([s2.inserted, s2.updated, s2.unchanged, s2.skipped.length], [0, 0, 1, 3]);
        assertEquals(dump(db), d1);
      });
      await t.step("report writes HTML and Markdown with SVG figures", async () => {
        const r = await writeReport(join(root, "results.sqlite"), join(root, "report"));
        assertEquals(r.runs, 1);
        const html = Deno.readTextFileSync(r.html);
        assert(html.includes('<figure id="fig-accuracy">'));
        assert(html.includes('<figure id="fig-curves">'));
        assertEquals((html.match(/<svg /g) ?? []).length, r.figures);
        const md = Deno.readTextFileSync(r.markdown);
        assert(/\| tiny \| dense \| 0\.0% \| \d+ \| linf eps 0.03 \| 0 \| 96 \|/.test(md), md);
      });
      // Under CI=true the browser check must run (.ci/run installs chromium).
      const haveChromium = chromiumPath() !== null || Deno.env.get("CI") === "true";
      await t.step({
        name: "the report opens in headless Chromium without errors; figures have data marks",
        ignore: !haveChromium,
        fn: async () => {
          const page = await launchBrowser();
          try {
            await page.open(`file://${join(root, "report", "index.html")}`);
            const figs = JSON.parse(await page.evaluate<string>(FIGURE_PROBE)) as {
              id: string;
              svg: boolean;
              marks: number;
            }[];
            assertEquals(figs.map((f) => f.id), ["fig-accuracy", "fig-curves", "fig-units"]);
            for (const f of figs) assert(f.svg && f.marks > 0, JSON.stringify(f));
            assertEquals(page.errors, []);
          } finally {
            await page.close();
          }
        },
      });
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
