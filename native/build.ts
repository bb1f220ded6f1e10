/**
 * Builds the native shim `native/build/libtopiary_cpu.so` when its sources changed.
 *
 * Detects oneDNN with a test compile (gcc honours CPATH and LIBRARY_PATH); when it is
 * missing and we are root, installs Debian's `libdnnl-dev`, otherwise stops with the exact
 * command to run. The build is atomic (temporary file, then rename) and keyed by a hash of
 * the sources and flags, so an unchanged tree builds nothing.
 *
 * The CUDA shim is built alongside when nvcc is present (see build_cuda.ts); its failure is a
 * warning unless TOPIARY_BUILD_CUDA=1.
 *
 * Usage: deno run -A native/build.ts [--force] [--quiet]
 * @module
 */

import { buildCuda } from "./build_cuda.ts";
import {
  buildKey,
  listSources,
  markBuilt,
  nativeDir,
  outDir,
  run,
  upToDate,
} from "./_build_util.ts";

const args = new Set(Deno.args);
const quiet = args.has("--quiet");

function log(msg: string): void {
  if (!quiet) console.error(`[build] ${msg}`);
}

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
  `-I${nativeDir}/common`,
];
const LIBS = ["-ldnnl", "-lm", "-lpthread"];

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
    ...listSources(`${nativeDir}/common`, [".h"]),
  ];
  const key = await buildKey([...CFLAGS, ...LIBS], [...sources, ...headers]);
  const lib = `${outDir}/libtopiary_cpu.so`;
  if (!force && upToDate(lib, key)) {
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
  markBuilt(lib, key);
  log(`built ${lib}`);
  return lib;
}

if (import.meta.main) {
  try {
    await Promise.all([
      buildCpu(args.has("--force")),
      buildCuda({ force: args.has("--force"), log }).catch((e) => {
        // The CPU backend stays usable; TOPIARY_BUILD_CUDA=1 makes this fatal.
        if (Deno.env.get("TOPIARY_BUILD_CUDA") === "1") throw e;
        console.error(`[build] warning: the CUDA backend was not built: ${e.message ?? e}`);
      }),
    ]);
  } catch (e) {
    console.error(`[build] ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
