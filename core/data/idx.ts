/**
 * IDX files (the MNIST format, LeCun et al.): a big-endian header `00 00 TT ND`, ND u32
 * dimensions, then the elements row-major. Parsing validates everything and names the file,
 * what was expected and what was found.
 * @module
 */

import { readFileNamed } from "./_files.ts";

/** A parsed IDX array of unsigned bytes. */
export interface IdxArray {
  /** Dimensions, outermost first (e.g. [60000, 28, 28]). */
  readonly dims: readonly number[];
  /** The elements, row-major (a view on the file's bytes). */
  readonly data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: "u8",
  0x09: "i8",
  0x0b: "i16",
  0x0c: "i32",
  0x0d: "f32",
  0x0e: "f64",
};

const hex8 = (v: number) => "0x" + (v >>> 0).toString(16).padStart(8, "0");

/** The validated header of an IDX file. */
export interface IdxHeader {
  /** Dimensions, outermost first. */
  readonly dims: readonly number[];
  /** Header length in bytes (4 + 4 * dims). */
  readonly headerBytes: number;
}

/**
 * Validates an IDX header of u8 elements. `prefix` holds the file's first bytes (at least
 * the header) and `fileBytes` its full length. `expectDims` (optional) fixes the number of
 * dimensions and, where an entry is not null, the size of that dimension. Throws an Error
 * that starts with `IDX file <name>:` on a bad magic number, element type, dimension count
 * or size, or a file that is shorter or longer than its header says.
 */
export function parseIdxHeader(
  prefix: Uint8Array,
  fileBytes: number,
  name: string,
  expectDims?: readonly (number | null)[],
): IdxHeader {
  const fail = (msg: string): never => {
    throw new Error(`IDX file ${name}: ${msg}`);
  };
  if (prefix.length >= 2 && prefix[0] === 0x1f && prefix[1] === 0x8b) {
    fail("is gzip-compressed (found bytes 1f 8b); expected the decompressed IDX file");
  }
  if (fileBytes < 4) fail(`expected at least a 4-byte header, found ${fileBytes} bytes`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const magic = view.getUint32(0, false);
  const type = prefix[2], nd = prefix[3];
  const wantNd = expectDims?.length;
  const wantMagic = wantNd === undefined ? "0x000008NN" : hex8(0x0800 | wantNd);
  if (prefix[0] !== 0 || prefix[1] !== 0) {
    fail(`expected magic number ${wantMagic} (first two bytes zero), found ${hex8(magic)}`);
  }
  if (type !== 0x08) {
    const tn = TYPE_NAMES[type] ?? "unknown";
    fail(
      `expected element type 0x08 (u8) in magic ${wantMagic}, found 0x${
        type.toString(16).padStart(2, "0")
      } (${tn}) in magic ${hex8(magic)}`,
    );
  }
  if (nd === 0) fail(`expected at least one dimension, found 0 (magic ${hex8(magic)})`);
  if (wantNd !== undefined && nd !== wantNd) {
    fail(
      `expected ${wantNd} dimensions (magic ${wantMagic}), found ${nd} (magic ${hex8(magic)})`,
    );
  }
  const headerBytes = 4 + 4 * nd;
  if (fileBytes < headerBytes || prefix.length < headerBytes) {
    fail(
      `truncated header: expected ${headerBytes} bytes for ${nd} dimensions, found ${fileBytes}`,
    );
  }
  const dims = Array.from({ length: nd }, (_, d) => view.getUint32(4 + 4 * d, false));
  let count = 1;
  for (let d = 0; d < nd; d++) {
    const want = expectDims?.[d];
    if (want !== undefined && want !== null && dims[d] !== want) {
      fail(`expected dimension ${d} to be ${want}, found ${dims[d]} (dims [${dims}])`);
    }
    count *= dims[d];
  }
  const total = headerBytes + count;
  if (fileBytes !== total) {
    const what = fileBytes < total ? "truncated" : "too long";
    fail(
      `${what}: expected ${total} bytes (${headerBytes}-byte header + ${
        dims.join("×")
      } elements), found ${fileBytes}`,
    );
  }
  return { dims, headerBytes };
}

/** Parses IDX bytes holding u8 elements; errors as parseIdxHeader. */
export function parseIdx(
  bytes: Uint8Array,
  name: string,
  expectDims?: readonly (number | null)[],
): IdxArray {
  const h = parseIdxHeader(bytes, bytes.length, name, expectDims);
  return { dims: h.dims, data: bytes.subarray(h.headerBytes) };
}

/** Reads and parses an IDX file (see parseIdx); a missing file throws an Error naming it. */
export function readIdx(
  path: string,
  expectDims?: readonly (number | null)[],
  hint = "",
): IdxArray {
  return parseIdx(readFileNamed(path, "IDX file", hint), path, expectDims);
}

const CHUNK = 1 << 20;
const U8_TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/**
 * Reads an IDX file of u8 elements straight into floats v / 255 in [0, 1], in chunks (no
 * copy of the whole file in memory). Validation and errors as readIdx.
 */
export function readIdxUnit(
  path: string,
  expectDims?: readonly (number | null)[],
  hint = "",
): { dims: readonly number[]; data: Float32Array } {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true });
  } catch {
    readFileNamed(path, "IDX file", hint); // throws the named error
    throw new Error(`IDX file: cannot open ${path}`);
  }
  try {
    const st = f.statSync();
    if (!st.isFile) throw new Error(`IDX file: expected a file, found a directory: ${path}`);
    const size = st.size;
    const buf = new Uint8Array(CHUNK);
    const head = readFull(f, buf.subarray(0, Math.min(size, 4 + 4 * 255)));
    const h = parseIdxHeader(buf.subarray(0, head), size, path, expectDims);
    const out = new Float32Array(size - h.headerBytes);
    f.seekSync(h.headerBytes, Deno.SeekMode.Start);
    const lut = U8_TO_UNIT;
    let o = 0;
    while (o < out.length) {
      const n = f.readSync(buf.subarray(0, Math.min(CHUNK, out.length - o)));
      if (n === null || n === 0) {
        throw new Error(
          `IDX file ${path}: truncated while reading: expected ${size} bytes, ` +
            `found ${h.headerBytes + o}`,
        );
      }
      for (let i = 0; i < n; i++) out[o + i] = lut[buf[i]];
      o += n;
    }
    return { dims: h.dims, data: out };
  } finally {
    f.close();
  }
}

/** Reads until `buf` is full or the file ends; returns the byte count. */
function readFull(f: Deno.FsFile, buf: Uint8Array): number {
  let got = 0;
  while (got < buf.length) {
    const n = f.readSync(buf.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return got;
}
