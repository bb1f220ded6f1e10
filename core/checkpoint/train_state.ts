/**
 * Training states: everything needed to resume a run exactly, in one safetensors file.
 * Tensors: the model's state dict as `model.<name>` and the optimizer's buffers as
 * `optimizer.state.<param>.<key>`. `__metadata__`: `format`, the position (`step`, `epoch`,
 * `batch`), `threads`, `seed`, `device`, the optimizer's scalars (`optimizer`, JSON) and
 * free-form `metadata` (JSON). Resuming with another thread count is refused unless
 * explicitly allowed, since float reductions differ between thread counts.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import { Module, type StateDict } from "../nn/module.ts";
import type { OptimizerState, StateScalar } from "../optim/optimizer.ts";
import { Optimizer } from "../optim/optimizer.ts";
import { getDefaultBackend, type Tensor } from "../tensor.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import { fromHostTensors, toHostTensors } from "./safetensors_file.ts";

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | {
  [key: string]: JsonValue;
};

/** The `format` metadata value of training states written by this version. */
export const TRAIN_STATE_FORMAT = "topiary.train_state.v1";

/** Where a run stands. */
export interface TrainPosition {
  /** Optimizer steps taken: the schedule position (the next step's rate is schedule(step)). */
  step: number;
  /** The epoch in progress (its shuffle is the data order). */
  epoch: number;
  /** Batches of `epoch` already consumed: the index of the next batch. */
  batch: number;
}

/** What {@link encodeTrainState} saves. */
export interface TrainStateInput extends TrainPosition {
  /** The model, or its state dict. */
  model: Module | StateDict;
  /** The optimizer, or its state (omit for weights and position only). */
  optimizer?: Optimizer | OptimizerState | null;
  /** The run's seed (u64). */
  seed: number | bigint;
  /** Thread count of the run (default: the model's backend's). */
  threads?: number;
  /** Free-form JSON (config digest, metrics, ...). */
  metadata?: { [key: string]: JsonValue };
}

/** A decoded training state; its tensors are owned by the caller (see {@link disposeTrainState}). */
export interface TrainState extends TrainPosition {
  model: StateDict;
  optimizer: OptimizerState | null;
  seed: number | bigint;
  threads: number;
  /** Device the state was saved from ("cpu", "cuda"). */
  device: string;
  metadata: { [key: string]: JsonValue };
}

/** Options of {@link decodeTrainState}. */
export interface TrainStateLoadOptions {
  /** Device of the loaded tensors (default: the default backend). */
  backend?: Backend;
  /** The thread count of this process (default: the backend's). */
  threads?: number;
  /** Resume even if the state was saved with another thread count (results will differ). */
  allowThreadMismatch?: boolean;
}

function checkCount(what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new Error(`training state: ${what} must be an integer >= 0, got ${v}`);
  }
  return v;
}

/** Encodes a training state as the bytes of a safetensors file. */
export function encodeTrainState(s: TrainStateInput): Uint8Array {
  const model = s.model instanceof Module ? s.model.stateDict() : s.model;
  const opt = s.optimizer instanceof Optimizer ? s.optimizer.stateDict() : s.optimizer ?? null;
  const first: Tensor | undefined = model.values().next().value;
  const backend = first?.backend ?? getDefaultBackend();
  const threads = s.threads ?? backend.threads;
  for (const k of ["step", "epoch", "batch"] as const) checkCount(k, s[k]);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`training state: threads must be an integer >= 1, got ${threads}`);
  }
  const seed = BigInt(s.seed);
  if (seed < 0n || seed >= 1n << 64n) {
    throw new Error(`training state: seed ${s.seed} is not a u64`);
  }
  const tensors: [string, Tensor][] = [];
  for (const [k, t] of model) tensors.push([`model.${k}`, t]);
  for (const [k, t] of opt?.tensors ?? []) tensors.push([`optimizer.${k}`, t]);
  const metadata: Record<string, string> = {
    format: TRAIN_STATE_FORMAT,
    step: String(s.step),
    epoch: String(s.epoch),
    batch: String(s.batch),
    threads: String(threads),
    seed: String(seed),
    device: backend.name,
    metadata: JSON.stringify(s.metadata ?? {}),
  };
  if (opt) metadata.optimizer = JSON.stringify(opt.scalars);
  return encodeSafetensors(toHostTensors(tensors), { metadata });
}

function metaInt(file: string, meta: Record<string, string>, key: string): number {
  const v = meta[key];
  if (v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new Error(`training state ${file}: metadata "${key}" must be an integer, got ${v}`);
  }
  return Number(v);
}

