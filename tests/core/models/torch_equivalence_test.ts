/**
 * PyTorch equivalence: our weights, written as safetensors, load by name with strict=True
 * into the PyTorch twin of each model (tests/core/models/torch_models.py, Debian's
 * python3-torch), which then gives the same logits (|Δ| <= 1e-4) in train and eval mode, the
 * same input gradient and the same running statistics after a train-mode pass. State-dict
 * names, shapes, dtypes and order are compared for every model of the zoo.
 * Runs whenever /usr/bin/python3 has torch, and always under CI=true (failing if it is
 * missing there).
 */

import * as T from "@topiary/core";
import { createModel, type ModelSpec } from "../../../core/models/mod.ts";
import { BatchNorm2d, type Module } from "../../../core/nn/mod.ts";
import { liveBuffers, randomData, testBackends } from "../../_harness.ts";
import {
  PYTHON,
  torchAvailable,
  TorchProcess,
  type TorchResult,
  type TorchSpec,
  writeTensors,
} from "./_torch.ts";

const CI = Deno.env.get("CI") === "true";

/** Models whose names, shapes and order are compared (built without initialisation). */
const NAMES: TorchSpec[] = [
  { name: "mlp", model: "mlp" },
  { name: "lenet5", model: "lenet5" },
  { name: "caffe_lenet", model: "caffe_lenet" },
  { name: "small_cnn", model: "small_cnn" },
  { name: "madry_cnn", model: "madry_cnn" },
  { name: "vgg16_bn", model: "vgg16_bn" },
  { name: "resnet18", model: "resnet18" },
  { name: "wrn_28_4", model: "wrn", args: { depth: 28, widen: 4 } },
  { name: "wrn_16_2_hydra", model: "wrn", args: { depth: 16, widen: 2, hydraSubBlock: true } },
];

/** Models run on both sides (batch size per model keeps the test fast). */
const RUNS: (TorchSpec & { batch: number })[] = [
  { name: "small_cnn", model: "small_cnn", batch: 4 },
  { name: "lenet5", model: "lenet5", batch: 4 },
  { name: "madry_cnn_w4", model: "madry_cnn", args: { width: 4 }, batch: 4 },
  { name: "mlp", model: "mlp", batch: 4 },
  { name: "caffe_lenet", model: "caffe_lenet", batch: 4 },
  { name: "vgg16_bn", model: "vgg16_bn", batch: 2 },
  { name: "resnet18", model: "resnet18", batch: 2 },
  { name: "wrn_16_2", model: "wrn", args: { depth: 16, widen: 2 }, batch: 2 },
];

function build(s: TorchSpec, init: boolean): Module & { inputShape: readonly number[] } {
  const opts: ModelSpec = { seed: 11, ...(s.args ?? {}), ...(init ? {} : { init: false }) };
  return createModel(s.model, opts);
}

/** Non-trivial batch-norm state, so eval mode is not the identity. */
function perturbBatchNorms(model: Module): void {
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    const c = m.numFeatures;
    const set = (t: T.Tensor | null, what: string, lo: number, hi: number) => {
      if (t) T.copyFromHost(t, Float32Array.from(randomData(c, `${name}.${what}`, lo, hi)));
    };
    set(m.weight, "weight", 0.5, 1.5);
    set(m.bias, "bias", -0.2, 0.2);
    set(m.runningMean, "running_mean", -0.2, 0.2);
    set(m.runningVar, "running_var", 0.5, 1.5);
    if (m.numBatchesTracked) T.copyFromHost(m.numBatchesTracked, Int32Array.of(3));
  }
}

/** Writes state0, the train/eval passes (io) and the buffers after training (state1). */
function runOurs(dir: string, s: (typeof RUNS)[number]): void {
  const model = build(s, true);
  try {
    perturbBatchNorms(model);
    writeTensors(`${dir}/${s.name}.state0`, model.stateDict());
    const shape = [s.batch, ...model.inputShape];
    const x = T.uniform(shape, { seed: 3, stream: `x-${s.name}` });
    x.requiresGrad = true;
    model.train();
    const y = model.forward(x);
    const r = T.uniform(y.shape, { seed: 3, stream: `r-${s.name}` }, 0.5, 1.5);
    const [gx] = T.grad(T.sum(T.mul(y, r)), [x]);
    writeTensors(`${dir}/${s.name}.state1`, model.namedBuffers());
    model.eval();
    const yEval = T.noGrad(() => model.forward(x));
    writeTensors(`${dir}/${s.name}.io`, [
      ["x", x],
      ["r", r],
      ["y_train", y],
      ["gx", gx],
      ["y_eval", yEval],
    ]);
  } finally {
    model.dispose();
  }
}

