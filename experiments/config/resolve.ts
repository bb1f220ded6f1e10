/**
 * Validates a parsed config document (from YAML) into an {@link ExperimentConfig}: defaults
 * filled, presets applied, deviations from the preset recorded, and every error naming the
 * bad key and what is allowed there.
 * @module
 */

import {
  bool,
  choice,
  ConfigError,
  deepMerge,
  getPath,
  int,
  isMapping,
  keyOf,
  list,
  mapping,
  num,
  opt,
  type Raw,
  str,
} from "./_check.ts";
import { findPreset, PRESET_NAMES } from "./presets.ts";
import {
  type AttackConfig,
  ATTACKS,
  type DataConfig,
  DATASETS,
  type Deviation,
  DEVICES,
  type EvaluationConfig,
  type ExperimentConfig,
  type ModelConfig,
  MODELS,
  type ObjectiveConfig,
  OBJECTIVES,
  type OptimizerConfig,
  OPTIMIZERS,
  type ScheduleConfig,
  SCHEDULES,
  type StageConfig,
  type ThreatConfig,
  type TrainingConfig,
} from "./schema.ts";
import { stageDefinition, stageKinds } from "../pipeline/stages.ts";

const TOP_KEYS = [
  "name",
  "preset",
  "seed",
  "seeds",
  "device",
  "threads",
  "threat",
  "data",
  "model",
  "training",
  "pipeline",
  "evaluation",
  "checkpointEvery",
  "deviations",
];

function threat(v: unknown, path: string): ThreatConfig {
  const m = mapping(v ?? {}, path, ["norm", "eps"]);
  const norm = opt(m, path, "norm", (x, p) => choice(x, p, ["linf", "l2"] as const), "linf");
  if (m.eps === undefined) throw new ConfigError(keyOf(path, "eps"), "is required");
  return { norm, eps: num(m.eps, keyOf(path, "eps"), 0) };
}

function data(v: unknown, path: string): DataConfig {
  const m = mapping(v, path, ["name", "path", "validation", "trainSubset", "augment", "synthetic"]);
  const name = choice(m.name, keyOf(path, "name"), DATASETS);
  const aug = mapping(m.augment ?? {}, keyOf(path, "augment"), ["crop", "flip"]);
  const ap = keyOf(path, "augment");
  let synthetic: DataConfig["synthetic"] = null;
  if (name === "synthetic") {
    const sp = keyOf(path, "synthetic");
    const s = mapping(m.synthetic ?? {}, sp, ["train", "test", "shape"]);
    const shape = opt(s, sp, "shape", (x, p) => list(x, p), [1, 28, 28]);
    if (shape.length !== 3) throw new ConfigError(keyOf(sp, "shape"), "must be [C, H, W]");
    synthetic = {
      train: opt(s, sp, "train", (x, p) => int(x, p, 1), 512),
      test: opt(s, sp, "test", (x, p) => int(x, p, 1), 256),
      shape: shape.map((x, i) => int(x, keyOf(keyOf(sp, "shape"), i), 1)) as [
        number,
        number,
        number,
      ],
    };
  } else if (m.synthetic !== undefined) {
    throw new ConfigError(keyOf(path, "synthetic"), `only applies to data.name "synthetic"`);
  }
  const folder = opt(m, path, "path", str, null as string | null);
  if (name === "cifar10" && folder === null && !Deno.env.get("TOPIARY_CIFAR10_DIR")) {
    throw new ConfigError(
      keyOf(path, "path"),
      "cifar10 needs the folder of its binary files (or TOPIARY_CIFAR10_DIR)",
    );
  }
  return {
    name,
    path: folder,
    validation: opt(m, path, "validation", (x, p) => int(x, p, 0), 5000),
    trainSubset: opt(m, path, "trainSubset", (x, p) => int(x, p, 1), null as number | null),
    augment: {
      crop: opt(aug, ap, "crop", (x, p) => int(x, p, 0, 16), 0),
      flip: opt(aug, ap, "flip", bool, false),
    },
    synthetic,
  };
}

function model(v: unknown, path: string): ModelConfig {
  const m = mapping(v, path, ["name", "width", "depth"]);
  return {
    name: choice(m.name, keyOf(path, "name"), MODELS),
    width: opt(m, path, "width", (x, p) => num(x, p, 1e-3), null as number | null),
    depth: opt(m, path, "depth", (x, p) => int(x, p, 1), null as number | null),
  };
}

