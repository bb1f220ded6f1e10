/**
 * The robust-evaluation record (a RobustBench-like JSON): its schema, the identities it
 * carries (example indices, model state, checkpoint file), and reading and writing it.
 * @module
 */

import { type Dataset, type Module, philoxPermutation, writeFileAtomicSync } from "@topiary/core";
import { createHash } from "node:crypto";
import type { Norm } from "./types.ts";
import type { Provenance } from "./provenance.ts";
import type { SanityReport } from "./sanity.ts";

/** Format tag of {@link RobustnessRecord}; bumped on incompatible changes. */
export const ROBUSTNESS_FORMAT = "topiary-robust-eval/1";

/** Stream of the seeded subset draw: philoxPermutation(N, subsetSeed, this stream, 0). */
export const SUBSET_STREAM = "eval-subset";

/** How the evaluated example indices were chosen. */
export type IndexRule =
  | { kind: "all"; datasetSize: number }
  | { kind: "subset"; datasetSize: number; n: number; seed: number | string; rule: string }
  | { kind: "explicit"; datasetSize: number };

/** The evaluated examples: their rule, count and identity. */
export interface ExampleSet {
  /** How they were chosen. */
  rule: IndexRule;
  /** Number of examples. */
  count: number;
  /** SHA-256 (hex) of the indices, in evaluation order, as little-endian int32 bytes. */
  sha256: string;
  /** The indices themselves (omitted for kind "all", where they are 0 .. N-1). */
  indices?: number[];
}

/** One attack's line in the record. */
export interface AttackEntry {
  /** The attack's name. */
  name: string;
  /** Its settings(), as given. */
  settings: Record<string, unknown>;
  /** Its threat model. */
  norm: Norm;
  /** Its radius. */
  eps: number;
  /** Whether the attack is score-based / gradient-free (see sanity.isGradientFree). */
  gradientFree: boolean;
  /** Examples it was run on (cascade: those still robust; full: all clean-correct). */
  attacked: number;
  /** Of those, examples it made misclassified. */
  broken: number;
  /** Examples it broke that no earlier attack in the list broke. */
  newlyBroken: number;
  /** Fraction of all n examples robust after this and every earlier attack. */
  accuracyCumulative: number;
  /** Fraction of all n examples robust to this attack alone (mode "full"; null in "cascade"). */
  accuracyAlone: number | null;
  /** Wall-clock seconds spent in this attack (including the forward pass that checks it). */
  seconds: number;
}

/** Identity of the evaluated model. */
export interface ModelIdentity {
  /** A name (the option, else the class name). */
  name: string;
  /** Learnable scalars. */
  parameterCount: number;
  /** Entries of the state dict. */
  stateDictEntries: number;
  /** SHA-256 (hex) of the state dict, see {@link stateDictSha256}. */
  stateDictSha256: string;
}

/** The result of a robust evaluation (a RobustBench-like JSON). */
export interface RobustnessRecord {
  /** {@link ROBUSTNESS_FORMAT}. */
  format: string;
  /** Threat model shared by every attack. */
  norm: Norm;
  /** Radius shared by every attack. */
  eps: number;
  /** Fraction of the n examples classified correctly without attack. */
  cleanAccuracy: number;
  /** Fraction of the n examples correct and surviving every attack (point-wise worst case). */
  robustAccuracy: number;
  /** Number of evaluated examples. */
  n: number;
  /** Examples classified correctly without attack. */
  cleanCorrect: number;
  /** Examples surviving every attack. */
  robustCorrect: number;
  /**
   * "cascade": each attack runs only on examples every earlier attack failed on
   * (AutoAttack); "full": each attack runs on every clean-correct example.
   */
  mode: "cascade" | "full";
  /** The attacks, in the order they ran. */
  attacks: AttackEntry[];
  /** The evaluated examples. */
  examples: ExampleSet;
  /** The model. */
  model: ModelIdentity;
  /** The checkpoint the model was loaded from, when given. */
  checkpoint: { path: string; sha256: string } | null;
  /** The dataset. */
  dataset: {
    name: string;
    split: string | null;
    size: number;
    shape: number[];
    numClasses: number;
  };
  /** Seed of the attacks' draws (AttackContext.seed); a string when beyond 2^53. */
  seed: number | string;
  /** Examples per batch. */
  batchSize: number;
  /** Wall-clock seconds: total, clean pass, sanity checks. */
  timing: { totalSeconds: number; cleanSeconds: number; sanitySeconds: number };
  /** Gradient-masking checks. */
  sanity: SanityReport;
  /** Code, runtime, backend and machine. */
  provenance: Provenance;
}

/** SHA-256 (hex) of byte chunks. */
export function sha256Hex(...parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** A seed as JSON can hold it exactly: a number up to 2^53, else its decimal string. */
export function jsonSeed(seed: number | bigint): number | string {
  if (typeof seed === "bigint") {
    return seed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed.toString();
  }
  return seed;
}

/** SHA-256 (hex) of example indices as little-endian int32 bytes, in the given order. */
export function indicesSha256(indices: Int32Array): string {
  const bytes = new Uint8Array(indices.length * 4);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < indices.length; i++) dv.setInt32(4 * i, indices[i], true);
  return sha256Hex(bytes);
}

