/**
 * The `lottery` stage: iterative magnitude pruning with rewinding (Frankle & Carbin 2019;
 * Frankle et al. 2020, open_lth). Round 0 trains the model as it enters the stage (its
 * initialisation θ_0) for the full schedule and saves θ_k at step `rewindStep`; every later
 * round prunes a fraction `rate` of the remaining weights by magnitude (the last round exactly
 * to `sparsity`), rewinds the kept weights to θ_k, and retrains with a fresh optimizer from
 * step k (schedule, data order and attack draws resume at step k). Controls for the final
 * round: `reinit` (the final mask on a fresh random initialisation) and `random-mask` (θ_k
 * with a random mask of the same per-layer sparsity). `roundControls` trains the listed
 * controls at every pruning round next to the ticket (the ticket-vs-control curve of the
 * lottery papers; the stage's model stays the ticket). Each round and each control is
 * checkpointed and marked done on its own, so the stage resumes anywhere; with
 * `evaluateRounds`, each round's model gets the config's evaluation (the accuracy-vs-sparsity
 * curve of the tickets).
 * @module
 */

import {
  copyInto,
  type JsonValue,
  keptCount,
  noGrad,
  type Position,
  saveSafetensorsSync,
} from "@topiary/core";
import {
  lotteryKeptCounts,
  MaskSet,
  prunableLayers,
  type Scope,
  selectMasks,
  weightSnapshot,
} from "@topiary/pruning";
import {
  bool,
  choice,
  ConfigError,
  int,
  isMapping,
  keyOf,
  list,
  num,
  opt,
  type Raw,
} from "../config/_check.ts";
import { exists } from "../run/folder.ts";
import { buildModel, buildOptimizer } from "./build.ts";
import { evaluateConfig } from "./_evaluate.ts";
import { loadModelFile } from "./_load.ts";
import { runTraining } from "./_train_loop.ts";
import type { StageContext, StageDefinition, StageOutcome } from "./stage.ts";

/** A lottery control: the ticket's mask on fresh weights, or θ_k under a random mask. */
type Control = "none" | "reinit" | "random-mask";

/** Settings of a lottery stage. */
export interface LotterySettings {
  /** Target sparsity of the last round. */
  sparsity: number;
  /** Fraction of the remaining weights pruned per round (default 0.2). */
  rate: number;
  /** Rounds (required with perLayerRates; else derived from sparsity and rate). */
  rounds: number | null;
  scope: Scope;
  /** Leave the output layer dense (open_lth's global pruning: true). */
  excludeOutput: boolean;
  /** Layer-wise rates by weight name (the original MNIST recipe). */
  perLayerRates: Record<string, number> | null;
  /** Rewind to the weights after this many optimizer steps of round 0 (0: θ_0). */
  rewindStep: number;
  /** Epochs of each round (default: training.epochs). */
  epochs: number | null;
  control: Control;
  /** Controls trained and evaluated at every pruning round next to the ticket (absent: none). */
  roundControls?: Exclude<Control, "none">[];
  /** Evaluate every round's ticket: true (the config's evaluation) or n (its attacks on n test images). */
  evaluateRounds: boolean | number;
}

const KEYS = [
  "sparsity",
  "rate",
  "rounds",
  "scope",
  "excludeOutput",
  "perLayerRates",
  "rewindStep",
  "epochs",
  "control",
  "roundControls",
  "evaluateRounds",
];

