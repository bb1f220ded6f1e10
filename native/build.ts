/**
 * Builds the native shim `native/build/libtopiary_cpu.so` when its sources changed.
 *
 * Detects oneDNN with a test compile (gcc honours CPATH and LIBRARY_PATH); when it is
 * missing and we are root, installs Debian's `libdnnl-dev`, otherwise stops with the exact
 * command to run. The build is atomic (temporary file, then rename) and keyed by a hash of
 * the sources and flags, so an unchanged tree builds nothing.
 *
 * Usage: deno run -A native/build.ts [--force] [--quiet]
 * @module
 */

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const nativeDir = `${root}/native`;
const outDir = `${nativeDir}/build`;
const args = new Set(Deno.args);
const quiet = args.has("--quiet");

/** Compiler flags of the CPU library; part of the build key. */
const CFLAGS = [
  "-O3",
  "-march=native",
  "-fPIC",
  "-fno-math-errno",
  "-fopenmp",
  "-std=gnu11",
  "-Wall",
  "-Wextra",
  "-Wno-unused-parameter",
  "-fvisibility=default",
  `-I${nativeDir}/include`,
];
const LIBS = ["-ldnnl", "-lm", "-lpthread"];

function log(msg: string): void {
  if (!quiet) console.error(`[build] ${msg}`);
}

async function run(
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

async function sha256(parts: Uint8Array[]): Promise<string> {
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

function listSources(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && exts.some((x) => e.name.endsWith(x))) out.push(`${dir}/${e.name}`);
  }
  return out.sort();
}

const DNNL_PROBE = `#include <oneapi/dnnl/dnnl.h>
#if DNNL_VERSION_MAJOR != 2
#error "Topiary's CPU backend is written against the oneDNN 2.x C API"
#endif
int main(void) { return dnnl_version()->major == 2 ? 0 : 1; }
`;

async function probeOneDnn(): Promise<{ ok: boolean; out: string }> {
  const exe = await Deno.makeTempFile({ prefix: "tp_dnnl_probe" });
  try {
    const r = await run("gcc", ["-x", "c", "-", "-o", exe, "-ldnnl"], { stdin: DNNL_PROBE });
    if (r.code !== 0) return { ok: false, out: r.out };
    const e = await run(exe, []);
    return { ok: e.code === 0, out: e.out };
  } finally {
    await Deno.remove(exe).catch(() => {});
  }
}

async function ensureOneDnn(): Promise<void> {
  let probe = await probeOneDnn();
  if (probe.ok) return;
  const cmd = "apt-get update && apt-get install -y libdnnl-dev";
  if (Deno.uid() !== 0) {
    throw new Error(
      `oneDNN 2.x (Debian package libdnnl-dev) was not found by a test compile:\n${probe.out}\n` +
        `Install it with:  sudo sh -c '${cmd}'\n` +
        `or point CPATH and LIBRARY_PATH at an unpacked copy.`,
    );
  }
  log(`oneDNN not found; installing libdnnl-dev (${cmd})`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  for (const argv of [["update", "-qq"], ["install", "-y", "-qq", "libdnnl-dev"]]) {
    const r = await run("apt-get", argv, { env });
    if (r.code !== 0) throw new Error(`apt-get ${argv.join(" ")} failed:\n${r.out}`);
  }
  probe = await probeOneDnn();
  if (!probe.ok) throw new Error(`oneDNN still not usable after installing:\n${probe.out}`);
}

async function buildCpu(force: boolean): Promise<string> {
  const sources = listSources(`${nativeDir}/cpu`, [".c"]);
  const headers = [
    ...listSources(`${nativeDir}/cpu`, [".h"]),
    ...listSources(`${nativeDir}/include`, [".h"]),
  ];
  const enc = new TextEncoder();
  const key = await sha256([
    enc.encode(CFLAGS.join(" ") + LIBS.join(" ")),
    ...[...sources, ...headers].flatMap((f) => [enc.encode(f), Deno.readFileSync(f)]),
  ]);
  const lib = `${outDir}/libtopiary_cpu.so`;
  const stamp = `${outDir}/libtopiary_cpu.stamp`;
  let old = "";
  try {
    old = Deno.readTextFileSync(stamp).trim();
  } catch { /* first build */ }
  let exists = false;
  try {
    exists = Deno.statSync(lib).isFile;
  } catch { /* missing */ }
  if (!force && exists && old === key) {
    log("libtopiary_cpu.so is up to date");
    return lib;
  }
  await ensureOneDnn();
  const objDir = `${outDir}/obj.${Deno.pid}`;
  Deno.mkdirSync(objDir, { recursive: true });
  log(`compiling ${sources.length} files`);
  const objects = await Promise.all(sources.map(async (src) => {
    const obj = `${objDir}/${src.split("/").pop()!.replace(/\.c$/, ".o")}`;
    const r = await run("gcc", [...CFLAGS, "-c", src, "-o", obj]);
    if (r.code !== 0) throw new Error(`compiling ${src} failed:\n${r.out}`);
    if (r.out.trim() && !quiet) console.error(r.out.trim());
    return obj;
  }));
  const tmp = `${lib}.tmp.${Deno.pid}`;
  const r = await run("gcc", ["-shared", "-fopenmp", "-o", tmp, ...objects, ...LIBS]);
  if (r.code !== 0) throw new Error(`linking libtopiary_cpu.so failed:\n${r.out}`);
  Deno.renameSync(tmp, lib);
  Deno.removeSync(objDir, { recursive: true });
  Deno.writeTextFileSync(stamp, key + "\n");
  log(`built ${lib}`);
  return lib;
}

if (import.meta.main) {
  try {
    await buildCpu(args.has("--force"));
  } catch (e) {
    console.error(`[build] ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
