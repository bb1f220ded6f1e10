/**
 * Training-state files: save a run's state at any step (atomically), load it, or restore it
 * into a model and optimizer, with the thread-count check of {@link decodeTrainState}.
 * @module
 */

import { type AtomicWriteOptions, writeFileAtomic, writeFileAtomicSync } from "./atomic.ts";
import {
  applyTrainState,
  decodeTrainState,
  disposeTrainState,
  encodeTrainState,
  type RestoredPosition,
  type RestoreTarget,
  type TrainState,
  type TrainStateInput,
  type TrainStateLoadOptions,
} from "./train_state.ts";

function ioError(verb: string, path: string, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`training state: cannot ${verb} ${path}: ${msg}`, { cause: e });
}

/** Saves a training state to `path` atomically. */
export async function saveTrainState(
  path: string,
  s: TrainStateInput,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = encodeTrainState(s);
  try {
    await writeFileAtomic(path, bytes, opts);
  } catch (e) {
    throw ioError("write", path, e);
  }
}

/** Synchronous {@link saveTrainState}. */
export function saveTrainStateSync(
  path: string,
  s: TrainStateInput,
  opts: AtomicWriteOptions = {},
): void {
  const bytes = encodeTrainState(s);
  try {
    writeFileAtomicSync(path, bytes, opts);
  } catch (e) {
    throw ioError("write", path, e);
  }
}

/** Loads a training state; its tensors are the caller's (see {@link disposeTrainState}). */
export async function loadTrainState(
  path: string,
  opts: TrainStateLoadOptions = {},
): Promise<TrainState> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw ioError("read", path, e);
  }
  return decodeTrainState(bytes, path, opts);
}

/** Synchronous {@link loadTrainState}. */
export function loadTrainStateSync(path: string, opts: TrainStateLoadOptions = {}): TrainState {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw ioError("read", path, e);
  }
  return decodeTrainState(bytes, path, opts);
}

/**
 * Loads a training state into `target` (a model, and optionally a fresh optimizer) and
 * returns the position to resume from; the loaded tensors are freed.
 */
export async function restoreTrainState(
  path: string,
  target: RestoreTarget,
  opts: TrainStateLoadOptions = {},
): Promise<RestoredPosition> {
  const s = await loadTrainState(path, opts);
  try {
    return applyTrainState(s, target);
  } finally {
    disposeTrainState(s);
  }
}

/** Synchronous {@link restoreTrainState}. */
export function restoreTrainStateSync(
  path: string,
  target: RestoreTarget,
  opts: TrainStateLoadOptions = {},
): RestoredPosition {
  const s = loadTrainStateSync(path, opts);
  try {
    return applyTrainState(s, target);
  } finally {
    disposeTrainState(s);
  }
}