function optimizer(v: unknown, path: string): OptimizerConfig {
  const m = mapping(v ?? {}, path, ["name", "lr", "momentum", "nesterov", "weightDecay"]);
  const name = opt(m, path, "name", (x, p) => choice(x, p, OPTIMIZERS), "sgd");
  const o: OptimizerConfig = {
    name,
    lr: opt(m, path, "lr", (x, p) => num(x, p, 0), name === "adam" ? 1e-3 : 0.1),
    momentum: opt(m, path, "momentum", (x, p) => num(x, p, 0, 1), name === "sgd" ? 0.9 : 0),
    nesterov: opt(m, path, "nesterov", bool, false),
    weightDecay: opt(m, path, "weightDecay", (x, p) => num(x, p, 0), 0),
  };
  if (name === "adam" && (m.momentum !== undefined || m.nesterov !== undefined)) {
    throw new ConfigError(keyOf(path, "momentum"), "applies to sgd only (adam has betas)");
  }
  return o;
}

function schedule(v: unknown, path: string, epochs: number): ScheduleConfig {
  const m = mapping(v ?? {}, path, [
    "name",
    "every",
    "milestones",
    "gamma",
    "minLr",
    "peakEpoch",
    "warmupEpochs",
  ]);
  const name = opt(m, path, "name", (x, p) => choice(x, p, SCHEDULES), "constant");
  const s: ScheduleConfig = {
    name,
    every: opt(m, path, "every", (x, p) => int(x, p, 1), null as number | null),
    milestones: opt(
      m,
      path,
      "milestones",
      (x, p) => list(x, p).map((e, i) => int(e, keyOf(p, i), 0)),
      [] as number[],
    ),
    gamma: opt(m, path, "gamma", (x, p) => num(x, p, 0), 0.1),
    minLr: opt(m, path, "minLr", (x, p) => num(x, p, 0), 0),
    peakEpoch: opt(m, path, "peakEpoch", (x, p) => num(x, p, 0), null as number | null),
    warmupEpochs: opt(m, path, "warmupEpochs", (x, p) => int(x, p, 0, epochs), 0),
  };
  if (name === "step" && s.every === null) {
    throw new ConfigError(keyOf(path, "every"), `is required by schedule "step" (epochs)`);
  }
  if (name === "multistep" && s.milestones.length === 0) {
    throw new ConfigError(keyOf(path, "milestones"), `is required by schedule "multistep"`);
  }
  return s;
}

function objective(v: unknown, path: string, eps: number): ObjectiveConfig {
  const m = mapping(v ?? {}, path, [
    "name",
    "steps",
    "stepSize",
    "loss",
    "randomStart",
    "beta",
    "weight",
    "attack",
    "bnMode",
    "epsWarmupEpochs",
  ]);
  const name = opt(m, path, "name", (x, p) => choice(x, p, OBJECTIVES), "clean");
  const steps = opt(m, path, "steps", (x, p) => int(x, p, 1), 10);
  return {
    name,
    steps,
    stepSize: opt(
      m,
      path,
      "stepSize",
      (x, p) => num(x, p, 0),
      name === "fgsm" ? 1.25 * eps : 2.5 * eps / steps,
    ),
    loss: opt(m, path, "loss", (x, p) => choice(x, p, ["ce", "cw"] as const), "ce"),
    randomStart: opt(m, path, "randomStart", bool, true),
    beta: opt(m, path, "beta", (x, p) => num(x, p, 0), 6),
    weight: opt(m, path, "weight", (x, p) => num(x, p, 0, 1), 0.5),
    mixedAttack: opt(m, path, "attack", (x, p) => choice(x, p, ["pgd", "fgsm"] as const), "pgd"),
    bnMode: opt(m, path, "bnMode", (x, p) => choice(x, p, ["eval", "train"] as const), "eval"),
    epsWarmupEpochs: opt(m, path, "epsWarmupEpochs", (x, p) => int(x, p, 0), 0),
  };
}

