/**
 * Validation helpers for configs: every error names the key path (`training.optimizer.lr`)
 * and, for choices and unknown keys, the allowed values.
 * @module
 */

/** A config error: `key` is the dotted path of the bad setting. */
export class ConfigError extends Error {
  /** Dotted path of the offending key ("" for the whole document). */
  readonly key: string;
  /** What is wrong, without the key and source. */
  readonly detail: string;
  /** Creates the error; the message starts with the source and key. */
  constructor(key: string, detail: string, source?: string) {
    super(`${source ? source + ": " : ""}${key ? `"${key}": ` : ""}${detail}`);
    this.name = "ConfigError";
    this.key = key;
    this.detail = detail;
  }
}

/** A plain object read from YAML or JSON. */
export type Raw = Record<string, unknown>;

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/** Joins a key path. */
export function keyOf(path: string, key: string | number): string {
  return typeof key === "number" ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

/** Checks that `v` is a mapping whose keys are all in `allowed`. */
export function mapping(v: unknown, path: string, allowed: readonly string[]): Raw {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ConfigError(path, `must be a mapping, got ${show(v)}`);
  }
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw new ConfigError(
        keyOf(path, k),
        `unknown key; allowed here: ${allowed.join(", ")}`,
      );
    }
  }
  return v as Raw;
}

/** A string from `allowed`. */
export function choice<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== "string" || !allowed.includes(v as T)) {
    throw new ConfigError(path, `must be one of ${allowed.join(", ")}; got ${show(v)}`);
  }
  return v as T;
}

/** A non-empty string. */
export function str(v: unknown, path: string): string {
  if (typeof v !== "string" || v.length === 0) {
    throw new ConfigError(path, `must be a non-empty string, got ${show(v)}`);
  }
  return v;
}

/** A finite number in [min, max]. */
export function num(v: unknown, path: string, min = -Infinity, max = Infinity): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ConfigError(path, `must be a number ${range}, got ${show(v)}`);
  }
  return v;
}

/** A number in [0, 1) (e.g. a sparsity that must keep some weights). */
export function fractionBelowOne(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v >= 1) {
    throw new ConfigError(path, `must be a number in [0, 1), got ${show(v)}`);
  }
  return v;
}

/** An integer in [min, max]. */
export function int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ConfigError(path, `must be an integer ${range}, got ${show(v)}`);
  }
  return v;
}

/** A boolean. */
export function bool(v: unknown, path: string): boolean {
  if (typeof v !== "boolean") throw new ConfigError(path, `must be true or false, got ${show(v)}`);
  return v;
}

/** A list (optionally non-empty). */
export function list(v: unknown, path: string, nonEmpty = false): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(path, `must be a list, got ${show(v)}`);
  if (nonEmpty && v.length === 0) throw new ConfigError(path, "must not be empty");
  return v;
}

/**
 * Settings a resolved config holds only when the user sets them (so configs without them
 * resolve as before). A run folder accepts keys added to the code since the run started, but
 * not these: adding one to a started run changes what the run does.
 */
export const SET_ONLY_KEYS: ReadonlySet<string> = new Set(["reluSurrogate", "roundControls"]);

/** `v[key]` through `check`, or `fallback` when the key is absent (or null). */
export function opt<T>(
  v: Raw,
  path: string,
  key: string,
  check: (x: unknown, p: string) => T,
  fallback: T,
): T {
  const x = v[key];
  return x === undefined || x === null ? fallback : check(x, keyOf(path, key));
}

/** Deep merge of plain mappings: `over` wins; lists are replaced, not merged. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isMapping(base) || !isMapping(over)) return over === undefined ? base : over;
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** Whether `v` is a plain mapping. */
export function isMapping(v: unknown): v is Raw {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Sets a dotted path in a mapping (creating mappings on the way). */
export function setPath(root: Raw, path: string, value: unknown): void {
  const parts = path.split(".");
  let at: Raw = root;
  for (const p of parts.slice(0, -1)) {
    if (!isMapping(at[p])) at[p] = {};
    at = at[p] as Raw;
  }
  at[parts[parts.length - 1]] = value;
}

/** Reads a dotted path (undefined when absent). */
export function getPath(root: unknown, path: string): unknown {
  let at = root;
  for (const p of path.split(".")) {
    if (!isMapping(at)) return undefined;
    at = at[p];
  }
  return at;
}

/**
 * Leaves of a JSON value by dotted path. Lists are entered (indices as keys) or, with
 * `listsAsLeaves`, kept whole; `format` renders a leaf (default JSON).
 */
export function flattenJson(
  v: unknown,
  o: { listsAsLeaves?: boolean; format?: (x: unknown) => string } = {},
  path = "",
  out = new Map<string, string>(),
): Map<string, string> {
  const enter = typeof v === "object" && v !== null && !(o.listsAsLeaves && Array.isArray(v));
  if (enter) {
    for (const [k, x] of Object.entries(v)) flattenJson(x, o, path ? `${path}.${k}` : k, out);
  } else out.set(path, (o.format ?? JSON.stringify)(v));
  return out;
}
