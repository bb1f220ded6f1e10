/**
 * The safetensors format in memory: encoding host tensors to bytes and decoding bytes with
 * strict validation. Layout: an 8-byte little-endian u64 header length N, a JSON header of N
 * bytes (`{"__metadata__": {...}, name: {dtype, shape, data_offsets: [begin, end]}, ...}`,
 * padded with spaces to a multiple of 8), then the tensors' raw little-endian bytes, back to
 * back with no gaps, in the order the reference implementation writes them (dtype size
 * descending, then name), so every tensor is aligned to its element size.
 * @module
 */

import type { DType } from "../dtype.ts";
import { fmtShape, numel } from "../tensor.ts";

/** A tensor in host memory: dtype, shape and row-major data. */
export interface HostTensor {
  dtype: DType;
  shape: readonly number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** The safetensors dtypes this module reads and writes. */
export type SafetensorsDType = "F32" | "I32" | "U8" | "I64";

/** Options of {@link encodeSafetensors}. */
export interface SafetensorsEncodeOptions {
  /** String metadata stored under `__metadata__` (omitted when empty). */
  metadata?: Readonly<Record<string, string>>;
  /**
   * Which i32 tensors are written as I64 (PyTorch's int64). Default: names ending in
   * `num_batches_tracked`, so that PyTorch's batch norm loads them by name.
   */
  i64?: (name: string) => boolean;
}

/** Default I64 rule: PyTorch keeps `num_batches_tracked` as int64. */
export const defaultI64 = (name: string): boolean => name.endsWith("num_batches_tracked");

const ELEM: Record<SafetensorsDType, number> = { I64: 8, F32: 4, I32: 4, U8: 1 };
/** Write order of dtypes (the reference implementation sorts by dtype, largest first). */
const RANK: Record<SafetensorsDType, number> = { I64: 0, F32: 1, I32: 2, U8: 3 };
const OTHER_DTYPES = new Set([
  "BOOL",
  "I8",
  "I16",
  "U16",
  "F16",
  "BF16",
  "U32",
  "F64",
  "U64",
  "F8_E4M3",
  "F8_E5M2",
]);
/** The reference implementation's limit on the header size. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

function checkHost(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error("safetensors: this host is big-endian; only little-endian hosts are supported");
  }
}

function stDType(name: string, t: HostTensor, i64: (name: string) => boolean): SafetensorsDType {
  switch (t.dtype) {
    case "f32":
      return "F32";
    case "u8":
      return "U8";
    case "i32":
      return i64(name) ? "I64" : "I32";
    default:
      throw new Error(`safetensors: tensor "${name}" has unsupported dtype ${t.dtype}`);
  }
}

/** Encodes tensors (and metadata) as the bytes of a safetensors file. */
export function encodeSafetensors(
  tensors: Iterable<readonly [string, HostTensor]>,
  opts: SafetensorsEncodeOptions = {},
): Uint8Array {
  checkHost();
  const i64 = opts.i64 ?? defaultI64;
  const items: { name: string; t: HostTensor; dt: SafetensorsDType }[] = [];
  const names = new Set<string>();
  for (const [name, t] of tensors) {
    if (name === "__metadata__") throw new Error(`safetensors: "__metadata__" is reserved`);
    if (names.has(name)) throw new Error(`safetensors: tensor "${name}" appears twice`);
    names.add(name);
    if (t.data.length !== numel(t.shape)) {
      throw new Error(
        `safetensors: tensor "${name}" has ${t.data.length} values for shape ${fmtShape(t.shape)}`,
      );
    }
    items.push({ name, t, dt: stDType(name, t, i64) });
  }
  items.sort((a, b) => RANK[a.dt] - RANK[b.dt] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  const meta = opts.metadata ?? {};
  const metaKeys = Object.keys(meta).sort();
  if (metaKeys.length) {
    const m: Record<string, string> = {};
    for (const k of metaKeys) {
      if (typeof meta[k] !== "string") {
        throw new Error(`safetensors: metadata "${k}" must be a string, got ${typeof meta[k]}`);
      }
      m[k] = meta[k];
    }
    header.__metadata__ = m;
  }
  let offset = 0;
  for (const { name, t, dt } of items) {
    const bytes = t.data.length * ELEM[dt];
    header[name] = { dtype: dt, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const hlen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + hlen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(hlen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + hlen);
  let at = 8 + hlen;
  for (const { t, dt } of items) {
    if (dt === "I64") {
      const wide = new BigInt64Array(t.data.length);
      for (let i = 0; i < wide.length; i++) wide[i] = BigInt(t.data[i]);
      out.set(new Uint8Array(wide.buffer), at);
      at += wide.byteLength;
    } else {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
      at += t.data.byteLength;
    }
  }
  return out;
}

/** A decoded safetensors file: tensors in data order, and the `__metadata__` strings. */
export interface DecodedSafetensors {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

interface Entry {
  name: string;
  dt: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(fail: (m: string) => never, name: string, v: unknown): Entry {
  const bad = (m: string) => fail(`tensor "${name}": ${m}`);
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad("entry is not an object");
  const { dtype, shape, data_offsets: off } = v as Record<string, unknown>;
  if (typeof dtype !== "string") bad(`dtype is missing or not a string`);
  const dt = dtype as string;
  if (!(dt in ELEM)) {
    bad(
      OTHER_DTYPES.has(dt)
        ? `dtype ${dt} is not supported (supported: F32, I32, U8, I64)`
        : `unknown dtype ${JSON.stringify(dt)}`,
    );
  }
  const isIdx = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  if (!Array.isArray(shape) || !shape.every(isIdx)) bad(`shape must be an array of integers >= 0`);
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isIdx)) {
    bad(`data_offsets must be [begin, end] with integers >= 0`);
  }
  const [begin, end] = off as number[];
  if (end < begin) bad(`data_offsets [${begin}, ${end}] end before they begin`);
  const sh = shape as number[];
  const want = numel(sh) * ELEM[dt as SafetensorsDType];
  if (end - begin !== want) {
    bad(
      `shape ${fmtShape(sh)} ${dt} needs ${want} bytes, data_offsets [${begin}, ${end}] hold ` +
        `${end - begin}`,
    );
  }
  return { name, dt: dt as SafetensorsDType, shape: sh, begin, end };
}

/**
 * Decodes and validates the bytes of a safetensors file; `file` names it in errors. I64
 * tensors become i32 (values outside the i32 range are an error). The data is copied.
 */
export function decodeSafetensors(bytes: Uint8Array, file: string): DecodedSafetensors {
  checkHost();
  const fail = (m: string): never => {
    throw new Error(`safetensors file ${file}: ${m}`);
  };
  if (bytes.length < 8) {
    fail(`truncated: ${bytes.length} bytes, but the file must start with an 8-byte header length`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) {
    fail(
      `header length ${n64} runs beyond the end of the file (${bytes.length} bytes; truncated?)`,
    );
  }
  const n = Number(n64);
  if (n > SAFETENSORS_MAX_HEADER_BYTES) {
    fail(`header length ${n} exceeds the limit of ${SAFETENSORS_MAX_HEADER_BYTES}`);
  }
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail(`the header is not valid UTF-8`);
  }
  if (!text.startsWith("{")) fail(`the header does not start with "{" (not a safetensors file?)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(`the header is not a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        fail(`__metadata__ must be an object of strings`);
      }
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== "string") fail(`__metadata__ "${k}" is not a string`);
        metadata[k] = s as string;
      }
    } else {
      entries.push(parseEntry(fail, name, v));
    }
  }
  const dataLen = bytes.length - 8 - n;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: Entry | null = null;
  for (const e of entries) {
    const where = (x: Entry) => `"${x.name}" [${x.begin}, ${x.end})`;
    if (e.end > dataLen) {
      fail(
        `tensor ${where(e)} runs beyond the data section (${dataLen} bytes; file truncated?)`,
      );
    }
    if (e.begin < at) fail(`tensor ${where(e)} overlaps tensor ${where(prev!)}`);
    if (e.begin > at) fail(`data bytes [${at}, ${e.begin}) belong to no tensor`);
    at = e.end;
    prev = e;
  }
  if (at !== dataLen) {
    fail(`data bytes [${at}, ${dataLen}) after the last tensor belong to no tensor`);
  }
  const base = 8 + n;
  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const src = bytes.slice(base + e.begin, base + e.end); // a copy, aligned at 0
    let data: Float32Array | Int32Array | Uint8Array;
    if (e.dt === "F32") data = new Float32Array(src.buffer);
    else if (e.dt === "I32") data = new Int32Array(src.buffer);
    else if (e.dt === "U8") data = src;
    else {
      const wide = new BigInt64Array(src.buffer);
      data = new Int32Array(wide.length);
      for (let i = 0; i < wide.length; i++) {
        const x = wide[i];
        if (x < -2147483648n || x > 2147483647n) {
          fail(`tensor "${e.name}": I64 value ${x} at index ${i} does not fit in i32`);
        }
        data[i] = Number(x);
      }
    }
    tensors.set(e.name, {
      dtype: e.dt === "F32" ? "f32" : e.dt === "U8" ? "u8" : "i32",
      shape: e.shape,
      data,
    });
  }
  return { tensors, metadata };
}
