/**
 * Per-call profile of a native library (`TOPIARY_PROFILE=1`): every entry point is timed, and on
 * an asynchronous device (CUDA) each call is followed by `tp_synchronize`, so its time is the
 * device's time for that call plus the launch. The totals print to stderr when the process
 * ends, or on demand through {@link profileTable}. Synchronising after every call removes the
 * overlap of host and device: the sum is larger than an unprofiled run's time, but the shares
 * say where the time goes.
 * @module
 */

import type { NativeSymbols } from "./symbols.ts";

/** Calls and milliseconds of one entry point. */
export interface ProfileEntry {
  backend: string;
  op: string;
  calls: number;
  ms: number;
}

// Bookkeeping entry points, never timed.
const UNTIMED = new Set([
  "tp_abi_version",
  "tp_last_error",
  "tp_backend_info",
  "tp_memory_stats",
  "tp_synchronize",
  "tp_set_num_threads",
  "tp_set_flush_denormal",
]);

const entries = new Map<string, ProfileEntry>();
let printing = false;

/** Whether `TOPIARY_PROFILE` asks for a profile ("1"; unset, empty or "0": off). */
export function profilingFromEnv(): boolean {
  const v = Deno.env.get("TOPIARY_PROFILE");
  if (v === undefined || v === "" || v === "0") return false;
  if (v === "1") return true;
  throw new Error(`TOPIARY_PROFILE must be 0 or 1, got "${v}"`);
}

/**
 * The library's symbols with every entry point timed under `backend`'s name; `sync` (if given)
 * runs after each call.
 */
export function profiledSymbols(
  sym: NativeSymbols,
  backend: string,
  sync: (() => void) | null,
): NativeSymbols {
  const out: Record<string, unknown> = {};
  for (const [op, f] of Object.entries(sym)) {
    if (typeof f !== "function" || UNTIMED.has(op)) {
      out[op] = f;
      continue;
    }
    const e: ProfileEntry = { backend, op, calls: 0, ms: 0 };
    entries.set(`${backend}/${op}`, e);
    out[op] = (...args: unknown[]) => {
      const t0 = performance.now();
      const r = (f as (...a: unknown[]) => unknown)(...args);
      sync?.();
      e.ms += performance.now() - t0;
      e.calls++;
      return r;
    };
  }
  if (!printing) {
    printing = true;
    globalThis.addEventListener("unload", () => {
      if (profileEntries().length) console.error(profileTable());
    });
  }
  return out as NativeSymbols;
}

/** The profile so far, busiest entry point first. */
export function profileEntries(): ProfileEntry[] {
  return [...entries.values()].filter((e) => e.calls > 0).sort((a, b) => b.ms - a.ms);
}

/** Empties the profile (e.g. after a warm-up). */
export function resetProfile(): void {
  for (const e of entries.values()) e.calls = 0, e.ms = 0;
}

/** The profile as a Markdown table: entry point, calls, total and mean time, share. */
export function profileTable(): string {
  const list = profileEntries();
  const total = list.reduce((t, e) => t + e.ms, 0);
  const rows = list.map((e) =>
    `| ${e.backend} | ${e.op} | ${e.calls} | ${e.ms.toFixed(2)} | ${
      (1000 * e.ms / e.calls).toFixed(1)
    } | ${(100 * e.ms / Math.max(total, 1e-9)).toFixed(1)}% |`
  );
  return `profile (TOPIARY_PROFILE=1; ${total.toFixed(1)} ms in native calls)\n` +
    "| backend | entry point | calls | total ms | mean µs | share |\n" +
    "|---|---|---:|---:|---:|---:|\n" + rows.join("\n");
}
