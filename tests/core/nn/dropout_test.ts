import * as T from "@topiary/core";
import {
  Dropout,
  Linear,
  Sequential,
  setStochasticContext,
  StochasticContext,
} from "../../../core/nn/mod.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../../_harness.ts";

const shape = [8, 64];
const xData = Float32Array.from(randomData(8 * 64, "drop-x", 0.5, 1.5));

opTest("Dropout train: each value is 0 or x / (1 - p), the kept fraction is near 1 - p", () => {
  const d = new Dropout(0.25, { context: new StochasticContext(5) });
  const x = T.tensor(xData, shape);
  const y = values(d.forward(x));
  let kept = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 0) continue;
    kept++;
    assertClose([y[i]], [xData[i] / 0.75], 1e-6, 1e-6, `element ${i}`);
  }
  const frac = kept / y.length;
  if (Math.abs(frac - 0.75) > 0.06) throw new Error(`kept fraction ${frac}, expected ~0.75`);
});

opTest("Dropout eval and p = 0: identity (a new handle); p = 1: zeros", () => {
  const x = T.tensor(xData, shape);
  const d = new Dropout(0.5);
  d.eval();
  const y = d.forward(x);
  if (y === x) throw new Error("eval dropout must return a new handle");
  assertClose(values(y), xData, 0, 0, "eval");
  assertClose(values(new Dropout(0).forward(x)), xData, 0, 0, "p = 0");
  assertClose(values(new Dropout(1).forward(x)), new Float32Array(xData.length), 0, 0, "p = 1");
  assertThrowsMsg(() => new Dropout(1.5), /p must be in \[0, 1\]/);
});

opTest("Dropout gradient is the scaled mask", () => {
  const d = new Dropout(0.5, { context: new StochasticContext(1) });
  const x = T.tensor(xData, shape, { requiresGrad: true });
  const y = d.forward(x);
  const [g] = T.grad(T.sum(y), [x]);
  const yv = values(y), gv = values(g);
  for (let i = 0; i < yv.length; i++) {
    const want = yv[i] === 0 ? 0 : 2;
    if (gv[i] !== want) throw new Error(`gradient ${i}: ${gv[i]} != ${want}`);
  }
});

opTest("Dropout masks are reproducible from (seed, step, call) and differ across them", () => {
  const net = () => new Sequential(new Linear(64, 64, { seed: 1 }), new Dropout(0.5));
  const x = T.tensor(xData, shape);
  const run = (seed: number, step: number, calls: number) => {
    const m = net();
    try {
      const ctx = new StochasticContext(seed);
      setStochasticContext(m, ctx);
      ctx.setStep(step);
      let y = m.forward(x);
      for (let c = 1; c < calls; c++) y = m.forward(x);
      return values(y);
    } finally {
      m.dispose();
    }
  };
  const a = run(3, 10, 1), b = run(3, 10, 1);
  assertClose(a, b, 0, 0, "same address");
  const same = (u: Float64Array, v: Float64Array) => u.every((e, i) => e === v[i]);
  if (same(a, run(3, 11, 1))) throw new Error("another step must give another mask");
  if (same(a, run(4, 10, 1))) throw new Error("another seed must give another mask");
  if (same(a, run(3, 10, 2))) throw new Error("a second call in a step must give another mask");
  // Resuming: a context created at step 10 draws what a context moved to step 10 draws.
  const m = net();
  try {
    const ctx = new StochasticContext(3, 10);
    setStochasticContext(m, ctx);
    assertClose(values(m.forward(x)), a, 0, 0, "resumed at step 10");
    const d = m.at(1) as Dropout;
    if (d.streamName !== "dropout:1") throw new Error(`stream ${d.streamName}`);
  } finally {
    m.dispose();
  }
});

opTest("Dropout without a context refuses to train", () => {
  assertThrowsMsg(
    () => new Dropout(0.5).forward(T.tensor(xData, shape)),
    /no StochasticContext; call setStochasticContext/,
  );
  assertThrowsMsg(() => new StochasticContext(1).setStep(-1), /step must be a non-negative/);
});
