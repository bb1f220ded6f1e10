/**
 * The experiments CLI (`deno task exp <command>`): run a config, run or resume a run folder,
 * expand and run a sweep locally or on Slurm, evaluate finished runs again, collect results
 * into SQLite, write the report, and show the state of run folders. Every command has `--help`; errors print one line
 * naming the problem and exit with status 1 (2 for usage errors).
 * @module
 */

import { parseArgs } from "node:util";
import type { RobustnessRecord } from "@topiary/attacks";
import { basename, join } from "node:path";
import { ConfigError } from "./config/_check.ts";
import { loadConfigFile } from "./config/load.ts";
import { listPresets } from "./config/presets.ts";
import type { ExperimentConfig } from "./config/schema.ts";
import { collect } from "./results/collect.ts";
import { writeReport } from "./results/report.ts";
import { RunFolder } from "./run/folder.ts";
import { runExperiment } from "./run/run.ts";
import { readEvaluationFile, reevaluateRun, runFoldersUnder } from "./run/reevaluate.ts";
import { expandSweep, loadSweep, prepareSweep } from "./sweep/grid.ts";
import { runLocal } from "./sweep/local.ts";
import { followSlurm, submitSlurm } from "./sweep/slurm.ts";
import { folderStates } from "./results/status.ts";

const HELP: Record<string, string> = {
  main: `usage: deno task exp <command> [options]

commands:
  run CONFIG       run an experiment config (every seed, or --seed S)
  resume DIR       run or resume the run folder DIR (its config.json)
  sweep GRID       expand a sweep grid into run folders and run them (local or slurm)
  evaluate DIR...  evaluate finished runs again with other attacks (evaluation-NAME.json)
  collect          gather result records into the SQLite database
  report           write the HTML and Markdown report from the database
  status           show run folders and whether they are new, partial or complete
  presets          list the presets a config can start from

Run "deno task exp <command> --help" for a command's options.`,
  run: `usage: deno task exp run CONFIG [--seed S] [--out DIR] [--quiet]

Runs the config's pipeline and final evaluation for each of its seeds (or only --seed S),
in run folders DIR/seed-S (default runs/<name>/seed-S). A killed run resumes when run again.`,
  resume: `usage: deno task exp resume DIR [--quiet]

Runs or resumes the run folder DIR from its config.json (what sweep workers run).`,
  sweep: `usage: deno task exp sweep GRID [--executor local|slurm] [--parallel N] [--dry-run]
                                   [--poll S] [--no-follow]

Expands GRID into run folders under its "out" folder and runs the incomplete ones: locally,
N processes at a time (default: the grid's "parallel"), or as one Slurm job array, followed
with squeue/sacct until every task has ended (--no-follow: submit and return).`,
  evaluate: `usage: deno task exp evaluate DIR... --attacks FILE [--name NAME] [--quiet]

Evaluates the final model of every finished run folder at or under each DIR again with the
evaluation in FILE (YAML: an "evaluation" mapping as in a config: attacks, subset, subsetSeed,
batchSize; defaults resolved for each run's threat model) and writes its record to
evaluation-NAME.json in the run folder (NAME: default FILE's base name); unfinished folders
are listed and skipped, result.json is never changed. A record already there with the same
evaluation is kept, so an interrupted command continues when run again; one with a different
evaluation is an error.`,
  collect: `usage: deno task exp collect [DIR ...] [--db FILE]

Gathers every result.json under the folders (default runs/) into the SQLite database FILE
(default runs/results.sqlite). Re-running never duplicates or loses a row.`,
  report: `usage: deno task exp report [--db FILE] [--out DIR] [--name NAME]

Writes DIR/index.html (plots as SVG) and DIR/results.md from the database (default
runs/results.sqlite, DIR runs/report); --name keeps only experiments of that name.`,
  status: `usage: deno task exp status [DIR ...]

Lists the run folders under the folders (default runs/) with their state and results.`,
  presets: `usage: deno task exp presets

Lists the presets (paper settings) a config can name with "preset:".`,
};

class UsageError extends Error {}

type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; default?: string | boolean; short?: string }
>;

