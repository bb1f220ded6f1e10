/**
 * Safetensors files of tensors: {@link saveSafetensors} writes a state dict atomically and
 * {@link loadSafetensors} reads one back onto a device, validating the file strictly.
 * @module
 */

import type { Backend } from "@topiary/ffi";
import type { StateDict } from "../nn/module.ts";
import { getDefaultBackend, Tensor } from "../tensor.ts";
import { type AtomicWriteOptions, writeFileAtomic, writeFileAtomicSync } from "./atomic.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
  type SafetensorsEncodeOptions,
} from "./safetensors.ts";

/** Options of {@link saveSafetensors}. */
export interface SafetensorsSaveOptions extends SafetensorsEncodeOptions, AtomicWriteOptions {}

/** Options of {@link loadSafetensors}. */
export interface SafetensorsLoadOptions {
  /** Device of the loaded tensors (default: the default backend). */
  backend?: Backend;
}

/** A loaded file: tensors (owned by the caller: dispose them) and `__metadata__`. */
export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/** Host copies of tensors (any layout or device) for encoding. */
export function toHostTensors(
  tensors: Iterable<readonly [string, Tensor]>,
): [string, HostTensor][] {
  const out: [string, HostTensor][] = [];
  for (const [name, t] of tensors) {
    t.assertAlive(`safetensors: tensor "${name}"`);
    out.push([name, { dtype: t.dtype, shape: t.shape, data: t.toArray() }]);
  }
  return out;
}

/** Device tensors from decoded host tensors. */
export function fromHostTensors(
  tensors: ReadonlyMap<string, HostTensor>,
  backend: Backend = getDefaultBackend(),
): StateDict {
  const out: StateDict = new Map();
  try {
    for (const [name, h] of tensors) {
      out.set(name, Tensor.fromHost(h.data, h.shape, h.dtype, backend));
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}

function wrap(path: string, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`safetensors: cannot write ${path}: ${msg}`, { cause: e });
}

/** Writes tensors to a safetensors file at `path`, atomically. */
export async function saveSafetensors(
  path: string,
  tensors: Iterable<readonly [string, Tensor]>,
  opts: SafetensorsSaveOptions = {},
): Promise<void> {
  const bytes = encodeSafetensors(toHostTensors(tensors), opts);
  try {
    await writeFileAtomic(path, bytes, opts);
  } catch (e) {
    throw wrap(path, e);
  }
}

/** Synchronous {@link saveSafetensors}. */
export function saveSafetensorsSync(
  path: string,
  tensors: Iterable<readonly [string, Tensor]>,
  opts: SafetensorsSaveOptions = {},
): void {
  const bytes = encodeSafetensors(toHostTensors(tensors), opts);
  try {
    writeFileAtomicSync(path, bytes, opts);
  } catch (e) {
    throw wrap(path, e);
  }
}

function readError(path: string, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`safetensors: cannot read ${path}: ${msg}`, { cause: e });
}

/** Reads a safetensors file onto a device (tensors in file order). */
export async function loadSafetensors(
  path: string,
  opts: SafetensorsLoadOptions = {},
): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw readError(path, e);
  }
  const d = decodeSafetensors(bytes, path);
  return { tensors: fromHostTensors(d.tensors, opts.backend), metadata: d.metadata };
}

/** Synchronous {@link loadSafetensors}. */
export function loadSafetensorsSync(
  path: string,
  opts: SafetensorsLoadOptions = {},
): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw readError(path, e);
  }
  const d = decodeSafetensors(bytes, path);
  return { tensors: fromHostTensors(d.tensors, opts.backend), metadata: d.metadata };
}
