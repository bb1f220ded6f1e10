/**
 * Sweep grids: a YAML file naming a base config, a grid of dotted keys with lists of
 * values, seeds and an executor. The grid expands (Cartesian product, keys in file order,
 * then seeds) into run folders, each initialised with its resolved config, so any worker
 * (a local process or a Slurm array task) needs only the folder to run or resume it.
 * @module
 */

import { dirname, join, resolve } from "node:path";
import {
  choice,
  ConfigError,
  deepMerge,
  flattenJson,
  int,
  isMapping,
  keyOf,
  list,
  mapping,
  opt,
  type Raw,
  setPath,
  str,
} from "../config/_check.ts";
import { readYamlFile } from "../config/load.ts";
import { resolveConfig } from "../config/resolve.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import { RunFolder } from "../run/folder.ts";

/** Slurm settings of a sweep. */
export interface SlurmSettings {
  partition: string | null;
  time: string;
  cpusPerTask: number;
  mem: string;
  /** Extra `sbatch` arguments, e.g. ["--account=lab"]. */
  extraArgs: string[];
}

/** A parsed grid file. */
export interface SweepSpec {
  name: string;
  /** The grid file (paths in it are relative to its folder). */
  source: string;
  base: Raw;
  grid: [string, unknown[]][];
  set: Raw;
  seeds: number[];
  out: string;
  parallel: number;
  slurm: SlurmSettings;
}

/** One run of a sweep. */
export interface SweepRun {
  /** Index in the expansion order. */
  index: number;
  /** Folder name of the grid point, e.g. "objective.name=pgd,model.name=lenet5". */
  point: string;
  /** The grid values of this run. */
  values: Record<string, unknown>;
  seed: number;
  dir: string;
  config: ExperimentConfig;
}

/** Reads a grid file. */
export function loadSweep(path: string): SweepSpec {
  const doc = readYamlFile(path);
  try {
    return parseSweep(doc, path);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.key, e.detail, path);
    throw e;
  }
}

function parseSweep(doc: unknown, path: string): SweepSpec {
  const m = mapping(doc, "", ["name", "base", "grid", "set", "seeds", "out", "parallel", "slurm"]);
  const name = str(m.name, "name");
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new ConfigError("name", `must be letters, digits, ".", "_" or "-", got "${name}"`);
  }
  const here = dirname(path);
  let base: Raw;
  if (typeof m.base === "string") {
    const b = readYamlFile(resolve(here, m.base));
    if (!isMapping(b)) throw new ConfigError("base", `${m.base} is not a config mapping`);
    base = b;
  } else base = mapping(m.base, "base", Object.keys(m.base ?? {}));
  const gridRaw = m.grid === undefined ? {} : mapping(m.grid, "grid", Object.keys(m.grid ?? {}));
  const grid: [string, unknown[]][] = Object.entries(gridRaw).map((
    [k, v],
  ) => [k, list(v, keyOf("grid", k), true)]);
  const set = m.set === undefined ? {} : mapping(m.set, "set", Object.keys(m.set ?? {}));
  const seeds = m.seeds === undefined
    ? [0]
    : list(m.seeds, "seeds", true).map((x, i) => int(x, keyOf("seeds", i), 0));
  const s = mapping(m.slurm ?? {}, "slurm", [
    "partition",
    "time",
    "cpusPerTask",
    "mem",
    "extraArgs",
  ]);
  return {
    name,
    source: path,
    base,
    grid,
    set,
    seeds,
    out: opt(m, "", "out", str, join("runs", "sweeps", name)),
    parallel: opt(m, "", "parallel", (x, p) => int(x, p, 1, 64), 1),
    slurm: {
      partition: opt(s, "slurm", "partition", str, null as string | null),
      time: opt(s, "slurm", "time", str, "02:00:00"),
      cpusPerTask: opt(s, "slurm", "cpusPerTask", (x, p) => int(x, p, 1), 2),
      mem: opt(s, "slurm", "mem", str, "8G"),
      extraArgs: opt(
        s,
        "slurm",
        "extraArgs",
        (x, p) => list(x, p).map((e, i) => str(e, keyOf(p, i))),
        [] as string[],
      ),
    },
  };
}

