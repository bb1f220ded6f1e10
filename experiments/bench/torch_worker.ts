/**
 * A persistent PyTorch process for side-by-side benchmarks: Debian's python3-torch via
 * /usr/bin/python3 (or `TOPIARY_TORCH_PYTHON`), jemalloc preloaded when asked, on the CPU or on
 * a CUDA device.
 * @module
 */

/** Options of {@link TorchWorker.start}. */
export interface TorchWorkerOptions {
  /** Preload jemalloc (CPU comparisons; default true). */
  jemalloc?: boolean;
  /** OpenBLAS threads (default 1). */
  openblasThreads?: number;
  /** Run every case on this device (default the CPU). */
  device?: { name: "cuda"; tf32: boolean; deterministic: boolean; benchmark?: boolean };
}

/** JSON-lines client of `torch_worker.py`. */
export class TorchWorker {
  private readonly child: Deno.ChildProcess;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly lines: AsyncIterator<string>;
  /** Environment the worker runs with (threads, allocator), for the report. */
  readonly env: Record<string, string>;

  private constructor(child: Deno.ChildProcess, env: Record<string, string>) {
    this.child = child;
    this.env = env;
    this.writer = child.stdin.getWriter();
    this.lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines())
      [Symbol.asyncIterator]();
  }

  /** Starts the worker, or returns the reason when PyTorch (or the device) is not available. */
  static async start(
    threads: number,
    opts: TorchWorkerOptions = {},
  ): Promise<TorchWorker | string> {
    const jemalloc = opts.jemalloc ?? true;
    const python = Deno.env.get("TOPIARY_TORCH_PYTHON") || "/usr/bin/python3";
    if (python.startsWith("/")) {
      try {
        Deno.statSync(python);
      } catch {
        return `no ${python}`;
      }
    }
    const env: Record<string, string> = {
      OMP_NUM_THREADS: String(threads),
      OPENBLAS_NUM_THREADS: String(opts.openblasThreads ?? 1),
      MKL_NUM_THREADS: String(threads),
    };
    const je = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
    if (jemalloc) {
      try {
        Deno.statSync(je);
        env.LD_PRELOAD = je;
        env.MALLOC_CONF = "oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1";
      } catch {
        return `jemalloc requested but ${je} is missing (apt-get install libjemalloc2)`;
      }
    }
    const script = new URL("./torch_worker.py", import.meta.url).pathname;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(python, {
        args: [script],
        env,
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
    } catch (e) {
      return `cannot start ${python} (${e instanceof Error ? e.message : e})`;
    }
    const w = new TorchWorker(child, env);
    try {
      const info = await w.call({ cmd: "info" });
      if (!info.torch) throw new Error("no torch");
      await w.call({ cmd: "threads", threads });
    } catch (e) {
      await w.close();
      return `PyTorch not available (${e instanceof Error ? e.message : e}); install python3-torch`;
    }
    if (opts.device) {
      const d = opts.device;
      try {
        const info = await w.call({ cmd: "device", device: d.name, ...d });
        for (const [k, v] of Object.entries(info)) w.env[`torch.${k}`] = String(v);
      } catch (e) {
        await w.close();
        return `PyTorch cannot use ${d.name}: ${e instanceof Error ? e.message : e}`;
      }
    }
    return w;
  }

  /** Sends one command and waits for its reply. */
  async call(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.writer.write(new TextEncoder().encode(JSON.stringify(msg) + "\n"));
    const r = await this.lines.next();
    if (r.done) throw new Error("torch worker exited");
    const out = JSON.parse(r.value);
    if (out.error) throw new Error(out.error);
    return out;
  }

  /** Ends the worker. */
  async close(): Promise<void> {
    try {
      await this.writer.close();
    } catch { /* already closed */ }
    await this.child.status;
  }
}

function splitLines(): TransformStream<string, string> {
  let buf = "";
  return new TransformStream({
    transform(chunk, ctl) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        ctl.enqueue(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    },
    flush(ctl) {
      if (buf) ctl.enqueue(buf);
    },
  });
}