function validate(raw: Raw, path: string): Record<string, unknown> {
  if (raw.sparsity === undefined) throw new ConfigError(keyOf(path, "sparsity"), "is required");
  const perLayerRates = raw.perLayerRates === undefined ? null : (() => {
    const p = keyOf(path, "perLayerRates");
    if (!isMapping(raw.perLayerRates)) throw new ConfigError(p, "must map weight names to rates");
    return Object.fromEntries(
      Object.entries(raw.perLayerRates).map(([k, v]) => [k, num(v, keyOf(p, k), 0, 1)]),
    );
  })();
  const s: LotterySettings = {
    sparsity: num(raw.sparsity, keyOf(path, "sparsity"), 0, 0.9999),
    rate: opt(raw, path, "rate", (x, p) => num(x, p, 0.01, 0.99), 0.2),
    rounds: opt(raw, path, "rounds", (x, p) => int(x, p, 1, 100), null as number | null),
    scope: opt(
      raw,
      path,
      "scope",
      (x, p) => choice(x, p, ["global", "layerwise"] as const),
      "global",
    ),
    excludeOutput: opt(raw, path, "excludeOutput", bool, true),
    perLayerRates,
    rewindStep: opt(raw, path, "rewindStep", (x, p) => int(x, p, 0), 0),
    epochs: opt(raw, path, "epochs", (x, p) => int(x, p, 1), null as number | null),
    control: opt(
      raw,
      path,
      "control",
      (x, p) => choice(x, p, ["none", "reinit", "random-mask"] as const),
      "none",
    ),
    evaluateRounds: opt(
      raw,
      path,
      "evaluateRounds",
      (x, p) => (typeof x === "number" ? int(x, p, 1) : bool(x, p)),
      false as boolean | number,
    ),
  };
  // Absent unless set, so configs without it resolve as before.
  if (raw.roundControls !== undefined && raw.roundControls !== null) {
    const p = keyOf(path, "roundControls");
    const cs = list(raw.roundControls, p).map((x, i) =>
      choice(x, keyOf(p, i), ["reinit", "random-mask"] as const)
    );
    if (new Set(cs).size !== cs.length) throw new ConfigError(p, "lists a control twice");
    if (cs.length && !s.evaluateRounds) {
      throw new ConfigError(p, "needs evaluateRounds (the controls are compared by evaluation)");
    }
    if (cs.length && s.control !== "none") {
      throw new ConfigError(
        p,
        `needs control: none (control: ${s.control} would make the last round's ticket a control)`,
      );
    }
    s.roundControls = cs;
  }
  if (perLayerRates && s.scope !== "layerwise") {
    throw new ConfigError(keyOf(path, "perLayerRates"), "needs scope: layerwise");
  }
  if (perLayerRates && s.rounds === null) {
    throw new ConfigError(keyOf(path, "rounds"), "is required with perLayerRates");
  }
  return s as unknown as Record<string, unknown>;
}

/** One round's record (with roundControls also `controls`: each control's record). */
interface RoundRecord {
  [key: string]: JsonValue;
  round: number;
  /** Target sparsity of the prunable weights after the round's pruning. */
  sparsity: number;
  kept: number;
  total: number;
  training: JsonValue;
  evaluation: JsonValue;
}