/** How {@link selectIndices} chooses examples. */
export interface IndexSelection {
  /** Evaluate a seeded subset of this many examples (default: the whole dataset). */
  n?: number;
  /** Seed of the subset draw. */
  seed: number | bigint;
  /** Evaluate exactly these dataset indices, in this order (excludes `n`). */
  indices?: ArrayLike<number>;
}

/**
 * The example indices to evaluate and their rule: all of the dataset (0 .. N-1); or the
 * first n entries of philoxPermutation(N, seed, "eval-subset", 0), sorted ascending; or
 * the explicit list (checked: integers in range, no duplicates).
 */
export function selectIndices(
  ds: Dataset,
  sel: IndexSelection,
): { indices: Int32Array; rule: IndexRule } {
  const N = ds.length;
  if (sel.indices !== undefined) {
    if (sel.n !== undefined) {
      throw new Error(`evaluateRobustness: give either n or indices, not both`);
    }
    const idx = Int32Array.from(sel.indices as ArrayLike<number>);
    const seen = new Set<number>();
    for (let j = 0; j < sel.indices.length; j++) {
      const i = sel.indices[j];
      if (!Number.isInteger(i) || i < 0 || i >= N) {
        throw new Error(
          `evaluateRobustness: index ${i} at position ${j} is outside 0..${N - 1} ` +
            `(dataset "${ds.name}" has ${N} examples)`,
        );
      }
      if (seen.has(i)) throw new Error(`evaluateRobustness: index ${i} appears twice`);
      seen.add(i);
    }
    if (idx.length === 0) throw new Error(`evaluateRobustness: the index list is empty`);
    return { indices: idx, rule: { kind: "explicit", datasetSize: N } };
  }
  if (N === 0) throw new Error(`evaluateRobustness: dataset "${ds.name}" is empty`);
  if (sel.n === undefined || sel.n === N) {
    return {
      indices: Int32Array.from({ length: N }, (_, i) => i),
      rule: { kind: "all", datasetSize: N },
    };
  }
  const n = sel.n;
  if (!Number.isInteger(n) || n < 1 || n > N) {
    throw new Error(
      `evaluateRobustness: n must be an integer in 1..${N} (dataset "${ds.name}"), got ${n}`,
    );
  }
  const perm = philoxPermutation(N, sel.seed, SUBSET_STREAM, 0);
  const indices = perm.slice(0, n).sort();
  return {
    indices,
    rule: {
      kind: "subset",
      datasetSize: N,
      n,
      seed: jsonSeed(sel.seed),
      rule: `first n of philoxPermutation(datasetSize, seed, "${SUBSET_STREAM}", 0), ascending`,
    },
  };
}

/**
 * SHA-256 (hex) of a model's state dict: for each entry in state-dict order, the UTF-8 bytes
 * of `name \0 dtype \0 shape joined by "," \0`, then the values' little-endian bytes
 * (plain row-major layout).
 */
export function stateDictSha256(model: Module): string {
  const h = createHash("sha256");
  const enc = new TextEncoder();
  for (const [name, t] of model.stateDict()) {
    h.update(enc.encode(`${name}\0${t.dtype}\0${t.shape.join(",")}\0`));
    const a = t.toArray();
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest("hex");
}

/** The model's identity: name, parameter count and state-dict hash. */
export function modelIdentity(model: Module, name?: string): ModelIdentity {
  return {
    name: name ?? model.constructor.name,
    parameterCount: model.parameterCount(),
    stateDictEntries: model.stateDict().size,
    stateDictSha256: stateDictSha256(model),
  };
}

/** The checkpoint's identity: its path and the SHA-256 (hex) of its bytes. */
export function checkpointIdentity(path: string): { path: string; sha256: string } {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new Error(
      `evaluateRobustness: cannot read checkpoint "${path}": ${(e as Error).message}`,
    );
  }
  return { path, sha256: sha256Hex(bytes) };
}

/** Writes a record as indented JSON, atomically (a reader sees the old file or the new one). */
export function writeRobustnessRecord(path: string, record: RobustnessRecord): void {
  const text = JSON.stringify(record, null, 2) + "\n";
  writeFileAtomicSync(path, new TextEncoder().encode(text));
}

/** Reads a record written by {@link writeRobustnessRecord}, checking its format tag. */
export function readRobustnessRecord(path: string): RobustnessRecord {
  const r = JSON.parse(Deno.readTextFileSync(path));
  if (r === null || typeof r !== "object" || r.format !== ROBUSTNESS_FORMAT) {
    throw new Error(
      `readRobustnessRecord: "${path}" is not a ${ROBUSTNESS_FORMAT} record ` +
        `(format ${JSON.stringify(r?.format)})`,
    );
  }
  return r as RobustnessRecord;
}
