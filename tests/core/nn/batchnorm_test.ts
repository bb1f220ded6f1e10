import * as T from "@topiary/core";
import { BatchNorm2d } from "../../../core/nn/mod.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../../_harness.ts";
import * as ref from "../../_reference.ts";
import { moduleGradCheck } from "./_module_check.ts";

const shape = [3, 4, 3, 2];
const C = 4;
const xData = randomData(ref.sizeOf(shape), "bnm-x", -2, 2);
const stats = {
  running_mean: randomData(C, "bnm-rm", -0.5, 0.5),
  running_var: randomData(C, "bnm-rv", 0.5, 1.5),
};
const affineParams = {
  weight: randomData(C, "bnm-w", 0.5, 1.5),
  bias: randomData(C, "bnm-b", -0.5, 0.5),
};

for (const affine of [true, false]) {
  const kind = affine ? "affine" : "non-affine";
  opTest(`BatchNorm2d ${kind}, train mode: values, gradients, unbiased running update`, () => {
    const m = new BatchNorm2d(C, { affine, momentum: 0.2 });
    try {
      moduleGradCheck({
        name: `bn train ${kind}`,
        module: m,
        input: { data: xData, shape },
        params: { ...(affine ? affineParams : {}), ...stats },
        wrt: affine ? ["weight", "bias"] : [],
        reference: (x, p) =>
          ref.batchNorm(x, shape, affine ? p.weight : null, affine ? p.bias : null, 1e-5, null).y,
        fwdAtol: 1e-4,
      });
      // One forward ran: running = 0.8 * old + 0.2 * batch (variance unbiased, n / (n - 1)).
      const x64 = Float64Array.from(Float32Array.from(xData));
      const b = ref.batchNorm(x64, shape, null, null, 1e-5, null);
      const n = shape[0] * shape[2] * shape[3];
      const rm32 = Float32Array.from(stats.running_mean),
        rv32 = Float32Array.from(stats.running_var);
      const wantMean = Array.from(b.mean, (v, c) => 0.8 * rm32[c] + 0.2 * v);
      const wantVar = Array.from(b.var, (v, c) => 0.8 * rv32[c] + 0.2 * v * n / (n - 1));
      assertClose(values(m.runningMean!), wantMean, 1e-5, 1e-4, "running_mean");
      assertClose(values(m.runningVar!), wantVar, 1e-5, 1e-4, "running_var");
      if (m.numBatchesTracked!.item() !== 1) throw new Error("num_batches_tracked must be 1");
    } finally {
      m.dispose();
    }
  });

  opTest(`BatchNorm2d ${kind}, eval mode: running statistics, gradients, no update`, () => {
    const m = new BatchNorm2d(C, { affine });
    m.eval();
    try {
      moduleGradCheck({
        name: `bn eval ${kind}`,
        module: m,
        input: { data: xData, shape },
        params: { ...(affine ? affineParams : {}), ...stats },
        wrt: affine ? ["weight", "bias"] : [],
        reference: (x, p) =>
          ref.batchNorm(x, shape, affine ? p.weight : null, affine ? p.bias : null, 1e-5, {
            mean: p.running_mean,
            var: p.running_var,
          }).y,
        fwdAtol: 1e-4,
      });
      assertClose(values(m.runningMean!), Float32Array.from(stats.running_mean), 0, 0, "mean");
      if (m.numBatchesTracked!.item() !== 0) throw new Error("eval must not count batches");
    } finally {
      m.dispose();
    }
  });
}

opTest("BatchNorm2d state dict: PyTorch names and order, i32 num_batches_tracked", () => {
  const a = new BatchNorm2d(3), n = new BatchNorm2d(3, { affine: false });
  const s = new BatchNorm2d(3, { trackRunningStats: false });
  try {
    const keys = [...a.stateDict().keys()].join();
    if (keys !== "weight,bias,running_mean,running_var,num_batches_tracked") {
      throw new Error(`affine names ${keys}`);
    }
    const nk = [...n.stateDict().keys()].join();
    if (nk !== "running_mean,running_var,num_batches_tracked") throw new Error(`names ${nk}`);
    if ([...s.stateDict().keys()].join() !== "weight,bias") throw new Error("no-stats names");
    const nbt = a.stateDict().get("num_batches_tracked")!;
    if (nbt.dtype !== "i32" || nbt.ndim !== 0) throw new Error(`num_batches_tracked ${nbt}`);
    if (a.parameterCount() !== 6 || n.parameterCount() !== 0) throw new Error("counts");
    assertClose(values(a.weight!), [1, 1, 1], 0, 0, "weight init");
    assertClose(values(a.runningVar!), [1, 1, 1], 0, 0, "running_var init");
    // Without running statistics, eval mode still uses batch statistics (as PyTorch).
    s.eval();
    const x = T.tensor(Float32Array.from(randomData(2 * 3 * 2 * 2, "bn-s")), [2, 3, 2, 2]);
    const y = values(s.forward(x));
    const yr = ref.batchNorm(Float64Array.from(values(x)), [2, 3, 2, 2], null, null, 1e-5, null).y;
    assertClose(y, yr, 1e-4, 1e-4, "no-stats eval");
    // Two training passes count two batches.
    a.forward(x);
    a.forward(x);
    if (a.numBatchesTracked!.item() !== 2) throw new Error("expected 2 batches");
    assertThrowsMsg(
      () => a.forward(T.zeros([2, 4, 2, 2])),
      /BatchNorm2d\(3\) expects input \[N, 3, H, W\], got \[2, 4, 2, 2\]/,
    );
  } finally {
    a.dispose();
    n.dispose();
    s.dispose();
  }
});
