/**
 * A progress bar on stderr for long loops: position, named values, items/s and ETA.
 * On a terminal it redraws one line; otherwise it prints a line every `every` percent.
 * @module
 */

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Label in front of the bar. */
  label: string;
  /** Total number of steps. */
  total: number;
  /** Items (e.g. images) per step, for the rate. */
  itemsPerStep?: number;
  /** Unit of the rate (default "img/s"). */
  unit?: string;
  /** Silence output (tests). */
  quiet?: boolean;
  /** When not on a terminal: print every this many percent (default 25). */
  every?: number;
}

const enc = new TextEncoder();

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60), sec = Math.floor(s % 60);
  return m >= 60
    ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`
    : `${m}:${String(sec).padStart(2, "0")}`;
}

/** A progress bar for one loop. */
export class Progress {
  private readonly o: Required<ProgressOptions>;
  private readonly tty: boolean;
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private lastPct = -1;
  private done = 0;

  constructor(opts: ProgressOptions) {
    this.o = { itemsPerStep: 1, unit: "img/s", quiet: false, every: 25, ...opts };
    this.tty = !this.o.quiet && Deno.stderr.isTerminal();
  }

  /** Advances to `done` steps and shows `values` (e.g. { loss: 0.31, acc: 0.93 }). */
  update(done: number, values: Record<string, number> = {}): void {
    this.done = done;
    if (this.o.quiet) return;
    const now = performance.now();
    const pct = Math.floor((100 * done) / Math.max(1, this.o.total));
    const finished = done >= this.o.total;
    if (this.tty) {
      if (!finished && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      Deno.stderr.writeSync(enc.encode(`\r\x1b[K${this.line(done, values, now)}`));
      if (finished) Deno.stderr.writeSync(enc.encode("\n"));
      return;
    }
    const step = Math.max(1, this.o.every);
    if (finished || Math.floor(pct / step) > Math.floor(this.lastPct / step)) {
      this.lastPct = pct;
      Deno.stderr.writeSync(enc.encode(`${this.line(done, values, now)}\n`));
    }
  }

  /** Seconds since the bar started. */
  get elapsed(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Items per second so far. */
  get rate(): number {
    return (this.done * this.o.itemsPerStep) / Math.max(1e-9, this.elapsed);
  }

  private line(done: number, values: Record<string, number>, now: number): string {
    const total = this.o.total;
    const el = (now - this.t0) / 1000;
    const width = 24, filled = Math.round((width * done) / Math.max(1, total));
    const bar = "#".repeat(filled) + ".".repeat(Math.max(0, width - filled));
    const rate = (done * this.o.itemsPerStep) / Math.max(1e-9, el);
    const eta = done > 0 ? (el / done) * (total - done) : NaN;
    const vals = Object.entries(values).map(([k, v]) => `${k} ${fmtNum(v)}`).join("  ");
    return `${this.o.label} [${bar}] ${done}/${total}  ${vals}  ${
      rate.toFixed(0)
    } ${this.o.unit}  ` +
      `${fmtTime(el)} elapsed, ETA ${fmtTime(eta)}`;
  }
}

function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
}