function ourNames(s: TorchSpec): { names: [string, number[], string][]; params: number } {
  const model = build(s, false);
  try {
    const names: [string, number[], string][] = [...model.stateDict()].map(([k, t]) => [
      k,
      t.shape.slice(),
      t.dtype === "f32" ? "float32" : k.endsWith("num_batches_tracked") ? "int64" : t.dtype,
    ]);
    return { names, params: model.parameterCount() };
  } finally {
    model.dispose();
  }
}

function check(dir: string, res: TorchResult): string[] {
  const errors: string[] = [];
  for (const s of NAMES) {
    const got = res.names[s.name], want = ourNames(s);
    if (!got || got.error) {
      errors.push(`${s.name}: PyTorch could not build it: ${got?.error}`);
      continue;
    }
    const a = JSON.stringify(want.names), b = JSON.stringify(got.names);
    if (a !== b) {
      const i = want.names.findIndex((n, k) => JSON.stringify(n) !== JSON.stringify(got.names[k]));
      errors.push(
        `${s.name}: state dict differs at entry ${i}: ours ${JSON.stringify(want.names[i])}, ` +
          `PyTorch ${JSON.stringify(got.names[i])} (${want.names.length} vs ${got.names.length})`,
      );
    }
    if (want.params !== got.params) {
      errors.push(`${s.name}: ${want.params} parameters, PyTorch ${got.params}`);
    }
  }
  for (const s of RUNS) {
    const r = res.runs[s.name];
    if (!r || r.error) {
      errors.push(`${s.name}: PyTorch run failed: ${r?.error} (files in ${dir})`);
      continue;
    }
    const bad = (what: string, v: number, tol: number) => {
      if (!(v <= tol)) errors.push(`${s.name}: ${what} differs by ${v} (tolerance ${tol})`);
    };
    bad("train-mode logits", r.y_train, 1e-4);
    bad("eval-mode logits", r.y_eval, 1e-4);
    bad("input gradient", r.gx, 1e-4 + 1e-3 * r.gx_scale);
    bad("buffers after the train-mode pass", r.buffers, 1e-5);
  }
  return errors;
}

const available = torchAvailable();
if (!available && !CI) {
  console.warn(
    `torch_equivalence_test: skipped: ${PYTHON} cannot import torch ` +
      `(install Debian's python3-torch; under CI=true this test runs and fails instead)`,
  );
  Deno.test({
    name: `PyTorch equivalence (skipped: ${PYTHON} cannot import torch)`,
    ignore: true,
    fn() {},
  });
} else {
  for (const b of testBackends()) {
    Deno.test(
      `PyTorch equivalence: strict load by name, same logits, gradients, statistics [${b.name}]`,
      async () => {
        if (!available) {
          throw new Error(`CI=true but ${PYTHON} cannot import torch (python3-torch)`);
        }
        // Python imports torch while we build, run and write the models.
        const py = new TorchProcess();
        const dir = Deno.makeTempDirSync({ prefix: "topiary-torch-" });
        let ok = false;
        try {
          T.setDefaultBackend(b);
          const before = liveBuffers(b);
          try {
            for (const s of RUNS) T.tidy(() => runOurs(dir, s));
          } catch (e) {
            await py.kill();
            throw e;
          }
          const leaked = liveBuffers(b) - before;
          if (leaked !== 0) throw new Error(`${leaked} native buffers leaked`);
          const res = await py.finish(dir, { names: NAMES, runs: RUNS });
          const errors = check(dir, res);
          if (errors.length) {
            throw new Error(`PyTorch ${res.torch} disagrees:\n  ${errors.join("\n  ")}`);
          }
          ok = true;
        } finally {
          // Keep the files of a failed run for inspection.
          if (ok) Deno.removeSync(dir, { recursive: true });
        }
      },
    );
  }
}