function training(v: unknown, path: string, eps: number): TrainingConfig {
  const m = mapping(v ?? {}, path, [
    "epochs",
    "batchSize",
    "optimizer",
    "schedule",
    "objective",
    "validationRobustN",
    "validationAttackSteps",
  ]);
  const epochs = opt(m, path, "epochs", (x, p) => int(x, p, 1), 10);
  return {
    epochs,
    batchSize: opt(m, path, "batchSize", (x, p) => int(x, p, 1), 128),
    optimizer: optimizer(m.optimizer, keyOf(path, "optimizer")),
    schedule: schedule(m.schedule, keyOf(path, "schedule"), epochs),
    objective: objective(m.objective, keyOf(path, "objective"), eps),
    validationRobustN: opt(m, path, "validationRobustN", (x, p) => int(x, p, 0), 1000),
    validationAttackSteps: opt(m, path, "validationAttackSteps", (x, p) => int(x, p, 1), 10),
  };
}

function attack(v: unknown, path: string, eps: number): AttackConfig {
  const m = mapping(v, path, [
    "name",
    "steps",
    "stepSize",
    "restarts",
    "loss",
    "queries",
    "targets",
    "start",
    "reluSurrogate",
  ]);
  const name = choice(m.name, keyOf(path, "name"), ATTACKS);
  if (m.reluSurrogate !== undefined && !["pgd", "apgd-ce", "apgd-dlr", "apgd-t"].includes(name)) {
    throw new ConfigError(keyOf(path, "reluSurrogate"), "applies to pgd and the apgd attacks only");
  }
  const steps = opt(m, path, "steps", (x, p) => int(x, p, 1), name === "pgd" ? 50 : 100);
  return {
    name,
    steps,
    stepSize: opt(
      m,
      path,
      "stepSize",
      (x, p) => num(x, p, 0),
      name === "pgd" ? 2.5 * eps / steps : null as number | null,
    ),
    restarts: opt(m, path, "restarts", (x, p) => int(x, p, 1), 1),
    loss: opt(m, path, "loss", (x, p) => choice(x, p, ["ce", "cw"] as const), "ce"),
    queries: opt(m, path, "queries", (x, p) => int(x, p, 1), 5000),
    targets: opt(m, path, "targets", (x, p) => int(x, p, 1, 9), 9),
    start: opt(m, path, "start", (x, p) => choice(x, p, ["uniform", "vertex"] as const), "uniform"),
    // Present only when set, so configs without it resolve as before.
    ...(m.reluSurrogate === undefined
      ? {}
      : { reluSurrogate: num(m.reluSurrogate, keyOf(path, "reluSurrogate"), 1e-9) }),
  };
}

function evaluation(v: unknown, path: string, eps: number): EvaluationConfig {
  const m = mapping(v ?? {}, path, ["subset", "subsetSeed", "batchSize", "attacks"]);
  const subset = m.subset === undefined || m.subset === "all"
    ? "all" as const
    : int(m.subset, keyOf(path, "subset"), 1);
  const rawAttacks = m.attacks === undefined
    ? [{ name: "pgd", restarts: 1 }]
    : list(m.attacks, keyOf(path, "attacks"), true);
  return {
    subset,
    subsetSeed: opt(m, path, "subsetSeed", (x, p) => int(x, p, 0), 0),
    batchSize: opt(m, path, "batchSize", (x, p) => int(x, p, 1), 500),
    attacks: rawAttacks.map((a, i) => attack(a, keyOf(keyOf(path, "attacks"), i), eps)),
  };
}

/**
 * Resolves an `evaluation` mapping on its own, for threat radius `eps` (a re-evaluation's
 * attack file); errors name `source` and the key.
 */
export function resolveEvaluation(v: unknown, eps: number, source?: string): EvaluationConfig {
  return sourced(source, () => evaluation(v, "evaluation", eps));
}

function pipeline(v: unknown, path: string): StageConfig[] {
  const raw = v === undefined ? [{ stage: "train" }] : list(v, path, true);
  const names = new Set<string>();
  return raw.map((s, i) => {
    const p = keyOf(path, i);
    if (!isMapping(s)) throw new ConfigError(p, "must be a mapping with a `stage` key");
    const kind = choice(s.stage, keyOf(p, "stage"), stageKinds());
    const def = stageDefinition(kind);
    const m = mapping(s, p, ["stage", "name", ...def.keys]);
    const name = opt(m, p, "name", str, kind);
    if (names.has(name)) {
      throw new ConfigError(keyOf(p, "name"), `duplicate stage name "${name}"; name the stages`);
    }
    names.add(name);
    const rest: Raw = { ...m };
    delete rest.stage;
    delete rest.name;
    return { kind, name, settings: def.validate(rest, p) };
  });
}