function parseJson(file: string, meta: Record<string, string>, key: string): unknown {
  try {
    return JSON.parse(meta[key]);
  } catch (e) {
    throw new Error(
      `training state ${file}: metadata "${key}" is not JSON (${(e as Error).message})`,
    );
  }
}

/**
 * Decodes and checks a training state (`file` names it in errors). A state saved with
 * another thread count is refused unless `allowThreadMismatch` is set.
 */
export function decodeTrainState(
  bytes: Uint8Array,
  file: string,
  opts: TrainStateLoadOptions = {},
): TrainState {
  const d = decodeSafetensors(bytes, file);
  const meta = d.metadata;
  if (meta.format !== TRAIN_STATE_FORMAT) {
    throw new Error(
      `training state ${file}: not a training state of this version (format ` +
        `${JSON.stringify(meta.format ?? null)}, expected "${TRAIN_STATE_FORMAT}")`,
    );
  }
  const backend = opts.backend ?? getDefaultBackend();
  const threads = metaInt(file, meta, "threads");
  const here = opts.threads ?? backend.threads;
  if (threads !== here && !opts.allowThreadMismatch) {
    throw new Error(
      `training state ${file} was saved by a run with ${threads} threads, this process uses ` +
        `${here}: float reductions differ between thread counts, so the resumed run would not ` +
        `match. Set TOPIARY_THREADS=${threads} to resume exactly, or pass ` +
        `allowThreadMismatch: true to resume anyway.`,
    );
  }
  if (!/^\d+$/.test(meta.seed ?? "")) {
    throw new Error(`training state ${file}: metadata "seed" must be an integer, got ${meta.seed}`);
  }
  const seed = BigInt(meta.seed) <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(meta.seed)
    : BigInt(meta.seed);
  const userMeta = parseJson(file, meta, "metadata");
  if (typeof userMeta !== "object" || userMeta === null || Array.isArray(userMeta)) {
    throw new Error(`training state ${file}: metadata "metadata" must be a JSON object`);
  }
  let scalars: Record<string, StateScalar> | null = null;
  if (meta.optimizer !== undefined) {
    const sc = parseJson(file, meta, "optimizer");
    const ok = typeof sc === "object" && sc !== null && !Array.isArray(sc) &&
      Object.values(sc).every((v) => ["number", "boolean", "string"].includes(typeof v));
    if (!ok) {
      throw new Error(`training state ${file}: metadata "optimizer" must map names to scalars`);
    }
    scalars = sc as Record<string, StateScalar>;
  }
  for (const name of d.tensors.keys()) {
    const known = name.startsWith("model.") || (scalars && name.startsWith("optimizer."));
    if (!known) throw new Error(`training state ${file}: unexpected tensor "${name}"`);
  }
  const all = fromHostTensors(d.tensors, backend);
  const model: StateDict = new Map(), optTensors: StateDict = new Map();
  for (const [k, t] of all) {
    if (k.startsWith("model.")) model.set(k.slice(6), t);
    else optTensors.set(k.slice(10), t);
  }
  return {
    step: metaInt(file, meta, "step"),
    epoch: metaInt(file, meta, "epoch"),
    batch: metaInt(file, meta, "batch"),
    threads,
    seed,
    device: meta.device ?? "",
    metadata: userMeta as { [key: string]: JsonValue },
    model,
    optimizer: scalars ? { tensors: optTensors, scalars } : null,
  };
}

/** Frees the tensors of a decoded training state. */
export function disposeTrainState(s: TrainState): void {
  for (const t of s.model.values()) t.dispose();
  for (const t of s.optimizer?.tensors.values() ?? []) t.dispose();
}

/** What {@link applyTrainState} restores into. */
export interface RestoreTarget {
  /** The model: every entry must match (strict). */
  model: Module;
  /**
   * A freshly created optimizer with the run's settings; its state is loaded. Omit it to
   * restore weights and position only (e.g. rewinding with a fresh optimizer).
   */
  optimizer?: Optimizer | null;
}

/** The scalar part of a restored state. */
export type RestoredPosition = Omit<TrainState, "model" | "optimizer">;

/**
 * Copies a decoded state into a model and optimizer and returns the position, seed, threads
 * and metadata. Each load validates before it copies; if the optimizer's state is refused
 * after the model was loaded, recreate both before trying again.
 */
export function applyTrainState(s: TrainState, target: RestoreTarget): RestoredPosition {
  if (target.optimizer && !s.optimizer) {
    throw new Error("training state: an optimizer was given but the state has no optimizer state");
  }
  target.model.loadStateDict(s.model);
  if (target.optimizer && s.optimizer) target.optimizer.loadStateDict(s.optimizer);
  const { model: _m, optimizer: _o, ...rest } = s;
  return rest;
}
