/**
 * A persistent PyTorch process for side-by-side benchmarks (Debian's python3-torch via
 * /usr/bin/python3), with jemalloc preloaded when installed.
 * @module
 */

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

  /** Starts the worker, or returns null with the reason when PyTorch is not available. */
  static async start(
    threads: number,
    opts: { jemalloc?: boolean; openblasThreads?: number } = {},
  ): Promise<TorchWorker | string> {
    const jemalloc = opts.jemalloc ?? true;
    const python = "/usr/bin/python3";
    try {
      Deno.statSync(python);
    } catch {
      return "no /usr/bin/python3";
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
    const child = new Deno.Command(python, {
      args: [script],
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    })
      .spawn();
    const w = new TorchWorker(child, env);
    try {
      const info = await w.call({ cmd: "info" });
      if (!info.torch) throw new Error("no torch");
      await w.call({ cmd: "threads", threads });
    } catch (e) {
      await w.close();
      return `PyTorch not available (${e instanceof Error ? e.message : e}); install python3-torch`;
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
