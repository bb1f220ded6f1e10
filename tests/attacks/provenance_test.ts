import { getDefaultBackend } from "@topiary/core";
import { collectProvenance, cpuModel, gitInfo } from "../../attacks/provenance.ts";

function expect(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

function git(args: string[]): string | null {
  try {
    const out = new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

Deno.test("provenance records the code's commit, runtime, backend, machine and time", () => {
  const now = new Date("2024-05-06T07:08:09.000Z");
  const p = collectProvenance({ now });
  const head = git(["-C", new URL(".", import.meta.url).pathname, "rev-parse", "HEAD"]);
  if (head === null) {
    expect(p.git.commit === "unknown" && p.git.dirty === null, `no git: ${JSON.stringify(p.git)}`);
  } else {
    expect(p.git.commit === head, `commit ${p.git.commit}, git says ${head}`);
    expect(typeof p.git.dirty === "boolean", `dirty flag ${p.git.dirty}`);
  }
  expect(p.deno.deno === Deno.version.deno && p.deno.v8 === Deno.version.v8, "Deno version");
  const info = getDefaultBackend().info();
  for (const k of ["backend", "threads", "onednn", "isa", "flush_denormal"]) {
    expect(p.backend[k] === info[k], `backend ${k}: ${p.backend[k]} vs ${info[k]}`);
  }
  expect(p.machine.os === Deno.build.os && p.machine.arch === Deno.build.arch, "os and arch");
  expect(p.machine.cpu === cpuModel() && p.machine.cpu.length > 0, `cpu "${p.machine.cpu}"`);
  expect(p.machine.cores === navigator.hardwareConcurrency, "cores");
  expect(p.timestamp === "2024-05-06T07:08:09.000Z", `timestamp ${p.timestamp}`);
  expect(JSON.stringify(JSON.parse(JSON.stringify(p))) === JSON.stringify(p), "plain JSON");
  const fresh = Date.parse(collectProvenance().timestamp);
  expect(Math.abs(fresh - Date.now()) < 60_000, "default timestamp is now");
});

Deno.test("provenance outside a git repository says unknown, without throwing", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const g = gitInfo(dir);
    expect(g.commit === "unknown" && g.dirty === null && g.dir === dir, JSON.stringify(g));
    expect(gitInfo(null).commit === "unknown", "no local source: unknown");
    expect(collectProvenance({ repoDir: dir }).git.commit === "unknown", "repoDir option");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the dirty flag follows tracked changes and ignores untracked files", () => {
  if (git(["--version"]) === null) return; // no git here: covered by the test above
  const dir = Deno.makeTempDirSync();
  try {
    const run = (...args: string[]) => {
      const ok = git(["-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
      if (ok === null) throw new Error(`git ${args.join(" ")} failed`);
    };
    run("init", "-q");
    Deno.writeTextFileSync(`${dir}/a.txt`, "1");
    run("add", "a.txt");
    run("commit", "-q", "-m", "one");
    const clean = gitInfo(dir);
    expect(/^[0-9a-f]{40}$/.test(clean.commit) && clean.dirty === false, JSON.stringify(clean));
    Deno.writeTextFileSync(`${dir}/untracked.txt`, "x");
    expect(gitInfo(dir).dirty === false, "untracked files do not make it dirty");
    Deno.writeTextFileSync(`${dir}/a.txt`, "2");
    expect(gitInfo(dir).dirty === true, "a modified tracked file makes it dirty");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
