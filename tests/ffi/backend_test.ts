import assert from "node:assert/strict";
import {
  builtLibraryPath,
  findLibrary,
  getBackend,
  Status,
  threadsFromEnv,
  TopiaryError,
} from "@topiary/ffi";
import { tidy, uniform } from "@topiary/core";
import { SmallCNN } from "../../core/models/small_cnn.ts";
import { assertThrowsMsg } from "../_harness.ts";

function withEnv(name: string, value: string | undefined, fn: () => void): void {
  const prev = Deno.env.get(name);
  if (value === undefined) Deno.env.delete(name);
  else Deno.env.set(name, value);
  try {
    fn();
  } finally {
    if (prev === undefined) Deno.env.delete(name);
    else Deno.env.set(name, prev);
  }
}

Deno.test("library discovery: env override, built file, clear errors", () => {
  withEnv("TOPIARY_LIB", "/nonexistent/libtopiary_cpu.so", () => {
    assertThrowsMsg(
      () => findLibrary("cpu"),
      /TOPIARY_LIB=\/nonexistent\/libtopiary_cpu.so: no such file/,
    );
  });
  withEnv("TOPIARY_LIB", undefined, () => {
    if (findLibrary("cpu") !== builtLibraryPath("cpu")) throw new Error("built library not found");
  });
  withEnv("TOPIARY_CUDA_LIB", undefined, () => {
    let threw = false;
    try {
      findLibrary("cuda");
    } catch (e) {
      threw = true;
      if (!/deno task build/.test((e as Error).message)) throw e;
    }
    try {
      Deno.statSync(builtLibraryPath("cuda"));
    } catch {
      if (!threw) throw new Error("missing CUDA library must be an error naming the build task");
    }
  });
});

Deno.test("TOPIARY_THREADS must be a positive integer", () => {
  withEnv("TOPIARY_THREADS", "zero", () => {
    assertThrowsMsg(
      () => threadsFromEnv(),
      /TOPIARY_THREADS must be a positive integer, got "zero"/,
    );
  });
  withEnv("TOPIARY_THREADS", "2", () => {
    if (threadsFromEnv() !== 2) throw new Error("TOPIARY_THREADS=2 not honoured");
  });
});

Deno.test("backend info names oneDNN, the ISA and threads", () => {
  const b = getBackend("cpu");
  const info = b.info();
  if (info.backend !== "cpu" || info.abi !== 1) throw new Error(JSON.stringify(info));
  if (!/^2\.\d+\.\d+$/.test(String(info.onednn))) throw new Error(`oneDNN version ${info.onednn}`);
  if (info.threads !== b.threads) throw new Error(`threads ${info.threads} != ${b.threads}`);
});

Deno.test("memory counters track allocation and the cache", () => {
  const b = getBackend("cpu");
  const s0 = b.memoryStats();
  const p = b.alloc(1000);
  const s1 = b.memoryStats();
  if (s1.liveBuffers !== s0.liveBuffers + 1 || s1.liveBytes <= s0.liveBytes) {
    throw new Error(`alloc not counted: ${JSON.stringify([s0, s1])}`);
  }
  b.free(p);
  const s2 = b.memoryStats();
  if (s2.liveBuffers !== s0.liveBuffers || s2.cachedBuffers < 1) {
    throw new Error(`free not counted or not cached: ${JSON.stringify(s2)}`);
  }
  const q = b.alloc(1000); // served from the cache
  const s3 = b.memoryStats();
  if (s3.allocHits !== s2.allocHits + 1) throw new Error("cached block not reused");
  b.free(q);
  b.clearCaches();
  const s4 = b.memoryStats();
  if (s4.cachedBuffers !== 0 || s4.cachedBytes !== 0) {
    throw new Error(`cache not cleared: ${JSON.stringify(s4)}`);
  }
});

Deno.test("double free and foreign pointers are refused, not crashes", () => {
  const b = getBackend("cpu");
  const p = b.alloc(64);
  b.free(p);
  let err: unknown = null;
  try {
    b.free(p);
  } catch (e) {
    err = e;
  }
  if (!(err instanceof TopiaryError) || err.status !== Status.INVALID_ARGUMENT) {
    throw new Error(`got ${err}`);
  }
  if (!/free: .*is not a live buffer/.test(err.message)) throw new Error(err.message);
  const host = new Uint8Array(64);
  const foreign = Deno.UnsafePointer.of(host)!;
  assertThrowsMsg(() => b.free(foreign), /not a live buffer/);
});

Deno.test("copies outside a buffer are refused", () => {
  const b = getBackend("cpu");
  const p = b.alloc(64);
  try {
    const host = new Uint8Array(128);
    const s = b.sym.tp_copy_from_host(p, 0n, host, 4096n);
    if (s !== Status.INVALID_ARGUMENT) throw new Error(`status ${s}`);
    assertThrowsMsg(
      () => b.check(s, "copy"),
      /copy: tp_copy_from_host: destination needs 4096 bytes but its buffer holds \d+ \(invalid argument\)/,
    );
  } finally {
    b.free(p);
  }
});

Deno.test("an algorithm file on the CPU is accepted and left alone (oneDNN's choice is fixed)", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const cpu = getBackend("cpu");
    assert.ok(cpu.supportsOp("tp_conv_algorithms_file"), "the CPU library has the entry point");
    cpu.useAlgorithmFile(`${dir}/conv_algorithms.txt`);
    const model = new SmallCNN({ seed: 1, backend: cpu });
    try {
      tidy(() => model.forward(uniform([2, 1, 28, 28], { seed: 1n, stream: "algo-file" })));
    } finally {
      model.dispose();
      cpu.useAlgorithmFile(null);
    }
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no file written");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
