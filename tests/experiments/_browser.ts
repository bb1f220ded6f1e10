/**
 * Headless Chromium driven over the DevTools protocol (Deno's WebSocket; no npm package):
 * open a page, collect console errors and uncaught exceptions, evaluate expressions, take
 * screenshots.
 * @module
 */

/** Whether a Chromium binary is on PATH. */
export function chromiumPath(): string | null {
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]) {
    try {
      Deno.statSync(p);
      return p;
    } catch { /* next */ }
  }
  return null;
}

/** A page in a headless browser. */
export interface BrowserPage {
  /** Console errors, failed loads and uncaught exceptions seen so far. */
  errors: string[];
  /** Navigates and waits for the load event. */
  open(url: string): Promise<void>;
  /** Evaluates an expression in the page; its JSON value. */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the full page. */
  screenshot(width?: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Starts headless Chromium with one page. */
export async function launchBrowser(): Promise<BrowserPage> {
  const bin = chromiumPath();
  if (!bin) throw new Error("chromium is not installed (Debian package `chromium`)");
  const profile = Deno.makeTempDirSync({ prefix: "topiary-chromium-" });
  const child = new Deno.Command(bin, {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" on stderr.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", port = "";
  const deadline = Date.now() + 30_000;
  while (!port) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) {
      throw new Error(`chromium did not start its DevTools server:\n${buf.slice(-2000)}`);
    }
    buf += value;
    port = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(buf)?.[1] ?? "";
  }
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = targets.find((t) => t.type === "page");
  if (!target) throw new Error("chromium has no page target");
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((ok, bad) => {
    ws.onopen = ok;
    ws.onerror = () => bad(new Error("cannot connect to chromium's DevTools"));
  });
  let id = 0;
  const pending = new Map<number, { ok: (v: unknown) => void; bad: (e: Error) => void }>();
  const waiters: { method: string; ok: () => void }[] = [];
  const errors: string[] = [];
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data as string);
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.bad(new Error(`DevTools: ${msg.error.message}`));
      else p?.ok(msg.result);
      return;
    }
    const params = msg.params ?? {};
    if (msg.method === "Runtime.consoleAPICalled" && ["error", "assert"].includes(params.type)) {
      errors.push(
        `console.${params.type}: ${
          JSON.stringify(
            params.args?.map((a: { value?: unknown; description?: string }) =>
              a.value ?? a.description
            ),
          )
        }`,
      );
    } else if (msg.method === "Runtime.exceptionThrown") {
      errors.push(
        `exception: ${
          params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text
        }`,
      );
    } else if (msg.method === "Log.entryAdded" && params.entry?.level === "error") {
      errors.push(`log: ${params.entry.text} ${params.entry.url ?? ""}`);
    }
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].method === msg.method) waiters.splice(i, 1)[0].ok();
    }
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((ok, bad) => {
      const n = ++id;
      pending.set(n, { ok, bad });
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  const event = (method: string) => new Promise<void>((ok) => waiters.push({ method, ok }));
  await send("Runtime.enable");
  await send("Log.enable");
  await send("Page.enable");
  const page: BrowserPage = {
    errors,
    async open(url) {
      const loaded = event("Page.loadEventFired");
      await send("Page.navigate", { url });
      await loaded;
    },
    async evaluate<T>(expression: string) {
      const r = await send("Runtime.evaluate", { expression, returnByValue: true }) as {
        result: { value: T };
        exceptionDetails?: { text: string };
      };
      if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.text}`);
      return r.result.value;
    },
    async screenshot(width = 1100) {
      const h = await page.evaluate<number>("document.documentElement.scrollHeight");
      await send("Emulation.setDeviceMetricsOverride", {
        width,
        height: Math.ceil(h),
        deviceScaleFactor: 1,
        mobile: false,
      });
      const r = await send("Page.captureScreenshot", { format: "png" }) as { data: string };
      return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
    },
    async close() {
      ws.close();
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      // Chromium's helper processes may still be writing the profile for a moment.
      for (let i = 0; i < 20; i++) {
        try {
          Deno.removeSync(profile, { recursive: true });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
  return page;
}

/** Per figure of a report page: whether it holds an SVG, and its data marks. */
export const FIGURE_PROBE = `JSON.stringify([...document.querySelectorAll("figure")].map((f) => ({
  id: f.id,
  svg: f.querySelector("svg") !== null,
  marks: f.querySelectorAll("svg g[class*='role-mark'] > *").length,
})))`;
