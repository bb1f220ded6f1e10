/**
 * `collect`: gathers run folders (their `result.json`, and the re-evaluations
 * `evaluation-NAME.json` next to it) into an SQLite database with `node:sqlite`.
 * Idempotent: a run's rows are keyed by the digest of its resolved config, replaced in one
 * transaction when collected again, and never deleted because a later collection did not
 * see them; collecting twice gives the same database.
 * @module
 */

import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { exists } from "../run/folder.ts";
import { RESULT_FORMAT, type RunResult } from "../run/run.ts";
import { type Reevaluation, REEVALUATION_FORMAT } from "../run/reevaluate.ts";

/** Version of the tables below; a database of another version is refused. */
export const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  config_id TEXT NOT NULL,
  name TEXT NOT NULL,
  seed INTEGER NOT NULL,
  dir TEXT NOT NULL,
  dataset TEXT NOT NULL,
  model TEXT NOT NULL,
  objective TEXT NOT NULL,
  method TEXT NOT NULL,
  sparsity REAL NOT NULL,
  parameters INTEGER NOT NULL,
  nonzero_parameters INTEGER NOT NULL,
  macs INTEGER NOT NULL,
  nonzero_macs INTEGER NOT NULL,
  norm TEXT NOT NULL,
  eps REAL NOT NULL,
  clean_accuracy REAL NOT NULL,
  robust_accuracy REAL NOT NULL,
  n INTEGER NOT NULL,
  examples_sha256 TEXT NOT NULL,
  sanity_flags TEXT NOT NULL,
  git_commit TEXT,
  config_json TEXT NOT NULL,
  result_sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attacks (
  run_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  settings_json TEXT NOT NULL,
  accuracy_cumulative REAL NOT NULL,
  newly_broken INTEGER NOT NULL,
  PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS stages (
  run_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  summary_json TEXT NOT NULL,
  PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS curves (
  run_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  step INTEGER NOT NULL,
  train_loss REAL,
  train_accuracy REAL,
  val_accuracy REAL,
  val_robust_accuracy REAL,
  PRIMARY KEY (run_id, stage, epoch)
);
CREATE TABLE IF NOT EXISTS histograms (
  run_id TEXT NOT NULL,
  which TEXT NOT NULL,
  bin INTEGER NOT NULL,
  lo REAL NOT NULL,
  hi REAL NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (run_id, which, bin)
);
CREATE TABLE IF NOT EXISTS units (
  run_id TEXT NOT NULL,
  layer TEXT NOT NULL,
  position INTEGER NOT NULL,
  units INTEGER NOT NULL,
  no_input INTEGER NOT NULL,
  unreachable INTEGER NOT NULL,
  no_path_to_output INTEGER NOT NULL,
  dead_on_probe INTEGER,
  PRIMARY KEY (run_id, layer)
);
CREATE TABLE IF NOT EXISTS connectivity (
  run_id TEXT PRIMARY KEY,
  nonzero_weights INTEGER NOT NULL,
  disconnected_weights INTEGER NOT NULL,
  probe_images INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reevaluations (
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  clean_accuracy REAL NOT NULL,
  robust_accuracy REAL NOT NULL,
  n INTEGER NOT NULL,
  sanity_flags TEXT NOT NULL,
  attacks_json TEXT NOT NULL,
  record_sha256 TEXT NOT NULL,
  PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS sparsity (
  run_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  layer TEXT NOT NULL,
  kept INTEGER NOT NULL,
  total INTEGER NOT NULL,
  PRIMARY KEY (run_id, stage, layer)
);
`;

const TABLES = [
  "runs",
  "attacks",
  "stages",
  "curves",
  "sparsity",
  "histograms",
  "units",
  "connectivity",
  "reevaluations",
] as const;

/** SHA-256 hex of a string. */
function sha(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** The digest of a resolved config without its seed: the runs of one configuration. */
export function configId(config: RunResult["config"]): string {
  const { seed: _seed, ...rest } = config;
  return sha(JSON.stringify(rest));
}

/** Opens (creating if needed) a results database. */
export function openResults(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    db.exec(SCHEMA);
    const v = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
      | { value: string }
      | undefined;
    if (!v) {
      db.prepare("INSERT INTO meta VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    } else if (Number(v.value) !== SCHEMA_VERSION) {
      throw new Error(
        `results database ${path} has schema version ${v.value}, this code writes version ` +
          `${SCHEMA_VERSION}; collect into a new file (the run folders hold everything)`,
      );
    }
  } catch (e) {
    db.close();
    if (/no such column|has no column/.test((e as Error).message)) {
      throw new Error(`results database ${path} is from an older version; collect into a new file`);
    }
    throw e;
  }
  return db;
}

/** The pruning method and sparsity of a run: its last prune stage, or dense. */
export function methodOf(r: RunResult): { method: string; sparsity: number } {
  const prunes = r.stages.filter((s) => typeof s.summary.method === "string");
  if (prunes.length === 0) return { method: "dense", sparsity: 0 };
  const last = prunes[prunes.length - 1].summary;
  const sp = (last.sparsity as { sparsity?: number } | undefined)?.sparsity ?? 0;
  return { method: String(last.method ?? "pruned"), sparsity: sp };
}

/** Result files under the given folders (recursive, sorted). */
export function findResults(roots: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new Error(`collect: no folder ${dir}`);
      throw e;
    }
    for (const e of entries) {
      if (e.isDirectory) walk(join(dir, e.name));
      else if (e.isFile && e.name === "result.json") out.push(join(dir, e.name));
    }
  };
  for (const r of roots) walk(r);
  return out.sort();
}

/** What a collection did. */
export interface CollectSummary {
  found: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Re-evaluation records (evaluation-NAME.json) inserted or replaced. */
  reevaluations: number;
  /** Unreadable records, and duplicates (the same config and seed in another folder). */
  skipped: { path: string; reason: string }[];
}

/** Collects the result files under `roots` into the database at `dbPath`. */
export function collect(roots: string[], dbPath: string): CollectSummary {
  const files = findResults(roots);
  const db = openResults(dbPath);
  const summary: CollectSummary = {
    found: files.length,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    reevaluations: 0,
    skipped: [],
  };
  try {
    const existing = db.prepare("SELECT result_sha256, dir FROM runs WHERE run_id = ?");
    for (const path of files) {
      const text = Deno.readTextFileSync(path);
      const r = parseRecord<RunResult>(path, text, RESULT_FORMAT, summary);
      if (!r) continue;
      const runId = sha(JSON.stringify(r.config));
      const digest = sha(text);
      const dir = relative(Deno.cwd(), join(path, "..")) || ".";
      const old = existing.get(runId) as { result_sha256: string; dir: string } | undefined;
      if (old?.result_sha256 === digest) {
        summary.unchanged++;
        summary.reevaluations += collectReevaluations(db, runId, dir, summary);
        continue;
      }
      // The same config run in another folder: the folder collected first stays the record.
      if (old && old.dir !== dir && exists(join(old.dir, "result.json"))) {
        summary.skipped.push({ path, reason: `same config and seed as ${old.dir} (kept)` });
        continue;
      }
      db.exec("BEGIN");
      try {
        for (const t of TABLES) db.prepare(`DELETE FROM ${t} WHERE run_id = ?`).run(runId);
        insertRun(db, runId, r, dir, digest);
        db.exec("COMMIT");
      } catch (e) {
        db.exec("ROLLBACK");
        throw e;
      }
      if (old) summary.updated++;
      else summary.inserted++;
      summary.reevaluations += collectReevaluations(db, runId, dir, summary);
    }
  } finally {
    db.close();
  }
  return summary;
}

/** Parses a record of `format`, or lists it in `summary.skipped` and returns null. */
function parseRecord<T extends { format: string }>(
  path: string,
  text: string,
  format: string,
  summary: CollectSummary,
): T | null {
  try {
    const r = JSON.parse(text) as T;
    if (r.format !== format) throw new Error(`format is ${r.format}`);
    return r;
  } catch (e) {
    summary.skipped.push({ path, reason: (e as Error).message });
    return null;
  }
}

/**
 * Inserts or replaces the re-evaluations (evaluation-NAME.json) of the run folder `dir`;
 * returns how many changed. Unreadable ones are listed in `summary.skipped`.
 */
function collectReevaluations(
  db: DatabaseSync,
  runId: string,
  dir: string,
  summary: CollectSummary,
): number {
  const files = [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && /^evaluation-.+\.json$/.test(e.name)).map((e) => e.name).sort();
  const known = db.prepare("SELECT record_sha256 FROM reevaluations WHERE run_id = ? AND name = ?");
  let changed = 0;
  for (const f of files) {
    const path = join(dir, f);
    const text = Deno.readTextFileSync(path);
    const r = parseRecord<Reevaluation>(path, text, REEVALUATION_FORMAT, summary);
    if (!r) continue;
    const digest = sha(text);
    const old = known.get(runId, r.name) as { record_sha256: string } | undefined;
    if (old?.record_sha256 === digest) continue;
    const ev = r.record;
    db.prepare("INSERT OR REPLACE INTO reevaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?)").run(
      runId,
      r.name,
      ev.cleanAccuracy,
      ev.robustAccuracy,
      ev.n,
      ev.sanity.raised.join(","),
      JSON.stringify(ev.attacks.map((a) => ({
        name: a.name,
        accuracyCumulative: a.accuracyCumulative,
        newlyBroken: a.newlyBroken,
      }))),
      digest,
    );
    changed++;
  }
  return changed;
}

function insertRun(db: DatabaseSync, runId: string, r: RunResult, dir: string, digest: string) {
  const c = r.config, ev = r.evaluation;
  const { method, sparsity } = methodOf(r);
  const m = r.measurements;
  db.prepare(
    `INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    runId,
    configId(c),
    c.name,
    c.seed,
    dir,
    c.data.name,
    c.model.name,
    c.training.objective.name,
    method,
    sparsity,
    m.parameters,
    m.nonzeroParameters,
    m.macs,
    m.nonzeroMacs,
    c.threat.norm,
    c.threat.eps,
    ev.cleanAccuracy,
    ev.robustAccuracy,
    ev.n,
    ev.examples.sha256,
    ev.sanity.raised.join(","),
    r.provenance.git.commit ?? null,
    JSON.stringify(c),
    digest,
  );
  const att = db.prepare("INSERT INTO attacks VALUES (?, ?, ?, ?, ?, ?)");
  ev.attacks.forEach((a, i) =>
    att.run(runId, i, a.name, JSON.stringify(a.settings), a.accuracyCumulative, a.newlyBroken)
  );
  const st = db.prepare("INSERT INTO stages VALUES (?, ?, ?, ?, ?)");
  const cv = db.prepare("INSERT INTO curves VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  const sp = db.prepare("INSERT INTO sparsity VALUES (?, ?, ?, ?, ?)");
  r.stages.forEach((s, i) => {
    st.run(runId, i, s.name, s.kind, JSON.stringify(s.summary));
    const history = (s.summary.history ?? []) as Record<string, number | null>[];
    for (const h of history) {
      cv.run(
        runId,
        s.name,
        h.epoch,
        h.step,
        h.trainLoss,
        h.trainAccuracy,
        h.valAccuracy,
        h.valRobustAccuracy,
      );
    }
  });
  for (const l of r.measurements.layers) sp.run(runId, "final", l.name, l.nonzero, l.total);
  if (r.analysis) {
    const u = db.prepare("INSERT INTO units VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    r.analysis.layers.forEach((l, i) =>
      u.run(runId, l.name, i, l.units, l.noInput, l.unreachable, l.noPathToOutput, l.deadOnProbe)
    );
    db.prepare("INSERT INTO connectivity VALUES (?, ?, ?, ?)").run(
      runId,
      r.analysis.nonzeroWeights,
      r.analysis.disconnectedWeights,
      r.analysis.probeImages,
    );
  }
  if (r.histograms) {
    const h = db.prepare("INSERT INTO histograms VALUES (?, ?, ?, ?, ?, ?)");
    for (const which of ["dense", "pruned"] as const) {
      const x = r.histograms[which];
      x.counts.forEach((c, i) => h.run(runId, which, i, x.edges[i], x.edges[i + 1], c));
    }
  }
}
