/**
 * Filter pruning: the physically smaller network computes the same outputs as the masked one
 * (filters, biases and batch-norm channels zeroed), keeps the largest-norm filters, and
 * refuses what it cannot shrink.
 * @module
 */

import assert from "node:assert/strict";
import {
  BatchNorm2d,
  Classifier,
  Conv2d,
  copyFromHost,
  createModel,
  Flatten,
  getDefaultBackend,
  Linear,
  type Module,
  noGrad,
  ReLU,
  runChain,
  type Tensor,
  tidy,
  uniform,
} from "@topiary/core";
import {
  applyFilterPlan,
  deadFilterPlan,
  planFilters,
  pruneFilters,
  zeroFilters,
} from "@topiary/pruning";
import { assertThrowsMsg } from "../_harness.ts";

function live(): number {
  return getDefaultBackend().memoryStats().liveBuffers;
}

/** conv -> non-affine batch norm -> ReLU -> flatten -> linear. */
class NonAffine extends Classifier {
  readonly inputShape = [1, 8, 8];
  readonly numClasses = 2;
  private readonly chain: Module[] = [
    new Conv2d(1, 4, 3),
    new BatchNorm2d(4, { affine: false }),
    new ReLU(),
    new Flatten(),
    new Linear(4 * 36, 2),
  ];
  constructor() {
    super();
    this.chain.forEach((m, i) => this.registerModule(String(i), m));
  }
  override sequence(): readonly Module[] {
    return this.chain;
  }
  protected logits(x: Tensor): Tensor {
    return runChain(x, this.chain);
  }
}

/** Random running statistics, so eval-mode batch norm is not the identity. */
function randomStats(m: Classifier): void {
  let s = 1;
  noGrad(() => {
    for (const [, b] of m.namedModules()) {
      if (!(b instanceof BatchNorm2d)) continue;
      const n = b.numFeatures;
      copyFromHost(
        b.runningMean!,
        Float32Array.from({ length: n }, () => ((s = (s * 48271) % 2147483647) / 2147483647) - 0.5),
      );
      copyFromHost(b.runningVar!, Float32Array.from({ length: n }, (_, i) => 0.5 + (i % 5) / 5));
      copyFromHost(b.weight!, Float32Array.from({ length: n }, (_, i) => 0.5 + (i % 3) / 3));
      copyFromHost(b.bias!, Float32Array.from({ length: n }, (_, i) => (i % 4) / 8 - 0.2));
    }
  });
}

const CASES: [string, number[], boolean][] = [
  ["small_cnn", [1, 28, 28], true],
  ["madry_cnn", [1, 28, 28], false],
  ["lenet5", [1, 28, 28], true],
  ["vgg16_bn", [3, 32, 32], false],
];

for (const [name, shape, units] of CASES) {
  Deno.test(`filter pruning ${name}${units ? " (with units)" : ""}: smaller, same outputs as masked`, () => {
    const before = live();
    const masked = createModel(name, { seed: 3 }), small = createModel(name, { seed: 3 });
    try {
      for (const m of [masked, small]) {
        randomStats(m);
        m.eval();
      }
      const plan = planFilters(small, { sparsity: 0.5, units });
      assert.ok(Object.keys(plan).length >= 2, JSON.stringify(Object.keys(plan)));
      const params = small.parameterCount();
      applyFilterPlan(small, plan);
      zeroFilters(masked, plan);
      assert.ok(small.parameterCount() < 0.6 * params, `${small.parameterCount()} of ${params}`);
      tidy(() => {
        const x = uniform([2, ...shape], { seed: 1, stream: "x" });
        const a = masked.forward(x).toArray() as Float32Array;
        const b = small.forward(x).toArray() as Float32Array;
        const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let i = 0; i < a.length; i++) {
          assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * scale + 1e-6, `logit ${i}: ${a[i]} vs ${b[i]}`);
        }
      });
    } finally {
      masked.dispose();
      small.dispose();
    }
    assert.equal(live() - before, 0, "native buffers leaked");
  });
}

