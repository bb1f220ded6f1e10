/**
 * Metrics as JSON lines: one record per line, appended and flushed as they come. A crash can
 * leave at most a partial last line, which readers skip; on resume, records after the
 * checkpoint's step are dropped (rewritten atomically) so nothing is counted twice.
 * @module
 */

import { writeFileAtomicSync } from "../checkpoint/atomic.ts";

/** One metrics record: its step and named values (plus any JSON fields). */
export interface MetricsRecord {
  step: number;
  [key: string]: unknown;
}

/** Reads the complete records of a metrics file (a trailing partial line is ignored). */
export function readMetrics(path: string): MetricsRecord[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  // The last element is "" after a final newline, or a partial line left by a crash.
  const complete = text.split("\n").slice(0, -1);
  const out: MetricsRecord[] = [];
  for (let i = 0; i < complete.length; i++) {
    const line = complete[i];
    if (!line.trim()) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${i + 1}: not a JSON record: ${line.slice(0, 80)}`);
    }
    if (
      typeof rec !== "object" || rec === null || typeof (rec as MetricsRecord).step !== "number"
    ) {
      throw new Error(`${path}:${i + 1}: a metrics record needs a numeric "step"`);
    }
    out.push(rec as MetricsRecord);
  }
  return out;
}

/** Appends metrics records to a JSON-lines file. */
export class MetricsWriter {
  /** The file written. */
  readonly path: string;
  private file: Deno.FsFile;

  private readonly stage: string | undefined;

  /**
   * Opens `path` for appending. With `resumeFromStep`, records with a larger step (written
   * after the checkpoint being resumed) are dropped first; with `stage`, every record is
   * tagged `stage` and only that stage's records are dropped (several stages share a file).
   */
  constructor(path: string, opts: { resumeFromStep?: number; stage?: string } = {}) {
    this.path = path;
    this.stage = opts.stage;
    const keep = opts.resumeFromStep;
    const existing = readMetrics(path);
    const text = (() => {
      try {
        return Deno.readTextFileSync(path);
      } catch {
        return "";
      }
    })();
    const mine = (r: MetricsRecord) => opts.stage === undefined || r.stage === opts.stage;
    const kept = keep === undefined ? existing : existing.filter((r) => !mine(r) || r.step <= keep);
    // Rewrite when resuming, or to drop a partial last line left by a crash.
    if (kept.length !== existing.length || (text.length > 0 && !text.endsWith("\n"))) {
      writeFileAtomicSync(
        path,
        new TextEncoder().encode(kept.map((r) => JSON.stringify(r) + "\n").join("")),
      );
    }
    this.file = Deno.openSync(path, { append: true, create: true });
  }

  /** Appends one record (one write call, so lines never interleave). */
  write(rec: MetricsRecord): void {
    const tagged = this.stage === undefined ? rec : { stage: this.stage, ...rec };
    const bytes = new TextEncoder().encode(JSON.stringify(tagged) + "\n");
    let off = 0;
    while (off < bytes.length) off += this.file.writeSync(bytes.subarray(off));
  }

  /** Flushes to disk. */
  sync(): void {
    this.file.syncSync();
  }

  /** Closes the file. */
  close(): void {
    try {
      this.file.syncSync();
    } finally {
      this.file.close();
    }
  }
}