function seeds(m: Raw): number[] {
  if (m.seeds !== undefined) {
    const s = list(m.seeds, "seeds", true).map((x, i) => int(x, keyOf("seeds", i), 0));
    if (new Set(s).size !== s.length) throw new ConfigError("seeds", "has repeated seeds");
    return s;
  }
  return [opt(m, "", "seed", (x, p) => int(x, p, 0), 0)];
}

/** Options of {@link resolveConfig}. */
export interface ResolveOptions {
  /** The file the document came from (prefixes error messages). */
  source?: string;
  /** This run's seed (must be one of the config's seeds; default the first). */
  seed?: number;
}

/**
 * Validates a config document into a resolved {@link ExperimentConfig}. With a `preset`, the
 * preset's settings are the defaults; settings that differ from them are recorded in
 * `deviations` with the reason the document gives under `deviations: {key: reason}`.
 */
export function resolveConfig(doc: unknown, opts: ResolveOptions = {}): ExperimentConfig {
  return sourced(opts.source, () => resolveInner(doc, opts));
}

/** Runs `f`; a ConfigError it throws is rethrown naming `source` (when given). */
function sourced<T>(source: string | undefined, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfigError && source) throw new ConfigError(e.key, e.detail, source);
    throw e;
  }
}

function resolveInner(doc: unknown, opts: ResolveOptions): ExperimentConfig {
  const top = mapping(doc, "", TOP_KEYS);
  const presetName = opt(top, "", "preset", (x, p) => choice(x, p, PRESET_NAMES), null);
  const preset = presetName ? findPreset(presetName) : null;
  const m = (preset ? deepMerge(preset.settings, top) : top) as Raw;
  const name = str(m.name, "name");
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new ConfigError("name", `must be letters, digits, ".", "_" or "-", got "${name}"`);
  }
  const allSeeds = seeds(m);
  const seed = opts.seed ?? allSeeds[0];
  if (!allSeeds.includes(seed)) {
    throw new ConfigError("seeds", `seed ${seed} is not one of the config's seeds ${allSeeds}`);
  }
  const th = threat(m.threat, "threat");
  const cfg: ExperimentConfig = {
    format: "topiary-experiment/1",
    name,
    preset: presetName,
    seed,
    seeds: allSeeds,
    device: opt(m, "", "device", (x, p) => choice(x, p, DEVICES), "cpu"),
    threads: opt(m, "", "threads", (x, p) => int(x, p, 1, 1024), null as number | null),
    threat: th,
    data: data(m.data, "data"),
    model: model(m.model, "model"),
    training: training(m.training, "training", th.eps),
    pipeline: pipeline(m.pipeline, "pipeline"),
    evaluation: evaluation(m.evaluation, "evaluation", th.eps),
    checkpointEvery: opt(m, "", "checkpointEvery", (x, p) => int(x, p, 1), 200),
    deviations: [],
  };
  cfg.deviations = preset ? deviations(preset.settings, top, m.deviations) : [];
  if (!preset && m.deviations !== undefined) {
    throw new ConfigError("deviations", "needs a `preset` to deviate from");
  }
  return cfg;
}

/** Leaves of the preset that the document overrides with a different value. */
function deviations(presetSettings: Raw, doc: Raw, reasonsRaw: unknown): Deviation[] {
  if (reasonsRaw !== undefined && !isMapping(reasonsRaw)) {
    throw new ConfigError("deviations", "must be a mapping of setting keys to reasons");
  }
  const reasons: Raw = reasonsRaw ?? {};
  const out: Deviation[] = [];
  const walk = (p: unknown, path: string) => {
    if (isMapping(p)) {
      for (const [k, v] of Object.entries(p)) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    const used = getPath(doc, path);
    if (used !== undefined && JSON.stringify(used) !== JSON.stringify(p)) {
      const reason = reasons[path];
      out.push({
        key: path,
        preset: p,
        used,
        reason: typeof reason === "string" ? reason : "not stated",
      });
    }
  };
  walk(presetSettings, "");
  for (const k of Object.keys(reasons)) {
    if (!out.some((d) => d.key === k)) {
      throw new ConfigError(
        keyOf("deviations", k),
        "names no setting that differs from the preset",
      );
    }
  }
  return out;
}
