/**
 * Reverse-mode differentiation over the recorded tape.
 * @module
 */

import { fullRaw, plainRaw } from "../ops/_raw.ts";
import { add } from "../ops/elementwise.ts";
import { contiguous } from "../ops/layout.ts";
import { tidy } from "../scope.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { noGrad, withGrad } from "./node.ts";

/** Options of {@link grad}. */
export interface GradOptions {
  /** Upstream gradient for a non-scalar output (default: ones for a one-element output). */
  gradOutput?: Tensor;
  /** Keep saved tensors so the graph can be differentiated again (default false). */
  retainGraph?: boolean;
  /** Record the backward pass itself, for higher-order gradients (default false). */
  createGraph?: boolean;
}

/**
 * Gradients of `output` with respect to each tensor of `wrt`, computing only what those
 * inputs need: ops whose inputs do not lead to `wrt` are skipped, and an op is told which of
 * its inputs need a gradient (an input-gradient request never runs conv backward-weights).
 * Inputs that do not influence the output get zeros. The caller owns the returned tensors.
 * The graph is released afterwards unless `retainGraph` is set.
 */
export function grad(output: Tensor, wrt: readonly Tensor[], opts: GradOptions = {}): Tensor[] {
  output.assertAlive("grad");
  for (const w of wrt) w.assertAlive("grad");
  if (!opts.gradOutput && output.size !== 1) {
    throw new Error(
      `grad: output ${fmtShape(output.shape)} is not a scalar; pass gradOutput of its shape`,
    );
  }
  if (opts.gradOutput && opts.gradOutput.shape.join() !== output.shape.join()) {
    throw new Error(
      `grad: gradOutput ${fmtShape(opts.gradOutput.shape)} does not match output ` +
        fmtShape(output.shape),
    );
  }
  const targets = new Set(wrt);
  const needed = new Map<Tensor, boolean>();
  const isNeeded = (t: Tensor): boolean => {
    let v = needed.get(t);
    if (v !== undefined) return v;
    needed.set(t, false); // cycle guard (graphs are acyclic)
    v = targets.has(t) || (t.node !== null && t.node.inputs.some((x) => x !== null && isNeeded(x)));
    needed.set(t, v);
    return v;
  };

  // Topological order (post-order DFS) of needed tensors that carry a node.
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[output, 0]];
  if (isNeeded(output)) {
    seen.add(output);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [t, i] = top;
      const ins = t.node ? t.node.inputs : [];
      if (i < ins.length) {
        top[1]++;
        const x = ins[i];
        if (x && !seen.has(x) && isNeeded(x)) {
          seen.add(x);
          stack.push([x, 0]);
        }
      } else {
        stack.pop();
        if (t.node) order.push(t);
      }
    }
  }

  const run = () => {
    const grads = new Map<Tensor, Tensor>();
    const seed = opts.gradOutput
      ? contiguous(opts.gradOutput)
      : fullRaw(output.shape, 1, "f32", output.backend);
    grads.set(output, seed);
    const accumulate = (x: Tensor, g: Tensor) => {
      const prev = grads.get(x);
      if (!prev) {
        grads.set(x, g);
        return;
      }
      const sum = add(prev, g);
      prev.dispose();
      g.dispose();
      grads.set(x, sum);
    };
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const node = t.node!;
      const gy = grads.get(t);
      if (!gy) continue;
      const needs = node.inputs.map((x) => x !== null && isNeeded(x));
      const gs = tidy(() => node.backward(gy, needs));
      for (let i = 0; i < gs.length; i++) {
        let g = gs[i];
        // Every gradient handed on must be its own handle.
        if (g && (g === gy || gs.indexOf(g) !== i)) {
          g = Tensor.view(g, g.shape, g.strides, g.offset);
        }
        const x = node.inputs[i];
        if (!g) continue;
        if (!x || !needs[i]) {
          g.dispose();
          continue;
        }
        if (g.shape.join() !== x.shape.join()) {
          throw new Error(
            `internal: ${node.op} returned a gradient ${fmtShape(g.shape)} for an input ` +
              fmtShape(x.shape),
          );
        }
        accumulate(x, g);
      }
      if (!targets.has(t)) {
        gy.dispose();
        grads.delete(t);
      }
    }
    return wrt.map((w) => {
      const g = grads.get(w);
      if (!g) return fullRaw(w.shape, 0, "f32", w.backend);
      grads.delete(w);
      if (w.fmt === 0 && g.fmt !== 0) {
        const p = plainRaw(g);
        g.dispose();
        return p;
      }
      return g;
    });
  };

  try {
    return tidy(() => (opts.createGraph ? withGrad(run) : noGrad(run)));
  } finally {
    if (!opts.retainGraph) { for (const t of order) t.node?.release(); }
  }
}

/** The value of a scalar loss function and its gradients with respect to `wrt`. */
export function valueAndGrad(
  fn: () => Tensor,
  wrt: readonly Tensor[],
): { value: number; grads: Tensor[] } {
  return tidy(() => {
    const loss = fn();
    const grads = grad(loss, wrt);
    return { value: loss.item(), grads };
  });
}