function runLottery(ctx: StageContext): StageOutcome {
  const s = ctx.stage.settings as unknown as LotterySettings;
  const { config: cfg, model, folder, stage } = ctx;
  const layers = prunableLayers(model, { excludeOutput: s.excludeOutput });
  if (s.perLayerRates) {
    for (const k of Object.keys(s.perLayerRates)) {
      if (!layers.some((l) => l.name === k)) {
        throw new Error(
          `${stage.name}: perLayerRates names "${k}", not a prunable weight (${
            layers.map((l) => l.name).join(", ")
          })`,
        );
      }
    }
  }
  const plan = keepPlan(s, layers.map((l) => [l.name, l.weight.size]));
  const rounds = plan.length;
  const epochs = s.epochs ?? cfg.training.epochs;
  const rewindPath = `${folder.dir}/rewind-${stage.name}.safetensors`;
  const roundName = (r: number) => `${stage.name}-r${r}`;
  const masks = ctx.pruning.masks && ctx.pruning.masks.layers.length === layers.length
    ? ctx.pruning.masks
    : new MaskSet(layers);
  if (masks !== ctx.pruning.masks) {
    ctx.pruning.masks?.dispose();
    ctx.pruning.masks = masks;
  }
  const records: RoundRecord[] = [];
  // The stage's time is the tickets'; the per-round controls' time is reported on its own.
  let seconds = 0, controlSeconds = 0;
  const saveRewind = () => {
    saveSafetensorsSync(rewindPath, model.stateDict(), {
      metadata: { stage: stage.name, step: String(s.rewindStep) },
      beforeRename: (p) => ctx.hooks.beforeRename(p),
    });
  };
  const loadInto = (path: string, withMasks: boolean) =>
    loadModelFile(model, path, withMasks ? () => masks : undefined);

  const evalCfg = typeof s.evaluateRounds === "number"
    ? { ...cfg, evaluation: { ...cfg.evaluation, subset: s.evaluateRounds } }
    : cfg;
  const evaluateRound = (label: string): JsonValue => {
    if (!s.evaluateRounds) return null;
    const ev = evaluateConfig(evalCfg, model, ctx.data.test, { quiet: true, label });
    return {
      cleanAccuracy: ev.cleanAccuracy,
      robustAccuracy: ev.robustAccuracy,
      n: ev.n,
      attacks: ev.attacks.map((a) => ({ name: a.name, accuracy: a.accuracyCumulative })),
    };
  };
  const train = (label: string, startAt?: Position, afterStep?: (next: Position) => void) => {
    const optimizer = buildOptimizer(cfg.training.optimizer, model);
    masks.attach(optimizer);
    try {
      return runTraining(ctx, {
        label,
        epochs,
        optimizer,
        optimizerConfig: cfg.training.optimizer,
        schedule: cfg.training.schedule,
        startAt,
        afterStep,
      });
    } finally {
      optimizer.dispose();
    }
  };
  // Rewind to θ_k under the current masks (after `adjust`), then train from step k.
  const trainFromRewind = (label: string, adjust: () => void) => {
    if (!exists(rewindPath)) {
      throw new Error(`${stage.name}: the rewinding point ${rewindPath} is missing; rerun round 0`);
    }
    loadInto(rewindPath, false);
    adjust();
    masks.apply();
    const spe = Math.ceil(ctx.data.train.length / cfg.training.batchSize);
    const k = s.rewindStep;
    return train(label, { epoch: Math.floor(k / spe), batch: k % spe, step: k });
  };
  const adjustFor = (control: Control) => () => {
    if (control === "reinit") reinitialise(ctx);
    if (control === "random-mask") randomMask(ctx, masks);
  };
  // The round's controls (reinit: the round's mask on fresh weights; random-mask: θ_k under a
  // random mask of the same per-layer counts), trained from step k; the ticket is reloaded after.
  const runControls = (r: number): Record<string, JsonValue> => {
    const out: Record<string, JsonValue> = {};
    for (const c of s.roundControls ?? []) {
      const name = `${roundName(r)}-${c}`;
      const done = folder.donePath(name);
      if (!exists(done)) {
        const t = trainFromRewind(name, adjustFor(c));
        const evaluation = evaluateRound(name);
        folder.writeJson(done, {
          record: { control: c, evaluation, training: t.summary },
          seconds: t.seconds,
        });
        loadInto(folder.modelPath(roundName(r)), true);
        logRound(name, masks.report().sparsity, evaluation);
      }
      // Read back from the marker, so a fresh and a resumed run hold the same record.
      const rec = folder.readJson<{ record: JsonValue; seconds: number }>(
        done,
        `done marker of ${name}`,
      );
      out[c] = rec.record;
      controlSeconds += rec.seconds;
    }
    return out;
  };
  const logRound = (name: string, sparsity: number, e: JsonValue) => {
    if (ctx.quiet) return;
    const ev = e as { cleanAccuracy: number; robustAccuracy: number } | null;
    console.log(
      `${name}: sparsity ${(100 * sparsity).toFixed(2)}%` +
        (ev ? `, test clean ${pct(ev.cleanAccuracy)}, robust ${pct(ev.robustAccuracy)}` : ""),
    );
  };

  // One ticket round: round 0 trains θ_0 (saving θ_k); later rounds prune, rewind, retrain.
  const trainRound = (r: number, name: string, done: string): RoundRecord => {
    let t;
    if (r === 0) {
      if (s.rewindStep === 0 && !exists(rewindPath)) saveRewind();
      t = train(
        name,
        undefined,
        s.rewindStep > 0
          ? (next) => {
            if (next.step === s.rewindStep && !exists(rewindPath)) saveRewind();
          }
          : undefined,
      );
      if (!exists(rewindPath)) {
        throw new Error(
          `${stage.name}: rewindStep ${s.rewindStep} is beyond round 0's ${t.summary.steps} steps`,
        );
      }
      if (!ctx.pruning.denseWeights) ctx.pruning.denseWeights = weightSnapshot(layers);
    } else {
      // Prune from the previous round's trained weights (loaded), then rewind.
      const next = selectMasks(layers, {
        sparsity: 0,
        scope: s.scope,
        criterion: "magnitude",
        within: masks,
        keep: plan[r - 1],
      });
      layers.forEach((l, i) => masks.setMask(l.name, next[i]));
      t = trainFromRewind(name, adjustFor(r === rounds ? s.control : "none"));
    }
    const rep = masks.report();
    const record: RoundRecord = {
      round: r,
      sparsity: r === 0 ? 0 : rep.sparsity,
      kept: rep.kept,
      total: rep.total,
      control: r === rounds ? s.control : "none",
      training: t.summary,
      evaluation: evaluateRound(name),
    };
    const tensors = new Map([...model.stateDict(), ...masks.stateDict()]);
    saveSafetensorsSync(folder.modelPath(name), tensors, {
      beforeRename: (p) => ctx.hooks.beforeRename(p),
    });
    folder.writeJson(done, { record, seconds: t.seconds });
    seconds += t.seconds;
    logRound(name, record.sparsity, record.evaluation);
    return record;
  };

  for (let r = 0; r <= rounds; r++) {
    const name = roundName(r);
    const done = folder.donePath(name);
    if (exists(done)) {
      const rec = folder.readJson<{ record: RoundRecord; seconds: number }>(
        done,
        `done marker of ${name}`,
      );
      loadInto(folder.modelPath(name), true);
      if (r === 0 && !ctx.pruning.denseWeights) {
        ctx.pruning.denseWeights = weightSnapshot(layers);
      }
      records.push(rec.record);
      seconds += rec.seconds;
    } else {
      records.push(trainRound(r, name, done));
    }
    if (r > 0 && s.roundControls?.length) records[r] = { ...records[r], controls: runControls(r) };
  }
  const report = masks.report();
  return {
    seconds,
    summary: {
      method: s.control === "none" ? "imp" : `imp-${s.control}`,
      rounds: records,
      rewindStep: s.rewindStep,
      sparsity: report as never,
      ...(s.roundControls?.length ? { controlSeconds } : {}),
    },
  };
}

