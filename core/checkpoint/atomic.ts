/**
 * Atomic file writes: the data goes to a temporary file in the target's directory, which is
 * synced, renamed over the target, and the directory synced. A reader sees the old file or
 * the complete new one, never a partial write; a crash can leave only a hidden temporary file
 * (`.<name>.<pid>.<n>.tmp`), never a truncated target.
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Test hook: runs after the temporary file is written and synced, before the rename. A
   * throw here stands for a crash between write and rename: the target stays untouched.
   */
  beforeRename?: (tmpPath: string) => void;
}

let counter = 0;

function tmpPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${Deno.pid}.${++counter}.tmp`);
}

/** Writes `data` to `path` atomically (see the module documentation). */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tmpPathFor(path);
  let file: Deno.FsFile | null = null, renamed = false;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
    await file.sync();
    file.close();
    file = null;
    opts.beforeRename?.(tmp);
    await Deno.rename(tmp, path);
    renamed = true;
    using dir = await Deno.open(dirname(path), { read: true });
    await dir.sync();
  } catch (e) {
    file?.close();
    if (!renamed) await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Synchronous {@link writeFileAtomic}. */
export function writeFileAtomicSync(
  path: string,
  data: Uint8Array,
  opts: AtomicWriteOptions = {},
): void {
  const tmp = tmpPathFor(path);
  let file: Deno.FsFile | null = null, renamed = false;
  try {
    file = Deno.openSync(tmp, { write: true, createNew: true, mode: 0o644 });
    for (let at = 0; at < data.length;) at += file.writeSync(data.subarray(at));
    file.syncSync();
    file.close();
    file = null;
    opts.beforeRename?.(tmp);
    Deno.renameSync(tmp, path);
    renamed = true;
    using dir = Deno.openSync(dirname(path), { read: true });
    dir.syncSync();
  } catch (e) {
    file?.close();
    if (!renamed) {
      try {
        Deno.removeSync(tmp);
      } catch { /* already gone */ }
    }
    throw e;
  }
}
