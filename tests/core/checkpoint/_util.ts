/**
 * Helpers of the checkpoint tests: temporary folders and byte-level file edits.
 * @module
 */

/** Runs `fn` with a fresh temporary folder that is removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "topiary-ckpt-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Bytes of a safetensors file with the given header JSON text and data (no padding added). */
export function rawFile(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Asserts that `fn` rejects (or throws) with a message matching `pattern`. */
export async function assertRejects(fn: () => unknown, pattern: RegExp): Promise<void> {
  let err: unknown = null;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof Error)) throw new Error(`expected an error matching ${pattern}, got none`);
  if (!pattern.test(err.message)) {
    throw new Error(`error message "${err.message}" does not match ${pattern}`);
  }
}

/** Names in a folder. */
export function listDir(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}
