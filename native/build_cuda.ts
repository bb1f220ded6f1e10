/**
 * Builds the CUDA shim `native/build/libtopiary_cuda.so` with nvcc when nvcc is present.
 *
 * Device code for sm_80 and sm_90 plus compute_90 PTX (for newer GPUs), the CUDA runtime
 * linked statically, cuBLAS/cuDNN/cuSPARSE opened at run time (no vendor headers needed).
 * When `TOPIARY_CUDA_INCLUDES` names folders with the vendor headers, `tp_abi_check.cu` is
 * compiled first and stops the build if our declarations differ from them.
 *
 * `TOPIARY_BUILD_CUDA`: unset = build when nvcc is found; `0` = never; `1` = required (a
 * missing nvcc is an error). nvcc is `NVCC`, else `nvcc` on PATH, else
 * `/usr/local/cuda/bin/nvcc`. The build is atomic and keyed like the CPU one.
 * @module
 */

import {
  buildKey,
  listSources,
  markBuilt,
  nativeDir,
  outDir,
  pool,
  run,
  upToDate,
} from "./_build_util.ts";

/** nvcc flags of the CUDA library; part of the build key. */
export const NVCC_FLAGS = [
  "-std=c++17",
  "-O3",
  "-Xcompiler",
  "-fPIC,-Wall",
  "-gencode",
  "arch=compute_80,code=sm_80",
  "-gencode",
  "arch=compute_90,code=[sm_90,compute_90]",
  `-I${nativeDir}/include`,
  `-I${nativeDir}/common`,
  `-I${nativeDir}/cuda`,
];
const LINK = ["-shared", "-cudart", "static", "-ldl", "-lpthread", "-lrt"];

/** The nvcc to use, or null when none is installed. */
export async function findNvcc(): Promise<string | null> {
  const env = Deno.env.get("NVCC");
  const candidates = env ? [env] : ["nvcc", "/usr/local/cuda/bin/nvcc"];
  for (const c of candidates) {
    try {
      if ((await run(c, ["--version"])).code === 0) return c;
    } catch { /* not there */ }
  }
  return null;
}

/** Compiles the ABI check against the vendor headers in `includes` (colon separated). */
async function abiCheck(nvcc: string, includes: string): Promise<void> {
  const inc = includes.split(":").filter((d) => d).map((d) => `-I${d}`);
  const r = await run(nvcc, [
    ...NVCC_FLAGS.filter((f) => !f.startsWith("arch=") && f !== "-gencode"),
    ...inc,
    "-c",
    `${nativeDir}/cuda/tp_abi_check.cu`,
    "-o",
    "/dev/null",
  ]);
  if (r.code !== 0) {
    throw new Error(`tp_vendor.h does not match the vendor headers in ${includes}:\n${r.out}`);
  }
}

/**
 * Builds the CUDA library when nvcc is available (or required); returns its path, or null
 * when it is not built here.
 */
export async function buildCuda(
  opts: { force?: boolean; log?: (msg: string) => void } = {},
): Promise<string | null> {
  const log = opts.log ?? (() => {});
  const mode = Deno.env.get("TOPIARY_BUILD_CUDA") ?? "";
  if (mode === "0") return null;
  const nvcc = await findNvcc();
  if (!nvcc) {
    if (mode === "1") throw new Error("TOPIARY_BUILD_CUDA=1 but nvcc was not found (set NVCC)");
    log("nvcc not found: the CUDA backend is not built");
    return null;
  }
  const dir = `${nativeDir}/cuda`;
  const sources = listSources(dir, [".cu"]).filter((f) => !f.endsWith("tp_abi_check.cu"));
  const headers = [
    ...listSources(dir, [".h"]),
    ...listSources(`${nativeDir}/include`, [".h"]),
    ...listSources(`${nativeDir}/common`, [".h"]),
  ];
  const version = (await run(nvcc, ["--version"])).out.trim().split("\n").pop() ?? "";
  const includes = Deno.env.get("TOPIARY_CUDA_INCLUDES") ?? "";
  const key = await buildKey([...NVCC_FLAGS, ...LINK, version, includes], [
    ...sources,
    ...headers,
    `${dir}/tp_abi_check.cu`,
  ]);
  const lib = `${outDir}/libtopiary_cuda.so`;
  if (!opts.force && upToDate(lib, key)) {
    log("libtopiary_cuda.so is up to date");
    return lib;
  }
  if (includes) {
    await abiCheck(nvcc, includes);
    log("vendor declarations match the headers");
  }
  const objDir = `${outDir}/cuda_obj.${Deno.pid}`;
  Deno.mkdirSync(objDir, { recursive: true });
  log(`compiling ${sources.length} CUDA files with ${nvcc}`);
  const objects = await pool(sources, navigator.hardwareConcurrency, async (src) => {
    const obj = `${objDir}/${src.split("/").pop()!.replace(/\.cu$/, ".o")}`;
    const r = await run(nvcc, [...NVCC_FLAGS, "-c", src, "-o", obj]);
    if (r.code !== 0) throw new Error(`compiling ${src} failed:\n${r.out}`);
    return obj;
  });
  const tmp = `${lib}.tmp.${Deno.pid}`;
  const arch = NVCC_FLAGS.filter((f) => !f.startsWith("-I"));
  const r = await run(nvcc, [...arch, ...LINK, "-o", tmp, ...objects]);
  if (r.code !== 0) throw new Error(`linking libtopiary_cuda.so failed:\n${r.out}`);
  Deno.renameSync(tmp, lib);
  Deno.removeSync(objDir, { recursive: true });
  markBuilt(lib, key);
  log(`built ${lib}`);
  return lib;
}
