import {
  affine,
  argmax,
  cat,
  mean,
  Module,
  mul,
  relu,
  reshape,
  type Tensor,
  tensor,
  tidy,
} from "@topiary/core";
import { square } from "@topiary/attacks";
import { squareL2Proposal } from "../../attacks/_square_l2.ts";
import { opTest, randomData } from "../_harness.ts";

/**
 * AutoAttack's L2 proposal (square.py) moves the mass of both windows, per channel, into
 * the first window: with a perturbation already at norm eps and no clamping, everything
 * outside the two windows stays as it was, the norm stays eps, and channel ch of the new
 * window gets exactly the mass channel ch had in the union of the windows.
 */
Deno.test("Square L2 proposal: per-channel window mass, the rest of the perturbation kept", () => {
  const c = 3, h = 8, w = 8, s = 3, hw = h * w, eps = 0.5;
  const x = new Float32Array(c * hw).fill(0.5);
  const d = randomData(c * hw, "square-l2-delta");
  const dn = Math.hypot(...d);
  const xb = Float32Array.from(x, (v, i) => v + (eps * d[i]) / dn);
  const delta = Float64Array.from(xb, (v, i) => v - x[i]);
  // Window 1 at (0, 0), window 2 at (4, 4) (r * (h - s) = 0 and 4); orientation, signs.
  const r = Float32Array.from([0, 0, 0.8, 0.8, 0.3, 0.2, 0.7, 0.4]);
  const out = new Float32Array(c * hw);
  squareL2Proposal(x, xb, out, c, h, w, s, eps, r);
  const in1 = (i: number, j: number) => i < s && j < s;
  const in2 = (i: number, j: number) => i >= 4 && i < 4 + s && j >= 4 && j < 4 + s;
  let norm = 0;
  for (let ch = 0; ch < c; ch++) {
    let before = 0, after = 0;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const k = ch * hw + i * w + j, o = out[k] - x[k];
        norm += o * o;
        if (in1(i, j) || in2(i, j)) before += delta[k] ** 2;
        if (in1(i, j)) after += o * o;
        else if (in2(i, j)) {
          if (o !== 0) throw new Error(`window 2 not emptied at ${ch},${i},${j}: ${o}`);
        } else if (Math.abs(o - delta[k]) > 1e-6) {
          throw new Error(
            `delta outside the windows changed at ${ch},${i},${j}: ${delta[k]} -> ${o}`,
          );
        }
      }
    }
    if (Math.abs(Math.sqrt(after) - Math.sqrt(before)) > 1e-5) {
      throw new Error(`channel ${ch}: window mass ${Math.sqrt(after)}, want ${Math.sqrt(before)}`);
    }
  }
  if (Math.abs(Math.sqrt(norm) - eps) > 1e-5) throw new Error(`norm ${Math.sqrt(norm)} != ${eps}`);
});

/**
 * Two classes on [1, 4, 4] images: z0 = 0, z1 = 10 mean(relu(x - 0.5)). On the 0.5 image
 * the logits tie, so the prediction (argmax, first on ties) is class 0, the label: the
 * example counts as correctly classified, and any perturbation raising a pixel flips it.
 */
class TieNet extends Module {
  forward(x: Tensor): Tensor {
    const n = x.shape[0];
    const axes = Array.from({ length: x.ndim - 1 }, (_, i) => i + 1);
    const up = mean(relu(affine(x, 1, -0.5)), axes);
    return cat([reshape(mul(up, 0), [n, 1]), reshape(affine(up, 10, 0), [n, 1])], 1);
  }
}

opTest("Square attacks an example whose clean logits tie but whose prediction is right", () => {
  using net = new TieNet();
  net.eval();
  const x = tensor(new Float32Array(2 * 16).fill(0.5), [2, 1, 4, 4]);
  const y = tensor([0, 0], [2], { dtype: "i32" });
  const ctx = { seed: 3, indices: Int32Array.from([0, 1]) };
  const clean = tidy(() => Array.from(argmax(net.forward(x), 1).toArray()));
  if (clean.join() !== "0,0") throw new Error(`clean predictions ${clean}`);
  for (const threat of [{ norm: "linf", eps: 0.1 }, { norm: "l2", eps: 0.5 }] as const) {
    const pred = tidy(() => {
      const adv = square({ threat, queries: 5 }).run(net, x, y, ctx);
      return Array.from(argmax(net.forward(adv), 1).toArray());
    });
    if (pred.join() !== "1,1") throw new Error(`${threat.norm}: predictions ${pred}, want 1,1`);
  }
});
