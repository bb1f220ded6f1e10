import * as T from "@topiary/core";
import { grad, noGrad, type Tensor, tensor } from "@topiary/core";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";

opTest("gradients accumulate over shared inputs", () => {
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  // y = sum(x*x + 3x) -> dy/dx = 2x + 3
  const y = T.sum(T.add(T.mul(x, x), T.mul(x, 3)));
  const [g] = grad(y, [x]);
  assertClose(values(g), [5, 7, 9], 1e-6, 0);
});

opTest("gradients with respect to an intermediate tensor", () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const h = T.mul(x, 2);
  const y = T.sum(T.square(h));
  const [gh, gx] = grad(y, [h, x]);
  assertClose(values(gh), [4, 8], 1e-6, 0);
  assertClose(values(gx), [8, 16], 1e-6, 0);
});

opTest("inputs that do not reach the output get zero gradients", () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const z = tensor([3, 4], [2], { requiresGrad: true });
  const [gz] = grad(T.sum(x), [z]);
  assertClose(values(gz), [0, 0], 0, 0);
});

opTest("noGrad records nothing", () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const y = noGrad(() => T.mul(x, 2));
  if (y.requiresGrad || y.node) throw new Error("noGrad output has a node");
});

opTest("the graph is released after grad unless retained", () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const y = T.sum(T.exp(x));
  grad(y, [x], { retainGraph: true });
  grad(y, [x]);
  assertThrowsMsg(() => grad(y, [x]), /already used by a backward pass and released/);
});

opTest("a tensor modified in place after saving is refused", () => {
  const w = tensor([1, 2], [2], { requiresGrad: true });
  const x = tensor([3, 4], [2], { requiresGrad: true });
  const y = T.sum(T.mul(w, x));
  T.fill(x, 0);
  assertThrowsMsg(() => grad(y, [w]), /saved by mul was modified in place/);
});

opTest("intermediates may be disposed while the graph lives", () => {
  const x = tensor([1, 2, 3], [3], { requiresGrad: true });
  const h = T.exp(x);
  const y = T.sum(T.mul(h, 2));
  h.dispose();
  const [g] = grad(y, [x]);
  const ex = [1, 2, 3].map((v) => 2 * Math.exp(v));
  assertClose(values(g), ex, 1e-5, 1e-6);
});

opTest("non-scalar outputs need gradOutput of their shape", () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const y = T.mul(x, 3);
  assertThrowsMsg(() => grad(y, [x]), /output \[2\] is not a scalar/);
  const [g] = grad(y, [x], { gradOutput: tensor([1, 10]) });
  assertClose(values(g), [3, 30], 0, 0);
});

opTest("createGraph gives second derivatives", () => {
  const x = tensor([0.5, 2], [2], { requiresGrad: true });
  const y = T.sum(T.pow(x, 3));
  const [g] = grad(y, [x], { createGraph: true });
  const [g2] = grad(T.sum(g), [x]);
  assertClose(values(g2), [3, 12], 1e-5, 1e-5);
});

opTest("an input-gradient request does not run conv backward-weights", (b) => {
  const sym = b.sym as unknown as Record<string, (...a: unknown[]) => number>;
  const original = sym.tp_conv2d_bwd_weights;
  let calls = 0;
  try {
    sym.tp_conv2d_bwd_weights = (...a: unknown[]) => {
      calls++;
      return original(...a);
    };
  } catch {
    throw new Error("cannot instrument the symbol table");
  }
  try {
    const x = tensor(Float32Array.from(randomData(2 * 3 * 6 * 6, "cx")), [2, 3, 6, 6], {
      requiresGrad: true,
    });
    const w = tensor(Float32Array.from(randomData(4 * 3 * 3 * 3, "cw")), [4, 3, 3, 3], {
      requiresGrad: true,
    });
    const loss = T.sum(T.relu(T.conv2d(x, w, null, { padding: 1 })));
    grad(loss, [x]);
    if (calls !== 0) {
      throw new Error(`conv backward-weights ran ${calls} times for an input gradient`);
    }
    const loss2 = T.sum(T.relu(T.conv2d(x, w, null, { padding: 1 })));
    grad(loss2, [w]);
    if ((calls as number) !== 1) {
      throw new Error(`conv backward-weights ran ${calls} times for a weight gradient`);
    }
  } finally {
    sym.tp_conv2d_bwd_weights = original;
  }
});

export type { Tensor };
