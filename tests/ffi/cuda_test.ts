/**
 * The CUDA backend: built wherever nvcc is, every ABI entry point present, a clear and
 * distinct status where there is no driver or device, devices named and moved between, and
 * (on a GPU) the same numbers as the CPU backend for a whole network's forward and backward
 * pass (also with cuDNN's algorithms timed), the CPU's random stream, and a steady state with
 * no device allocations.
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  availableBackends,
  builtLibraryPath,
  getBackend,
  openLibrary,
  Status,
  TopiaryError,
} from "@topiary/ffi";
import {
  add,
  backendOfDevice,
  grad,
  setDefaultBackend,
  softmaxCrossEntropy,
  Tensor,
  tidy,
  uniform,
} from "@topiary/core";
import { SmallCNN } from "../../core/models/small_cnn.ts";
import { findNvcc } from "../../native/build_cuda.ts";
import { randomData } from "../_harness.ts";

const nvcc = await findNvcc();
const built = (() => {
  try {
    return Deno.statSync(builtLibraryPath("cuda")).isFile;
  } catch {
    return false;
  }
})();
const cudaUp = availableBackends().includes("cuda");
// TOPIARY_CUDA_BENCHMARK as the native side reads it: set and not "0".
const benchmarkEnv = Deno.env.get("TOPIARY_CUDA_BENCHMARK");
const benchmarkOn = benchmarkEnv !== undefined && benchmarkEnv !== "" && benchmarkEnv !== "0";

/** Whether the NVIDIA driver library can be opened here at all. */
function driverPresent(): boolean {
  try {
    Deno.dlopen("libcuda.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("the CUDA shim is built wherever nvcc is, with every ABI entry point", () => {
  if (!nvcc || Deno.env.get("TOPIARY_BUILD_CUDA") === "0") return;
  assert.ok(built, `nvcc (${nvcc}) is installed but ${builtLibraryPath("cuda")} was not built`);
  // Deno.dlopen resolves the whole symbol table: a missing tp_ function fails here.
  openLibrary(builtLibraryPath("cuda")).close();
});

Deno.test("without a driver or device the CUDA backend says so with its own status", () => {
  if (!built || cudaUp) return;
  let err: unknown = null;
  try {
    getBackend("cuda");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof TopiaryError, `expected a TopiaryError, got ${err}`);
  const expected: number[] = driverPresent()
    ? [Status.NO_DEVICE, Status.LIBRARY_MISSING]
    : [Status.NO_DRIVER];
  assert.ok(expected.includes(err.status), `status ${err.status}: ${err.message}`);
  if (err.status === Status.NO_DRIVER) assert.match(err.message, /no usable NVIDIA driver/);
  if (err.status === Status.NO_DEVICE) assert.match(err.message, /no CUDA device/);
  if (err.status === Status.LIBRARY_MISSING) assert.match(err.message, /TOPIARY_CUDA_LIBDIRS/);
  assert.deepEqual(availableBackends(), ["cpu"]);
});

Deno.test("devices are named, checked and moved between", () => {
  assert.throws(() => backendOfDevice("gpu"), /device must be "cpu" or "cuda", got "gpu"/);
  tidy(() => {
    const t = Tensor.fromHost([1, 2, 3], [3]);
    const same = t.to("cpu");
    assert.equal(same.storage, t.storage, "to() on the same device shares the storage");
    if (!cudaUp) {
      assert.throws(() => t.to("cuda"), /device "cuda" is not available: .*CUDA/);
    }
  });
});

Deno.test("an op refuses tensors of two devices and names them", () => {
  const cpu = getBackend("cpu");
  // A second device: the real CUDA backend where there is one, else a distinct backend
  // object over the CPU library (only its identity and name matter to the check).
  const other = cudaUp ? getBackend("cuda") : Object.create(cpu, { name: { value: "cuda" } });
  tidy(() => {
    const a = Tensor.fromHost([1, 2], [2], "f32", cpu);
    const b = Tensor.fromHost([3, 4], [2], "f32", other);
    assert.throws(() => add(a, b), /tensors on different devices \(cpu and cuda\).*\.to\(device\)/);
  });
});

/** Largest |a - b| relative to max(1, |b|) over two host arrays. */
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  }
  return m;
}