/**
 * Kept counts per round, as open_lth prunes: each round removes floor(rate · remaining) of the
 * remaining weights (globally, or per layer at its own rate); without per-layer rates the
 * last round keeps exactly n − floor(sparsity · n).
 */
function keepPlan(
  s: LotterySettings,
  sizes: [string, number][],
): (number | Record<string, number>)[] {
  const total = sizes.reduce((a, [, n]) => a + n, 0);
  const step = (kept: number, rate: number) => kept - Math.floor(rate * kept);
  if (s.scope === "global") {
    if (s.rounds === null) return lotteryKeptCounts(total, s.sparsity, s.rate);
    const out: number[] = [];
    let kept = total;
    for (let r = 1; r <= s.rounds; r++) {
      kept = r === s.rounds ? keptCount(total, s.sparsity) : step(kept, s.rate);
      out.push(kept);
    }
    return out;
  }
  if (s.perLayerRates) {
    const kept = Object.fromEntries(sizes);
    return Array.from({ length: s.rounds! }, () => {
      for (const [name] of sizes) kept[name] = step(kept[name], s.perLayerRates![name] ?? s.rate);
      return { ...kept };
    });
  }
  const per = sizes.map(([name, n]) => [name, lotteryKeptCounts(n, s.sparsity, s.rate)] as const);
  const rounds = s.rounds ?? Math.max(...per.map(([, c]) => c.length));
  return Array.from({ length: rounds }, (_, r) =>
    Object.fromEntries(per.map(([name, c]) => [
      name,
      r === rounds - 1 ? c[c.length - 1] : c[Math.min(r, c.length - 1)],
    ])));
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** The reinit control: fresh weights from an independent draw (seed + 1,000,003). */
function reinitialise(ctx: StageContext): void {
  const fresh = buildModel({ ...ctx.config, seed: ctx.config.seed + 1_000_003 });
  try {
    const sd = fresh.stateDict();
    noGrad(() => {
      for (const [k, t] of ctx.model.stateDict()) copyInto(t, sd.get(k)!);
    });
  } finally {
    fresh.dispose();
  }
}

/** The random-mask control: per layer, a random mask with the ticket's kept count. */
function randomMask(ctx: StageContext, masks: MaskSet): void {
  const rep = masks.report();
  const perLayer = Object.fromEntries(rep.layers.map((l) => [l.name, 1 - l.kept / l.total]));
  const rnd = selectMasks(masks.layers, {
    sparsity: 0,
    scope: "layerwise",
    criterion: "random",
    seed: ctx.config.seed,
    perLayer,
  });
  masks.layers.forEach((l, i) => masks.setMask(l.name, rnd[i]));
}

/** The lottery stage's definition. */
export const lotteryStage: StageDefinition = {
  kind: "lottery",
  summary: "iterative magnitude pruning with rewinding (lottery tickets): rounds pruning `rate` " +
    "of the remaining weights to `sparsity`, rewinding to step `rewindStep`; controls reinit | " +
    "random-mask",
  keys: KEYS,
  validate,
  run: runLottery,
};
