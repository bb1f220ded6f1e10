import * as T from "@topiary/core";
import { MadryCNN, ResNet, VGG } from "../../../core/models/mod.ts";
import type { Module } from "../../../core/nn/mod.ts";
import { opTest } from "../../_harness.ts";

// oneDNN (the CPU backend) has blocked layouts; CUDA keeps every tensor plain NCHW (format 0).
let blocked = true;

/** Applies modules one by one, asserting every output is in the backend's layout. */
function expectBlocked(what: string, x: T.Tensor, modules: readonly Module[]): T.Tensor {
  let h = x;
  modules.forEach((m, i) => {
    h = m.forward(h);
    if ((h.fmt !== 0) !== blocked) {
      throw new Error(
        `${what}: output of child ${i} (${m}) has format ${h.fmt}, expected ` +
          (blocked ? "the blocked layout" : "plain NCHW"),
      );
    }
  });
  return h;
}

opTest("conv / BN / ReLU / pool chains and residual blocks stay in the backend's layout", (b) => {
  blocked = b.name === "cpu";
  const x = T.uniform([1, 3, 32, 32], { seed: 1, stream: "x" });
  const v = new VGG({ seed: 0, depth: 11, init: false });
  const r = new ResNet({ seed: 0, blocks: [1, 1, 1, 1], init: false });
  const m = new MadryCNN({ seed: 0, width: 2, init: false });
  try {
    expectBlocked("VGG-11-BN features", x, v.features.modules());
    const stem = expectBlocked("ResNet stem", x, [r.conv1, r.bn1]);
    expectBlocked("ResNet stages", T.relu(stem), r.layers);
    const xm = T.uniform([2, 1, 28, 28], { seed: 1, stream: "xm" });
    const conv1 = m.namedChildren()[0][1];
    const h = expectBlocked("Madry conv1", xm, [conv1]);
    if ((T.maxPool2d(T.relu(h), { kernel: 2 }).fmt !== 0) !== blocked) {
      throw new Error("Madry pool left the backend's layout");
    }
  } finally {
    for (const n of [v, r, m]) n.dispose();
  }
});