Deno.test({
  name: "CUDA matches the CPU on SmallCNN's forward and backward pass",
  ignore: !cudaUp,
  fn: () => {
    const cpu = getBackend("cpu"), gpu = getBackend("cuda");
    const x = randomData(16 * 784, "cuda-parity-x", 0, 1);
    const y = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 10);
    const run = (b: typeof cpu) => {
      setDefaultBackend(b);
      const model = new SmallCNN({ seed: 3, backend: b });
      try {
        return tidy(() => {
          const xt = Tensor.fromHost(Float32Array.from(x), [16, 1, 28, 28], "f32", b);
          xt.requiresGrad = true;
          const logits = model.forward(xt);
          const loss = softmaxCrossEntropy(logits, Tensor.fromHost(y, [16], "i32", b));
          const params = [...model.stateDict().values()];
          const grads = grad(loss, [xt, ...params]);
          return { logits: logits.toArray(), grads: grads.map((g) => g.toArray()) };
        });
      } finally {
        model.dispose();
        setDefaultBackend(cpu);
      }
    };
    const c = run(cpu), g = run(gpu);
    assert.ok(maxRelDiff(g.logits, c.logits) < 1e-4, "logits differ");
    g.grads.forEach((gg, i) => assert.ok(maxRelDiff(gg, c.grads[i]) < 1e-3, `gradient ${i}`));
    assert.equal(gpu.info().benchmark, benchmarkOn);
  },
});

Deno.test({
  name: "with TOPIARY_CUDA_BENCHMARK=1 (algorithms timed) CUDA still matches the CPU",
  ignore: !cudaUp || benchmarkOn,
  fn: async () => {
    // The setting is read once per process: the parity test again, in a child.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--no-check", "--filter", "SmallCNN's forward", import.meta.filename!],
      env: { TOPIARY_CUDA_BENCHMARK: "1", NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /ok \| 1 passed/);
  },
});

Deno.test({
  name: "CUDA draws the CPU's uniform stream bit for bit",
  ignore: !cudaUp,
  fn: () => {
    const draw = (b: ReturnType<typeof getBackend>) => {
      setDefaultBackend(b);
      try {
        return tidy(() => uniform([10007], { seed: 11n, stream: "parity", counter: 5 }).toArray());
      } finally {
        setDefaultBackend(getBackend("cpu"));
      }
    };
    assert.deepEqual(draw(getBackend("cuda")), draw(getBackend("cpu")));
  },
});

Deno.test({
  name: "CUDA's caching allocator serves a repeated step without new device allocations",
  ignore: !cudaUp,
  fn: () => {
    const gpu = getBackend("cuda");
    setDefaultBackend(gpu);
    const model = new SmallCNN({ seed: 1, backend: gpu });
    try {
      const step = () =>
        tidy(() => {
          const xt = uniform([32, 1, 28, 28], { seed: 1n, stream: "alloc", counter: 0 });
          const loss = softmaxCrossEntropy(
            model.forward(xt),
            Tensor.fromHost(new Int32Array(32), [32], "i32", gpu),
          );
          grad(loss, [...model.stateDict().values()]);
          loss.item();
        });
      step();
      const s0 = gpu.memoryStats();
      step();
      step();
      const s1 = gpu.memoryStats();
      const fresh = (s1.allocCalls - s1.allocHits) - (s0.allocCalls - s0.allocHits);
      assert.equal(fresh, 0, `${fresh} device allocations in two warm steps`);
      assert.equal(s1.liveBuffers, s0.liveBuffers, "live buffers grew");
    } finally {
      model.dispose();
      setDefaultBackend(getBackend("cpu"));
    }
  },
});

