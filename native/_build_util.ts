/**
 * Helpers shared by the native builds (`build.ts`, `build_cuda.ts`): process runs, build keys
 * and up-to-date checks.
 * @module
 */

/** The repository's `native/` folder. */
export const nativeDir = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
/** Where built libraries go. */
export const outDir = `${nativeDir}/build`;

/** Runs a program to completion; stdout and stderr are returned together. */
export async function run(
  cmd: string,
  argv: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(cmd, {
    args: argv,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

/** Hex SHA-256 of the concatenated parts. */
export async function sha256(parts: Uint8Array[]): Promise<string> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Files of `dir` ending in one of `exts`, sorted. */
export function listSources(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && exts.some((x) => e.name.endsWith(x))) out.push(`${dir}/${e.name}`);
  }
  return out.sort();
}

/** Build key of flags and files (names and contents). */
export function buildKey(flags: string[], files: string[]): Promise<string> {
  const enc = new TextEncoder();
  return sha256([
    enc.encode(flags.join(" ")),
    ...files.flatMap((f) => [enc.encode(f), Deno.readFileSync(f)]),
  ]);
}

/** Whether `lib` exists and was built with `key` (its `.stamp` file says so). */
export function upToDate(lib: string, key: string): boolean {
  try {
    if (!Deno.statSync(lib).isFile) return false;
    return Deno.readTextFileSync(lib.replace(/\.so$/, ".stamp")).trim() === key;
  } catch {
    return false;
  }
}

/** Records that `lib` was built with `key`. */
export function markBuilt(lib: string, key: string): void {
  Deno.writeTextFileSync(lib.replace(/\.so$/, ".stamp"), key + "\n");
}

/** Runs async jobs with at most `limit` at once, keeping their order in the result. */
export async function pool<T, R>(
  items: T[],
  limit: number,
  fn: (x: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
