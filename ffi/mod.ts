/**
 * `@topiary/ffi`: the Deno FFI binding of Topiary's native ABI.
 * @module
 */

export { SYMBOLS } from "./symbols.ts";
export type { NativeSymbols, SymbolName } from "./symbols.ts";
export { builtLibraryPath, findLibrary, type LibraryKind, openLibrary } from "./library.ts";
export { nativeError, Status, TopiaryError } from "./errors.ts";
export { int64Array, Int64Params } from "./params.ts";
export {
  availableBackends,
  type Backend,
  type BackendInfo,
  flushDenormalFromEnv,
  getBackend,
  type MemoryStats,
  threadsFromEnv,
} from "./backend.ts";
export {
  profiledSymbols,
  profileEntries,
  type ProfileEntry,
  profileTable,
  profilingFromEnv,
  resetProfile,
} from "./profile.ts";