Deno.test({
  name: "a convolution algorithm file makes a later process run the same timed algorithms",
  ignore: !cudaUp,
  fn: async () => {
    const dir = Deno.makeTempDirSync();
    const file = `${dir}/conv_algorithms.txt`;
    const childScript = fileURLToPath(new URL("./_conv_algorithms_child.ts", import.meta.url));
    const spawn = (env: Record<string, string>) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", childScript, file],
        env: { NO_COLOR: "1", ...env },
      }).output();
    const child = async () => {
      const out = await spawn({ TOPIARY_CUDA_BENCHMARK: "1" });
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
        algorithms: string[];
        sum: number;
        rerun: number;
      };
      assert.equal(r.rerun, r.sum, "rebuilt plans ran other algorithms");
      return r;
    };
    const entries = (text: string) => text.split("\n").filter((l) => /^conv_/.test(l));
    try {
      const first = await child();
      const text = Deno.readTextFileSync(file);
      const header = text.split("\n")[0];
      assert.match(header, /^# topiary conv algorithms v1 cudnn=\d+ device=/);
      assert.equal(entries(text).length, new Set(first.algorithms).size, text);
      const second = await child();
      assert.deepEqual(second.algorithms, first.algorithms);
      assert.equal(second.sum, first.sum, "the same algorithms compute the same gradient");
      assert.equal(Deno.readTextFileSync(file), text, "nothing appended when all were known");

      // The file decides: one forward entry set to another algorithm is what runs.
      const lines = entries(text);
      const fwd = lines.findIndex((l) => l.startsWith("conv_fwd "));
      const f = lines[fwd].split(" ");
      const other = f[f.length - 2] === "0" ? "1" : "0";
      f[f.length - 2] = other;
      lines[fwd] = f.join(" ");
      const forced = `${header}\n${lines.join("\n")}\n`;
      Deno.writeTextFileSync(file, forced);
      const third = await child();
      const shown = first.algorithms.filter((a) => a.startsWith("conv_fwd "))[0];
      assert.ok(
        third.algorithms.includes(shown.replace(/: \d+$/, `: ${other}`)),
        `${third.algorithms.join("; ")} lacks the forced algorithm ${other}`,
      );
      assert.equal(Deno.readTextFileSync(file), forced);

      // Another device's section is ignored; this process appends a section of its own.
      const foreign = `# topiary conv algorithms v1 cudnn=1 device=Another GPU\n` +
        lines.map((l) => l.replace(/ \d+ (\d+)$/, " 99 $1")).join("\n") + "\n";
      Deno.writeTextFileSync(file, foreign);
      const fourth = await child();
      assert.ok(!fourth.algorithms.some((a) => a.endsWith(": 99")));
      const after = Deno.readTextFileSync(file);
      assert.ok(after.startsWith(foreign) && after.slice(foreign.length).startsWith(header));

      // A last line cut short (a process killed inside its write) is skipped and cut off
      // before the next entry is appended.
      const whole = `${header}\n${entries(text).slice(0, 2).join("\n")}\n`;
      Deno.writeTextFileSync(file, `${whole}conv_bwd_da`);
      await child();
      const mended = Deno.readTextFileSync(file);
      assert.ok(mended.startsWith(whole) && !mended.includes("conv_bwd_da\n"), mended);
      assert.equal(entries(mended).length, new Set(first.algorithms).size, mended);
      await child(); // the mended file loads
      assert.equal(Deno.readTextFileSync(file), mended);

      // A damaged file is refused, naming the file and the line.
      Deno.writeTextFileSync(file, `${header}\nconv_fwd 1 2 3\n`);
      const bad = await spawn({});
      assert.notEqual(bad.code, 0);
      assert.match(new TextDecoder().decode(bad.stderr), /conv_algorithms\.txt line 2 is not/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
