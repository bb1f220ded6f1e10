/**
 * Discovery and loading of the native libraries.
 * @module
 */

import { SYMBOLS } from "./symbols.ts";

/** A native library kind: the CPU (oneDNN) or the CUDA shim. */
export type LibraryKind = "cpu" | "cuda";

const ENV_VAR: Record<LibraryKind, string> = { cpu: "TOPIARY_LIB", cuda: "TOPIARY_CUDA_LIB" };

/** Path of the library built by `deno task build` in this checkout. */
export function builtLibraryPath(kind: LibraryKind): string {
  return new URL(`../native/build/libtopiary_${kind}.so`, import.meta.url).pathname;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Finds the library of a kind: the environment override (`TOPIARY_LIB`,
 * `TOPIARY_CUDA_LIB`), then the built file, else an error naming the build task.
 */
export function findLibrary(kind: LibraryKind): string {
  const env = Deno.env.get(ENV_VAR[kind]);
  if (env) {
    if (!isFile(env)) {
      throw new Error(`${ENV_VAR[kind]}=${env}: no such file (unset it to use the built library)`);
    }
    return env;
  }
  const built = builtLibraryPath(kind);
  if (isFile(built)) return built;
  throw new Error(
    `The native ${kind} library was not found at ${built}. Build it with \`deno task build\`` +
      ` (or set ${ENV_VAR[kind]} to its path).`,
  );
}

/** Opens a library with the full symbol table. */
export function openLibrary(path: string): Deno.DynamicLibrary<typeof SYMBOLS> {
  try {
    return Deno.dlopen(path, SYMBOLS);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(
      `Could not load ${path}: ${msg}. Rebuild with \`deno task build\` if the library is stale.`,
    );
  }
}
