import * as T from "@topiary/core";
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  Conv2d,
  Flatten,
  Identity,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
} from "../../../core/nn/mod.ts";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../../_harness.ts";
import * as ref from "../../_reference.ts";
import { moduleGradCheck } from "./_module_check.ts";

const shape = [2, 3, 6, 6];
const xData = randomData(ref.sizeOf(shape), "layers-x");
const geom = (kernel: number, stride: number, pad: number, kind: ref.PoolGeom["kind"]) => ({
  N: 2,
  C: 3,
  H: 6,
  W: 6,
  kernel: [kernel, kernel] as [number, number],
  stride: [stride, stride] as [number, number],
  pad: [pad, pad] as [number, number],
  kind,
});

opTest("ReLU: values and gradient (kinks skipped)", () => {
  moduleGradCheck({
    name: "relu",
    module: new ReLU(),
    input: { data: xData, shape },
    wrt: [],
    reference: (x) => x.map((v) => Math.max(v, 0)),
    skip: (_w, k) => Math.abs(xData[k]) < 2e-3,
  });
});

opTest("MaxPool2d 3x3 stride 2 padding 1: values and gradient", () => {
  moduleGradCheck({
    name: "maxpool",
    module: new MaxPool2d(3, { stride: 2, padding: 1 }),
    input: { data: xData, shape },
    wrt: [],
    reference: (x) => ref.pool2d(x, geom(3, 2, 1, "max")),
    h: 1e-6,
  });
});

opTest("AvgPool2d 2x2 and AdaptiveAvgPool2d (1x1, 3x3, identity): values and gradients", () => {
  moduleGradCheck({
    name: "avgpool",
    module: new AvgPool2d(2),
    input: { data: xData, shape },
    wrt: [],
    reference: (x) => ref.pool2d(x, geom(2, 2, 0, "avgInclude")),
  });
  moduleGradCheck({
    name: "adaptive 1x1",
    module: new AdaptiveAvgPool2d(1),
    input: { data: xData, shape },
    wrt: [],
    reference: (x) => ref.pool2d(x, geom(6, 6, 0, "avgInclude")),
  });
  moduleGradCheck({
    name: "adaptive 3x3",
    module: new AdaptiveAvgPool2d([3, 3]),
    input: { data: xData, shape },
    wrt: [],
    reference: (x) => ref.pool2d(x, geom(2, 2, 0, "avgInclude")),
  });
  moduleGradCheck({
    name: "adaptive identity",
    module: new AdaptiveAvgPool2d(6),
    input: { data: xData, shape },
    wrt: [],
    reference: (x) => x.slice(),
  });
  assertThrowsMsg(
    () => new AdaptiveAvgPool2d(4).forward(T.zeros([1, 3, 6, 6])),
    /AdaptiveAvgPool2d\(4x4\): input \[1, 3, 6, 6\] .*not a multiple/,
  );
});

opTest("Flatten and Identity: values, gradients, fresh handles", () => {
  moduleGradCheck({
    name: "flatten",
    module: new Flatten(),
    input: { data: xData, shape },
    wrt: [],
    reference: (x) => x.slice(),
  });
  const x = T.tensor(Float32Array.from(xData), shape);
  const f = new Flatten().forward(x);
  if (f.shape.join() !== "2,108") throw new Error(`flatten shape ${f.shape}`);
  const i = new Identity().forward(x);
  if (i === x) throw new Error("Identity must return a new handle");
  i.dispose();
  assertClose(values(x), Float32Array.from(xData), 0, 0, "input survives");
});

opTest("Sequential: children named by index, PyTorch state-dict order, chained forward", () => {
  const net = new Sequential(
    new Conv2d(3, 4, 3, { padding: 1, seed: 1 }),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(4 * 3 * 3, 5, { seed: 2 }),
  );
  try {
    const names = [...net.stateDict().keys()].join();
    if (names !== "0.weight,0.bias,4.weight,4.bias") throw new Error(`names ${names}`);
    if (net.length !== 5 || !(net.at(4) instanceof Linear)) throw new Error("children");
    const x = T.tensor(Float32Array.from(xData), shape);
    const y = net.forward(x);
    // Same as applying the layers one by one.
    let h = x;
    for (const m of net.modules()) h = m.forward(h);
    assertClose(values(y), values(h), 0, 0, "sequential");
    if (new Sequential().forward(x) === x) throw new Error("empty Sequential must return a handle");
    assertThrowsMsg(() => net.at(7), /no child 7 \(it has 5\)/);
  } finally {
    net.dispose();
  }
});

opTest("Sequential disposes intermediates during the forward pass but gradients still flow", () => {
  const net = new Sequential(new Conv2d(3, 4, 3, { seed: 1 }), new ReLU(), new Flatten());
  try {
    const b = T.getDefaultBackend();
    const x = T.tensor(Float32Array.from(xData), shape, { requiresGrad: true });
    const before = b.memoryStats().liveBuffers;
    const y = net.forward(x);
    const loss = T.sum(y);
    const [g] = T.grad(loss, [x]);
    if (g.shape.join() !== shape.join()) throw new Error("gradient shape");
    loss.dispose();
    y.dispose();
    g.dispose();
    if (b.memoryStats().liveBuffers !== before) {
      throw new Error(`${b.memoryStats().liveBuffers - before} buffers left after backward`);
    }
  } finally {
    net.dispose();
  }
});