function parse(
  args: string[],
  options: OptionSpec,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
    return {
      values: r.values as Record<string, string | boolean | undefined>,
      positionals: r.positionals,
    };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function seedOf(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--seed must be an integer >= 0`);
  return n;
}

async function cmdRun(args: string[]): Promise<number> {
  const { values: v, positionals: p } = parse(args, {
    seed: { type: "string" },
    out: { type: "string" },
    quiet: { type: "boolean" },
  });
  if (v.help) return help("run");
  if (p.length !== 1) throw new UsageError("run takes one CONFIG file");
  const first = loadConfigFile(p[0]);
  const seed = seedOf(v.seed as string | undefined);
  const seeds = seed === undefined ? first.seeds : [seed];
  for (const s of seeds) {
    const cfg = loadConfigFile(p[0], s);
    const dir = join((v.out as string | undefined) ?? join("runs", cfg.name), `seed-${s}`);
    await runOne(cfg, dir, Boolean(v.quiet));
  }
  return 0;
}

async function runOne(cfg: ExperimentConfig, dir: string, quiet: boolean): Promise<void> {
  if (!quiet) {
    console.log(`run ${cfg.name} seed ${cfg.seed} -> ${dir}`);
    for (const d of cfg.deviations) {
      console.log(
        `  deviation from preset ${cfg.preset}: ${d.key} = ${JSON.stringify(d.used)} ` +
          `(preset ${JSON.stringify(d.preset)}; ${d.reason})`,
      );
    }
  }
  const r = await runExperiment(cfg, dir, { quiet });
  console.log(`${cfg.name} seed ${cfg.seed}: ${accuracyLine(r.evaluation)}`);
}

/** "clean x%, robust y% (attacks; n test images)", and the sanity flags raised. */
function accuracyLine(ev: RobustnessRecord): string {
  return `clean ${(100 * ev.cleanAccuracy).toFixed(2)}%, robust ` +
    `${(100 * ev.robustAccuracy).toFixed(2)}% (${ev.attacks.map((a) => a.name).join(", ")}; ` +
    `${ev.n} test images)` +
    (ev.sanity.raised.length ? `; sanity flags: ${ev.sanity.raised.join(", ")}` : "");
}

async function cmdResume(args: string[]): Promise<number> {
  const { values: v, positionals: p } = parse(args, { quiet: { type: "boolean" } });
  if (v.help) return help("resume");
  if (p.length !== 1) throw new UsageError("resume takes one run folder");
  const folder = new RunFolder(p[0]);
  if (folder.state() === "new") throw new Error(`${p[0]} is not a run folder (no config.json)`);
  const cfg = folder.readJson<ExperimentConfig>(folder.configPath, "config");
  if (cfg.format !== "topiary-experiment/1") {
    throw new Error(`${folder.configPath}: unknown config format ${JSON.stringify(cfg.format)}`);
  }
  await runOne(cfg, p[0], Boolean(v.quiet));
  return 0;
}

async function cmdSweep(args: string[]): Promise<number> {
  const { values: v, positionals: p } = parse(args, {
    executor: { type: "string", default: "local" },
    parallel: { type: "string" },
    "dry-run": { type: "boolean" },
    poll: { type: "string", default: "5" },
    "no-follow": { type: "boolean" },
    quiet: { type: "boolean" },
  });
  if (v.help) return help("sweep");
  if (p.length !== 1) throw new UsageError("sweep takes one GRID file");
  const executor = v.executor as string;
  if (executor !== "local" && executor !== "slurm") {
    throw new UsageError(`--executor must be local or slurm, got "${executor}"`);
  }
  const spec = loadSweep(p[0]);
  const runs = expandSweep(spec);
  console.log(
    `sweep ${spec.name}: ${runs.length} runs (${runs.length / spec.seeds.length} grid points x ` +
      `${spec.seeds.length} seeds) in ${spec.out}`,
  );
  if (v["dry-run"]) {
    for (const r of runs) console.log(`  ${r.dir}  ${JSON.stringify(r.values)}`);
    return 0;
  }
  prepareSweep(spec, runs);
  if (executor === "local") {
    const parallel = v.parallel === undefined ? spec.parallel : Number(v.parallel);
    if (!Number.isSafeInteger(parallel) || parallel < 1) {
      throw new UsageError(`--parallel must be an integer >= 1`);
    }
    const failed = await runLocal(runs, { parallel, quiet: Boolean(v.quiet) });
    for (const f of failed) console.error(`failed: ${f.dir} (exit ${f.code}); log: ${f.log}`);
    return failed.length ? 1 : 0;
  }
  const sub = await submitSlurm(spec, runs);
  if (!sub) {
    console.log("every run is complete; nothing submitted");
    return 0;
  }
  console.log(`submitted job array ${sub.jobId} (${sub.dirs.length} tasks); script ${sub.script}`);
  if (v["no-follow"]) return 0;
  let last = "";
  const tasks = await followSlurm(sub, {
    pollSeconds: Number(v.poll),
    onPoll: (q) => {
      const line = `${q.size} task(s) queued or running`;
      if (line !== last && !v.quiet) console.log(line);
      last = line;
    },
  });
  const bad = tasks.filter((t) => !t.complete);
  for (const t of bad) console.error(`failed: task ${t.task} ${t.state}: ${t.dir}; log: ${t.log}`);
  console.log(`${tasks.length - bad.length} of ${tasks.length} tasks complete`);
  return bad.length ? 1 : 0;
}

async function cmdEvaluate(args: string[]): Promise<number> {
  const { values: v, positionals: p } = parse(args, {
    attacks: { type: "string" },
    name: { type: "string" },
    quiet: { type: "boolean" },
  });
  if (v.help) return help("evaluate");
  if (p.length === 0) throw new UsageError("evaluate takes at least one run folder");
  const file = v.attacks as string | undefined;
  if (!file) throw new UsageError("--attacks FILE is required");
  const name = (v.name as string | undefined) ?? basename(file).replace(/\.(ya?ml|json)$/, "");
  const raw = readEvaluationFile(file);
  const dirs = runFoldersUnder(p);
  if (dirs.length === 0) throw new Error(`no run folders under ${p.join(", ")}`);
  let evaluated = 0;
  for (const dir of dirs) {
    if (new RunFolder(dir).state() !== "complete") {
      console.error(`skipped ${dir}: not finished (no result.json)`);
      continue;
    }
    const { record: r, existed } = await reevaluateRun(dir, raw, name, {
      quiet: Boolean(v.quiet),
      source: file,
    });
    console.log(
      `${dir}: ${existed ? "kept " : ""}evaluation-${name}.json: ${accuracyLine(r.record)}`,
    );
    evaluated++;
  }
  return evaluated ? 0 : 1;
}

function cmdCollect(args: string[]): number {
  const { values: v, positionals: p } = parse(args, {
    db: { type: "string", default: join("runs", "results.sqlite") },
  });
  if (v.help) return help("collect");
  const s = collect(p.length ? p : ["runs"], v.db as string);
  console.log(
    `collect: ${s.found} result records; ${s.inserted} new, ${s.updated} updated, ` +
      `${s.unchanged} unchanged; ${s.reevaluations} re-evaluations new or changed -> ${v.db}`,
  );
  for (const k of s.skipped) console.error(`skipped ${k.path}: ${k.reason}`);
  return 0;
}

async function cmdReport(args: string[]): Promise<number> {
  const { values: v } = parse(args, {
    db: { type: "string", default: join("runs", "results.sqlite") },
    out: { type: "string", default: join("runs", "report") },
    name: { type: "string" },
  });
  if (v.help) return help("report");
  const r = await writeReport(v.db as string, v.out as string, {
    name: v.name as string | undefined,
  });
  console.log(
    `report: ${r.html} and ${r.markdown} (${r.figures} figures, ${r.runs} run${
      r.runs === 1 ? "" : "s"
    })`,
  );
  return 0;
}

function cmdStatus(args: string[]): number {
  const { values: v, positionals: p } = parse(args, {});
  if (v.help) return help("status");
  const rows = folderStates(p.length ? p : ["runs"]);
  if (rows.length === 0) console.log("no run folders");
  for (const r of rows) {
    console.log(`${r.state.padEnd(8)} ${r.dir}${r.detail ? "  " + r.detail : ""}`);
  }
  const count = (s: string) => rows.filter((r) => r.state === s).length;
  console.log(`${count("complete")} complete, ${count("partial")} partial`);
  return 0;
}

function cmdPresets(args: string[]): number {
  const { values: v } = parse(args, {});
  if (v.help) return help("presets");
  for (const p of listPresets()) {
    console.log(`${p.name}\n  ${p.source}${p.notes ? `\n  note: ${p.notes}` : ""}`);
  }
  return 0;
}

function help(cmd: string): number {
  console.log(HELP[cmd]);
  return 0;
}

const COMMANDS: Record<string, (a: string[]) => number | Promise<number>> = {
  run: cmdRun,
  resume: cmdResume,
  sweep: cmdSweep,
  evaluate: cmdEvaluate,
  collect: cmdCollect,
  report: cmdReport,
  status: cmdStatus,
  presets: cmdPresets,
};

/** Runs the CLI on `argv`; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") return help("main");
  const f = COMMANDS[cmd];
  try {
    if (!f) {
      throw new UsageError(
        `unknown command "${cmd}" (commands: ${Object.keys(COMMANDS).join(", ")})`,
      );
    }
    return await f(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${HELP[cmd] ?? HELP.main}`);
      return 2;
    }
    console.error(`error: ${e instanceof ConfigError ? e.message : (e as Error).message}`);
    if (Deno.env.get("TOPIARY_DEBUG")) console.error(e);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
