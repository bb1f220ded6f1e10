/**
 * Random starting points of the gradient attacks, drawn per example (see drawCounter) and
 * projected onto the eps-ball and [0, 1].
 * @module
 */

import {
  abs,
  add,
  div,
  max,
  mul,
  noGrad,
  projectToBall,
  reshape,
  sign,
  sqrt,
  square,
  sum,
  type Tensor,
  tensor,
  tidy,
} from "@topiary/core";
import { copyOf, exampleNormal, exampleUniform, hostUniform, sid } from "./_util.ts";
import type { AttackContext, Norm } from "./types.ts";

/** Per-example axes [1, ..., ndim - 1]. */
export function exampleAxes(t: Tensor): number[] {
  return Array.from({ length: t.ndim - 1 }, (_, i) => i + 1);
}

/** Shape [n, 1, ..., 1] for per-example factors of t. */
export function rowShape(t: Tensor): number[] {
  return [t.shape[0], ...Array(t.ndim - 1).fill(1)];
}

/** Per-example L2 norms of t, shaped [n, 1, ..., 1]. */
export function rowNorms(t: Tensor): Tensor {
  return reshape(sqrt(sum(square(t), exampleAxes(t))), rowShape(t));
}

/**
 * The start of PGD and FGSM-RS: x0 + delta, projected. Linf: delta ~ U(-eps, eps) per
 * coordinate. L2: a uniform direction (a normalised N(0, I) draw) times a radius eps * u,
 * u ~ U(0, 1), as torchattacks' PGDL2 and most PGD-L2 code do (not uniform in the ball's
 * volume). Streams "<name>-start:<restart>" (and "<name>-radius:<restart>" for L2).
 */
export function uniformStart(
  norm: Norm,
  eps: number,
  x0: Tensor,
  ctx: AttackContext,
  name: string,
  restart: number,
): Tensor {
  return tidy(() =>
    noGrad(() => {
      const shape = x0.shape.slice(1);
      const stream = `${name}-start:${restart}`;
      let x: Tensor;
      if (norm === "linf") {
        x = add(x0, exampleUniform(shape, ctx, stream, x0, -eps, eps));
      } else {
        const n = exampleNormal(shape, ctx, stream, x0);
        const rs = sid(`${name}-radius:${restart}`);
        const r = Float32Array.from(ctx.indices, (_, k) => eps * hostUniform(ctx, k, rs, 1)[0]);
        const scale = div(
          tensor(r, rowShape(x0), { backend: x0.backend }),
          add(rowNorms(n), 1e-12),
        );
        x = add(x0, mul(n, scale));
      }
      projectToBall(norm, x, x0, eps);
      return x;
    })
  );
}

/**
 * A random corner of the Linf ball: x0 + eps · sign(u), u ~ U(-1, 1) per coordinate from
 * "<name>-start:<restart>", clamped to [0, 1].
 */
export function vertexStart(
  eps: number,
  x0: Tensor,
  ctx: AttackContext,
  name: string,
  restart: number,
): Tensor {
  return tidy(() =>
    noGrad(() => {
      const u = exampleUniform(x0.shape.slice(1), ctx, `${name}-start:${restart}`, x0, -1, 1);
      const x = add(x0, mul(sign(u), eps));
      projectToBall("linf", x, x0, eps);
      return x;
    })
  );
}

/**
 * The start of APGD (Croce & Hein's reference): Linf x0 + eps t / max|t| with t ~ U(-1, 1)
 * per coordinate; L2 x0 + eps n / ||n|| with n ~ N(0, I); then projected (clamped to [0, 1]).
 * Stream "<name>-start:<k>".
 */
export function normalizedStart(
  norm: Norm,
  eps: number,
  x0: Tensor,
  ctx: AttackContext,
  name: string,
  k: number,
): Tensor {
  return tidy(() =>
    noGrad(() => {
      const shape = x0.shape.slice(1);
      const stream = `${name}-start:${k}`;
      const t = norm === "linf"
        ? exampleUniform(shape, ctx, stream, x0, -1, 1)
        : exampleNormal(shape, ctx, stream, x0);
      const size = norm === "linf"
        ? reshape(max(abs(t), exampleAxes(t)), rowShape(t))
        : rowNorms(t);
      const x = add(x0, mul(div(t, add(size, 1e-12)), eps));
      projectToBall(norm, x, x0, eps);
      return x;
    })
  );
}

/** A dense copy of x0 (the start without randomness). */
export function cleanStart(x0: Tensor): Tensor {
  return copyOf(x0);
}
