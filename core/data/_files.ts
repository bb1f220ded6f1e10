/**
 * File helpers for the data loaders: reads that name the file in their errors, the cache
 * folder, atomic writes and SHA-256.
 * @module
 */

import { createHash } from "node:crypto";

/** Reads a whole file; a missing or unreadable file throws an Error naming it and `what`. */
export function readFileNamed(path: string, what: string, hint = ""): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    const tail = hint ? ` (${hint})` : "";
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${what}: file not found: ${path}${tail}`);
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new Error(`${what}: expected a file, found a directory: ${path}${tail}`);
    }
    throw new Error(`${what}: cannot read ${path}: ${(e as Error).message}${tail}`);
  }
}

/** Async readFileNamed: the same errors, without blocking the event loop. */
export async function readFileNamedAsync(
  path: string,
  what: string,
  hint = "",
): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch {
    return readFileNamed(path, what, hint); // throws the named error (or reads after a race)
  }
}

/** Whether a path exists (as anything). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The folder for converted datasets: `$TOPIARY_CACHE`, else `$XDG_CACHE_HOME/topiary`, else
 * `~/.cache/topiary`.
 */
export function cacheDir(): string {
  const own = Deno.env.get("TOPIARY_CACHE");
  if (own) return own;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/topiary`;
  const home = Deno.env.get("HOME");
  if (!home) {
    throw new Error("no cache folder: set TOPIARY_CACHE (or HOME) to where converted data may go");
  }
  return `${home}/.cache/topiary`;
}

/**
 * Writes `parts` to `path` atomically: a temporary file in the same folder, fsync, rename
 * over the target, then fsync of the folder. Readers see the old file or the whole new one.
 */
export function writeFileAtomic(path: string, parts: readonly Uint8Array[]): void {
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : ".";
  Deno.mkdirSync(dir, { recursive: true });
  const base = path.slice(slash + 1);
  const tmp = Deno.makeTempFileSync({ dir, prefix: `${base}.`, suffix: ".tmp" });
  try {
    const f = Deno.openSync(tmp, { write: true, truncate: true });
    try {
      for (const p of parts) {
        let off = 0;
        while (off < p.length) off += f.writeSync(p.subarray(off));
      }
      f.syncSync();
    } finally {
      f.close();
    }
    Deno.chmodSync(tmp, 0o644);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* already renamed or gone */ }
    throw new Error(`cannot write ${path}: ${(e as Error).message}`);
  }
  try {
    const d = Deno.openSync(dir, { read: true });
    try {
      d.syncSync();
    } finally {
      d.close();
    }
  } catch { /* some file systems cannot fsync a folder; the rename is still atomic */ }
}

/** SHA-256 of the concatenated byte arrays. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
