/**
 * `deno task demo`: an end-to-end check of the native core. A tiny conv net
 * (conv 3x3 -> batch norm -> relu -> max-pool -> linear) learns a synthetic 4-class image
 * task with a few dozen SGD steps; loss and accuracy are printed. (The training issue turns
 * this into MNIST training.)
 * @module
 */

import {
  argmax,
  batchNorm2d,
  cast,
  conv2d,
  eq,
  flatten,
  full,
  getDefaultBackend,
  grad,
  linear,
  maxPool2d,
  mean,
  noGrad,
  relu,
  sgdUpdate,
  softmaxCrossEntropy,
  type Tensor,
  tensor,
  tidy,
  uniform,
  zeros,
} from "@topiary/core";
import { philoxUniform } from "@topiary/core";

const seed = 0;
const classes = 4, size = 8, batch = 64, steps = 80;

/** Synthetic images: class c lights up quadrant c (plus noise). */
function makeBatch(step: number): { x: Tensor; y: Tensor } {
  const noise = philoxUniform(batch * size * size + batch, seed, "demo-data", step);
  const xs = new Float32Array(batch * size * size);
  const ys = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    const c = Math.floor(noise[batch * size * size + i] * classes);
    ys[i] = c;
    for (let h = 0; h < size; h++) {
      for (let w = 0; w < size; w++) {
        const q = (h < size / 2 ? 0 : 2) + (w < size / 2 ? 0 : 1);
        const k = (i * size + h) * size + w;
        xs[k] = noise[k] + (q === c ? 0.25 : 0);
      }
    }
  }
  return { x: tensor(xs, [batch, 1, size, size]), y: tensor(ys, [batch], { dtype: "i32" }) };
}

/** Kaiming-uniform init as PyTorch's default for conv and linear layers. */
function init(shape: number[], fanIn: number, stream: string): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const t = uniform(shape, { seed, stream }, -bound, bound);
  t.requiresGrad = true;
  return t.keep();
}

const params = {
  convW: init([8, 1, 3, 3], 9, "conv.weight"),
  convB: init([8], 9, "conv.bias"),
  bnW: full([8], 1, { requiresGrad: true }).keep(),
  bnB: full([8], 0, { requiresGrad: true }).keep(),
  fcW: init([classes, 8 * 4 * 4], 128, "fc.weight"),
  fcB: init([classes], 128, "fc.bias"),
};
const runMean = zeros([8]).keep(), runVar = full([8], 1).keep();
const list = Object.values(params);
const bufs = list.map((p) => zeros(p.shape).keep());

function forward(x: Tensor, training: boolean): Tensor {
  let h = conv2d(x, params.convW, params.convB, { padding: 1 });
  h = batchNorm2d(h, {
    weight: params.bnW,
    bias: params.bnB,
    runningMean: runMean,
    runningVar: runVar,
    training,
  });
  h = maxPool2d(relu(h), { kernel: 2 });
  return linear(flatten(h), params.fcW, params.fcB);
}

const b = getDefaultBackend();
console.log(`topiary demo: ${b.name} backend, ${b.threads} threads, oneDNN ${b.info().onednn}`);
const t0 = performance.now();
let first = 0, last = 0;
for (let step = 0; step < steps; step++) {
  const loss = tidy(() => {
    const { x, y } = makeBatch(step);
    const l = softmaxCrossEntropy(forward(x, true), y);
    const gs = grad(l, list);
    noGrad(() =>
      list.forEach((p, i) =>
        sgdUpdate(p, gs[i], { lr: 0.1, momentum: 0.9, buf: bufs[i], firstStep: step === 0 })
      )
    );
    return l.item();
  });
  if (step === 0) first = loss;
  last = loss;
  if (step % 10 === 0 || step === steps - 1) {
    console.log(`step ${String(step).padStart(3)}  loss ${loss.toFixed(4)}`);
  }
}
const acc = tidy(() => {
  const { x, y } = makeBatch(10_000);
  const pred = noGrad(() => argmax(forward(x, false), 1));
  return mean(eq(cast(pred, "f32"), cast(y, "f32"))).item();
});
const ms = performance.now() - t0;
console.log(
  `held-out accuracy ${(acc * 100).toFixed(1)}% after ${steps} steps (${ms.toFixed(0)} ms)`,
);
const live = b.memoryStats().liveBuffers;
console.log(`live native buffers: ${live} (parameters, buffers and state)`);
if (!(last < first * 0.5) || acc < 0.9) {
  console.error(`demo FAILED: loss ${first.toFixed(3)} -> ${last.toFixed(3)}, accuracy ${acc}`);
  Deno.exit(1);
}