Deno.test("deadFilterPlan finds exactly the channels that output zero, and exports them smaller", () => {
  const before = live();
  for (const name of ["small_cnn", "vgg16_bn"]) {
    const masked = createModel(name, { seed: 4 }), small = createModel(name, { seed: 4 });
    try {
      for (const m of [masked, small]) {
        randomStats(m);
        m.eval();
      }
      const plan = planFilters(masked, { sparsity: 0.5 });
      zeroFilters(masked, plan);
      // Found from the weights alone: the same plan.
      assert.deepEqual(deadFilterPlan(masked), plan, name);
      // Export the masked model itself: same outputs, fewer parameters.
      const sd = masked.stateDict();
      small.loadStateDict(sd);
      applyFilterPlan(small, deadFilterPlan(small));
      assert.ok(small.parameterCount() < masked.parameterCount());
      tidy(() => {
        const shape = name === "vgg16_bn" ? [2, 3, 32, 32] : [2, 1, 28, 28];
        const x = uniform(shape, { seed: 3, stream: "dead-x" });
        const a = masked.forward(x).toArray() as Float32Array;
        const b = small.forward(x).toArray() as Float32Array;
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-4, `${name} ${i}`);
      });
    } finally {
      masked.dispose();
      small.dispose();
    }
  }
  // A zero filter with a positive bias outputs a constant through the ReLU: it stays; with a
  // negative bias the ReLU zeroes it: it goes.
  const m = createModel("small_cnn", { seed: 1 });
  try {
    const p = new Map(m.namedParameters());
    noGrad(() => {
      const w = p.get("0.weight")!.toArray() as Float32Array;
      w.fill(0, 0, 2 * 16);
      copyFromHost(p.get("0.weight")!, w);
      const b = p.get("0.bias")!.toArray() as Float32Array;
      b[0] = 0.5, b[1] = -0.5;
      copyFromHost(p.get("0.bias")!, b);
    });
    assert.deepEqual(deadFilterPlan(m), {
      "0": Array.from({ length: 15 }, (_, i) => (i === 0 ? 0 : i + 1)),
    });
  } finally {
    m.dispose();
  }
  assert.equal(live() - before, 0, "native buffers leaked");
});

Deno.test("filter pruning keeps the filters of largest L1 (or L2) norm; errors", () => {
  const m = createModel("small_cnn", { seed: 9 });
  try {
    const w = m.namedParameters().find(([n]) => n === "2.weight")![1].toArray() as Float32Array;
    const inner = w.length / 32;
    const l1 = Array.from(
      { length: 32 },
      (_, o) => w.subarray(o * inner, (o + 1) * inner).reduce((s, v) => s + Math.abs(v), 0),
    );
    const expect = [...l1.keys()].sort((a, b) => l1[b] - l1[a]).slice(0, 8).sort((a, b) => a - b);
    const plan = planFilters(m, { sparsity: 0.75 });
    assert.deepEqual(plan["2"], expect);
    assert.deepEqual(Object.keys(plan), ["0", "2"], "convolutions only by default");
    assert.equal(planFilters(m, { sparsity: 0.75, norm: "l2" })["2"].length, 8);
    assert.deepEqual(Object.keys(planFilters(m, { sparsity: 0.5, units: true })), ["0", "2", "5"]);
    assert.deepEqual(Object.keys(planFilters(m, { sparsity: 0.5, exclude: ["0"] })), ["2"]);
    assertThrowsMsg(() => planFilters(m, { sparsity: 1 }), /sparsity must be in \[0, 1\)/);
    assertThrowsMsg(
      () => planFilters(m, { sparsity: 0.5, norm: "l0" as never }),
      /unknown norm "l0"/,
    );
    assertThrowsMsg(() => planFilters(m, { sparsity: 0.5, exclude: ["9"] }), /no module "9"/);
    assertThrowsMsg(() => applyFilterPlan(m, { "7": [0] }), /"7" is the output layer/);
    assertThrowsMsg(() => applyFilterPlan(m, { "0": [3, 1] }), /increasing integers in \[0, 16\)/);
    assertThrowsMsg(() => applyFilterPlan(m, { "4": [0] }), /"4" is not a Conv2d or Linear/);
    pruneFilters(m, { sparsity: 0.75 });
    assert.deepEqual(m.namedParameters().find(([n]) => n === "5.weight")![1].shape, [100, 8 * 49]);
  } finally {
    m.dispose();
  }
  // A non-affine batch norm cannot zero a removed channel: the masked counterpart refuses.
  const t = new NonAffine();
  try {
    assertThrowsMsg(
      () => zeroFilters(t, { "0": [0, 1] }),
      /batch norm "1" is not affine: a removed channel would output -mean\/std/,
    );
  } finally {
    t.dispose();
  }
  const r = createModel("resnet18", { seed: 0 });
  try {
    assertThrowsMsg(() => planFilters(r, { sparsity: 0.5 }), /needs a sequential network; ResNet/);
  } finally {
    r.dispose();
  }
});
