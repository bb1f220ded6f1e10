/**
 * Fused in-place kernels: optimizer updates (SGD, Adam with optional masks) and adversarial
 * attack steps. They mutate their first argument and are not recorded by autograd.
 * @module
 */

import { fmtShape, type Tensor } from "../tensor.ts";
import { checkFinite, checkInputs, checkStatus, describe } from "./_util.ts";

function checkDense(
  op: string,
  ref: Tensor,
  named: Record<string, Tensor | null | undefined>,
): void {
  for (const [name, t] of Object.entries(named)) {
    if (!t) continue;
    if (!t.isContiguous || t.offset !== 0) {
      throw new Error(`${op}: ${name} ${describe(t)} must be dense`);
    }
    if (t.size !== ref.size || t.shape.join() !== ref.shape.join()) {
      throw new Error(`${op}: ${name} ${fmtShape(t.shape)} does not match ${fmtShape(ref.shape)}`);
    }
  }
}

const ptr = (t: Tensor | null | undefined) => (t ? t.storage.ptr : null);

/** Options of {@link sgdUpdate} (PyTorch's torch.optim.SGD). */
export interface SgdUpdate {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** Momentum buffer (required when momentum != 0). */
  buf?: Tensor | null;
  /** Whether this is the buffer's first step (buf = d, as PyTorch). */
  firstStep?: boolean;
  /** 0/1 mask: masked weights and their state become exactly 0. */
  mask?: Tensor | null;
}

/** One SGD step on w in place. */
export function sgdUpdate(w: Tensor, g: Tensor, o: SgdUpdate): void {
  const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = o;
  const b = checkInputs("sgdUpdate", [w, g, o.buf, o.mask]);
  checkDense("sgdUpdate", w, { weight: w, grad: g, buf: o.buf, mask: o.mask });
  for (
    const [k, v] of [["lr", lr], ["momentum", momentum], ["dampening", dampening], [
      "weightDecay",
      weightDecay,
    ]] as const
  ) {
    checkFinite("sgdUpdate", k, v);
  }
  if (momentum !== 0 && !o.buf) throw new Error("sgdUpdate: momentum needs a buffer");
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new Error("sgdUpdate: Nesterov momentum requires momentum > 0 and zero dampening");
  }
  checkStatus(
    b,
    b.sym.tp_sgd_update(
      BigInt(w.size),
      w.storage.ptr,
      g.storage.ptr,
      ptr(o.buf),
      ptr(o.mask),
      lr,
      momentum,
      dampening,
      weightDecay,
      nesterov ? 1 : 0,
      o.firstStep ? 1 : 0,
    ),
    "sgdUpdate",
    () => describe(w),
  );
  w.storage.version++;
  if (o.buf) o.buf.storage.version++;
}

/** Options of {@link adamUpdate} (torch.optim.Adam, or AdamW with `decoupled`). */
export interface AdamUpdate {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  decoupled?: boolean;
  /** Step number, from 1. */
  step: number;
  mask?: Tensor | null;
}

/** One Adam step on w in place (m, v are its moment buffers). */
export function adamUpdate(w: Tensor, g: Tensor, m: Tensor, v: Tensor, o: AdamUpdate): void {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, decoupled = false, step } =
    o;
  const b = checkInputs("adamUpdate", [w, g, m, v, o.mask]);
  checkDense("adamUpdate", w, { weight: w, grad: g, m, v, mask: o.mask });
  if (!Number.isInteger(step) || step < 1) {
    throw new Error(`adamUpdate: step must be >= 1, got ${step}`);
  }
  for (
    const [k, x] of [["lr", lr], ["beta1", beta1], ["beta2", beta2], ["eps", eps], [
      "weightDecay",
      weightDecay,
    ]] as const
  ) {
    checkFinite("adamUpdate", k, x);
  }
  checkStatus(
    b,
    b.sym.tp_adam_update(
      BigInt(w.size),
      w.storage.ptr,
      g.storage.ptr,
      m.storage.ptr,
      v.storage.ptr,
      ptr(o.mask),
      lr,
      beta1,
      beta2,
      eps,
      weightDecay,
      BigInt(step),
      decoupled ? 1 : 0,
    ),
    "adamUpdate",
    () => describe(w),
  );
  w.storage.version++;
  m.storage.version++;
  v.storage.version++;
}

/** Threat-model norm of an attack step. */
export type AttackNorm = "linf" | "l2";

function attackArgs(op: string, x: Tensor, x0: Tensor, g: Tensor | null, eps: number) {
  const b = checkInputs(op, [x, x0, g]);
  checkDense(op, x, { x, x0, grad: g });
  if (x.ndim < 1) throw new Error(`${op}: x must have a batch dim, got ${describe(x)}`);
  if (!(eps >= 0) || !Number.isFinite(eps)) {
    throw new Error(`${op}: eps must be finite and >= 0, got ${eps}`);
  }
  return { b, batch: x.shape[0], dim: x.shape[0] ? x.size / x.shape[0] : 0 };
}

/**
 * One attack step in place: Linf x = clamp(proj(x + alpha sign(g))), L2 with the
 * per-example normalised gradient; the result stays in the eps-ball around x0 and in [0, 1].
 */
export function attackStep(
  norm: AttackNorm,
  x: Tensor,
  x0: Tensor,
  g: Tensor,
  alpha: number,
  eps: number,
): void {
  const op = "attackStep";
  if (norm !== "linf" && norm !== "l2") {
    throw new Error(`${op}: norm must be "linf" or "l2", got "${norm}"`);
  }
  checkFinite(op, "alpha", alpha);
  const { b, batch, dim } = attackArgs(op, x, x0, g, eps);
  const fn = norm === "linf" ? b.sym.tp_attack_step_linf : b.sym.tp_attack_step_l2;
  checkStatus(
    b,
    fn(BigInt(batch), BigInt(dim), x.storage.ptr, x0.storage.ptr, g.storage.ptr, alpha, eps),
    op,
    () => describe(x),
  );
  x.storage.version++;
}

/** Projects x in place onto the eps-ball around x0 (Linf or L2) intersected with [0, 1]. */
export function projectToBall(norm: AttackNorm, x: Tensor, x0: Tensor, eps: number): void {
  const op = "projectToBall";
  if (norm !== "linf" && norm !== "l2") {
    throw new Error(`${op}: norm must be "linf" or "l2", got "${norm}"`);
  }
  const { b, batch, dim } = attackArgs(op, x, x0, null, eps);
  checkStatus(
    b,
    b.sym.tp_attack_project(
      norm === "linf" ? 0 : 2,
      BigInt(batch),
      BigInt(dim),
      x.storage.ptr,
      x0.storage.ptr,
      eps,
    ),
    op,
    () => describe(x),
  );
  x.storage.version++;
}
