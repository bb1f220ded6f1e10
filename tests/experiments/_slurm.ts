/**
 * A real one-node Slurm cluster for tests: munge and slurmctld/slurmd (Debian's
 * slurm-wlm) on localhost, every path under one temporary folder, started and stopped by
 * the test (facts in ../shared/notes/slurm.md). Daemons log to files and are stopped by
 * their recorded PIDs.
 * @module
 */

import { join } from "node:path";

/** A running cluster. */
export interface SlurmCluster {
  dir: string;
  /** Environment for client commands (SLURM_CONF). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Whether the Slurm and munge binaries are installed. */
export function slurmInstalled(): boolean {
  return ["munged", "slurmctld", "slurmd", "sbatch"].every((b) =>
    ["/usr/sbin", "/usr/bin"].some((d) => {
      try {
        Deno.statSync(join(d, b));
        return true;
      } catch {
        return false;
      }
    })
  );
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

async function waitFor(what: string, check: () => Promise<boolean>, seconds: number, log = "") {
  const t0 = Date.now();
  while (!(await check())) {
    if ((Date.now() - t0) / 1000 > seconds) {
      let tail = "";
      try {
        tail = Deno.readTextFileSync(log).split("\n").slice(-15).join("\n");
      } catch { /* no log */ }
      throw new Error(`slurm test cluster: ${what} not ready after ${seconds} s\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function readPid(path: string): number | null {
  try {
    const n = Number(Deno.readTextFileSync(path).trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Whether MariaDB and slurmdbd are installed (for accounting, i.e. `sacct`). */
export function accountingInstalled(): boolean {
  return ["/usr/sbin/slurmdbd", "/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db"].every((p) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  });
}

async function portOpen(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link startSlurm}. */
export interface SlurmOptions {
  /** Also start MariaDB and slurmdbd so that `sacct` works (about 5 s more). */
  accounting?: boolean;
}

/** Starts munge, slurmctld and slurmd; the node is idle when this returns. */
export async function startSlurm(o: SlurmOptions = {}): Promise<SlurmCluster> {
  if (Deno.uid() !== 0) throw new Error("the slurm test cluster needs root (daemons run as root)");
  const dir = Deno.makeTempDirSync({ prefix: "topiary-slurm-" });
  Deno.chmodSync(dir, 0o755);
  const p = (...x: string[]) => join(dir, ...x);
  for (const d of ["munge", "state", "spool", "log"]) Deno.mkdirSync(p(d));
  Deno.chmodSync(p("munge"), 0o711);
  const key = new Uint8Array(1024);
  crypto.getRandomValues(key);
  Deno.writeFileSync(p("munge.key"), key, { mode: 0o400 });
  const socket = p("munge", "munge.socket");
  const pids: string[] = [];
  const stop = async () => {
    for (const f of pids.reverse()) {
      const pid = readPid(f);
      if (pid) {
        try {
          Deno.kill(pid, "SIGTERM");
        } catch { /* gone */ }
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const f of pids) {
      const pid = readPid(f);
      if (pid) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }
    Deno.removeSync(dir, { recursive: true });
  };
  try {
    const m = await run("munged", [
      "--force",
      `--key-file=${p("munge.key")}`,
      `--socket=${socket}`,
      `--pid-file=${p("munged.pid")}`,
      `--log-file=${p("log", "munged.log")}`,
      `--seed-file=${p("munged.seed")}`,
    ]);
    if (m.code !== 0) throw new Error(`munged failed: ${m.err}`);
    pids.push(p("munged.pid"));
    const acct: string[] = [];
    if (o.accounting) {
      const inst = await run("mariadb-install-db", [
        "--no-defaults",
        `--datadir=${p("db")}`,
        "--auth-root-authentication-method=normal",
        "--user=root",
        "--skip-test-db",
      ]);
      if (inst.code !== 0) throw new Error(`mariadb-install-db failed: ${inst.err}`);
      const db = new Deno.Command("mariadbd", {
        args: [
          "--no-defaults",
          `--datadir=${p("db")}`,
          `--socket=${p("mysql.sock")}`,
          "--port=16820",
          "--bind-address=127.0.0.1",
          "--skip-name-resolve",
          "--user=root",
          `--pid-file=${p("mysql.pid")}`,
          `--log-error=${p("log", "mysql.log")}`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      db.unref();
      pids.push(p("mysql.pid"));
      await waitFor("mariadb", () => portOpen(16820), 30, p("log", "mysql.log"));
      Deno.writeTextFileSync(
        p("slurmdbd.conf"),
        [
          "AuthType=auth/munge",
          `AuthInfo=socket=${socket}`,
          "DbdHost=localhost",
          "DbdPort=16819",
          "SlurmUser=root",
          "StorageType=accounting_storage/mysql",
          "StorageHost=127.0.0.1",
          "StoragePort=16820",
          "StorageUser=root",
          "StorageLoc=slurm_acct_db",
          `PidFile=${p("slurmdbd.pid")}`,
          `LogFile=${p("log", "slurmdbd.log")}`,
          "",
        ].join("\n"),
        { mode: 0o600 },
      );
      const d = await run("slurmdbd", [], { SLURM_CONF: p("slurm.conf") });
      if (d.code !== 0) throw new Error(`slurmdbd failed to start: ${d.err}`);
      pids.push(p("slurmdbd.pid"));
      await waitFor("slurmdbd", () => portOpen(16819), 30, p("log", "slurmdbd.log"));
      acct.push(
        "AccountingStorageType=accounting_storage/slurmdbd",
        "AccountingStorageHost=localhost",
        "AccountingStoragePort=16819",
        `AccountingStoragePass=${socket}`,
        "JobAcctGatherType=jobacct_gather/none",
      );
    }
    const host = (await run("hostname", ["-s"])).out.trim();
    const nodeLine = (await run("slurmd", ["-C"])).out.split("\n")[0].trim();
    if (!nodeLine.startsWith("NodeName=")) throw new Error(`slurmd -C printed "${nodeLine}"`);
    const conf = [
      "ClusterName=topiary-test",
      `SlurmctldHost=${host}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      "SlurmctldPort=16817",
      "SlurmdPort=16818",
      `StateSaveLocation=${p("state")}`,
      `SlurmdSpoolDir=${p("spool")}`,
      `SlurmctldPidFile=${p("slurmctld.pid")}`,
      `SlurmdPidFile=${p("slurmd.pid")}`,
      `SlurmctldLogFile=${p("log", "slurmctld.log")}`,
      `SlurmdLogFile=${p("log", "slurmd.log")}`,
      "ProctrackType=proctrack/pgid",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core_Memory",
      "AuthType=auth/munge",
      "CredType=cred/munge",
      `AuthInfo=socket=${socket},cred_expire=10`,
      "SchedulerParameters=sched_interval=2,bf_interval=5",
      "ReturnToService=1",
      "JobRequeue=1",
      "MinJobAge=600",
      "MpiDefault=none",
      ...acct,
      `${nodeLine} State=UNKNOWN`,
      "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
      "",
    ].join("\n");
    Deno.writeTextFileSync(p("slurm.conf"), conf);
    const env = { SLURM_CONF: p("slurm.conf") };
    for (const d of ["slurmctld", "slurmd"]) {
      const r = await run(d, ["-f", p("slurm.conf")], env);
      if (r.code !== 0) throw new Error(`${d} failed to start: ${r.err}`);
      pids.push(p(`${d}.pid`));
    }
    await waitFor(
      "the node",
      async () => {
        const r = await run("sinfo", ["-h", "-o", "%t"], env);
        return r.code === 0 && /idle/.test(r.out);
      },
      30,
      p("log", "slurmctld.log"),
    );
    return { dir, env, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