/**
 * Short names of a grid key's values: scalars as themselves; lists and mappings by the leaves
 * that differ between the values ("method=hydra,sparsity=0.99").
 */
function valueNames(values: unknown[]): string[] {
  if (values.every((v) => typeof v !== "object" || v === null)) return values.map(String);
  const flats = values.map((v) => flattenJson(v, { format: String }));
  const keys = [...new Set(flats.flatMap((f) => [...f.keys()]))].filter((k) =>
    flats.some((f) => f.get(k) !== flats[0].get(k))
  );
  return flats.map((f) =>
    keys.filter((k) => f.has(k)).map((k) => `${k.split(".").pop()}=${f.get(k)}`).join(",")
  );
}

function pointName(values: [string, unknown][], names: Map<string, Map<unknown, string>>): string {
  if (values.length === 0) return "base";
  return values.map(([k, v]) => {
    const n = names.get(k)!.get(v)!;
    return typeof v === "object" && v !== null ? n : `${k.split(".").slice(-2).join(".")}=${n}`;
  }).join(",").replace(/[^A-Za-z0-9._=,-]/g, "_");
}

/**
 * Expands a sweep into its runs (configs resolved and checked; nothing written), seed-major:
 * all grid points for the first seed, then for the next.
 */
export function expandSweep(spec: SweepSpec): SweepRun[] {
  let points: [string, unknown][][] = [[]];
  for (const [k, vs] of spec.grid) {
    points = points.flatMap((p) => vs.map((v) => [...p, [k, v] as [string, unknown]]));
  }
  const runs: SweepRun[] = [];
  const names = new Set<string>();
  const valueName = new Map(
    spec.grid.map(([k, vs]) => {
      const n = valueNames(vs);
      return [k, new Map(vs.map((v, i) => [v, n[i]]))] as const;
    }),
  );
  for (const p of points) {
    const doc = deepMerge(spec.base, {}) as Raw;
    for (const [k, v] of Object.entries(spec.set)) setPath(doc, k, v);
    for (const [k, v] of p) setPath(doc, k, v);
    doc.name = spec.name;
    doc.seeds = spec.seeds;
    delete doc.seed;
    let point = pointName(p, valueName);
    if (names.has(point)) point = `${point}-${names.size}`;
    names.add(point);
    for (const seed of spec.seeds) {
      let config: ExperimentConfig;
      try {
        config = resolveConfig(doc, { seed });
      } catch (e) {
        if (e instanceof ConfigError) {
          throw new ConfigError(e.key, `${e.detail} (grid point ${point})`, spec.source);
        }
        throw e;
      }
      runs.push({
        index: runs.length,
        point,
        values: Object.fromEntries(p),
        seed,
        dir: join(spec.out, point, `seed-${seed}`),
        config,
      });
    }
  }
  // Seed-major order: every grid point of the first seed runs first, so a sweep stopped early
  // has a complete picture for one seed rather than all seeds of a few points.
  const bySeed = spec.seeds.flatMap((seed) => runs.filter((r) => r.seed === seed));
  return bySeed.map((r, index) => ({ ...r, index }));
}

/** Creates every run folder with its config (existing folders must hold the same config). */
export function prepareSweep(spec: SweepSpec, runs: SweepRun[]): void {
  Deno.mkdirSync(spec.out, { recursive: true });
  for (const r of runs) new RunFolder(r.dir).init(r.config);
  const manifest = {
    format: "topiary-sweep/1",
    name: spec.name,
    source: spec.source,
    runs: runs.map((r) => ({
      index: r.index,
      point: r.point,
      seed: r.seed,
      dir: r.dir,
      values: r.values,
    })),
  };
  new RunFolder(spec.out).writeJson(join(spec.out, "sweep.json"), manifest);
}

/** Checks an executor name. */
export function executorKind(v: unknown): "local" | "slurm" {
  return choice(v, "--executor", ["local", "slurm"] as const);
}
