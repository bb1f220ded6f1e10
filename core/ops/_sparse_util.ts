/**
 * Checks shared by the sparse inference ops (CSR and 2:4): the backend has the kernel, and no
 * input needs gradients (these ops are forward only).
 * @module
 */

import { type Backend, Status, type SymbolName, TopiaryError } from "@topiary/ffi";
import { isGradEnabled } from "../autograd/node.ts";
import type { Tensor } from "../tensor.ts";
import { describe } from "./_util.ts";
import { denseRaw } from "./_raw.ts";

/** Throws TP_ERR_UNSUPPORTED naming the backend when it lacks a sparse kernel. */
export function requireOp(b: Backend, op: SymbolName, what: string): void {
  if (!b.supportsOp(op)) {
    throw new TopiaryError(
      Status.UNSUPPORTED,
      op,
      `${what}: the ${b.name} backend (${b.path}) has no ${op}; rebuild it with \`deno task build\``,
    );
  }
}

/**
 * Refuses tensors that need gradients while gradients are recorded: sparse inference has no
 * backward pass, and a silently disconnected graph would give wrong gradients.
 */
export function checkNoGrad(op: string, x: Tensor, bias: Tensor | null): void {
  if (!isGradEnabled()) return;
  for (const [what, t] of [["input", x], ["bias", bias]] as const) {
    if (t && (t.requiresGrad || t.node !== null)) {
      throw new Error(
        `${op}: sparse inference layers have no backward pass, but the ${what} ${describe(t)} ` +
          `needs gradients; run the model under noGrad() (or use the masked dense model)`,
      );
    }
  }
}

/**
 * Runs `fn` on plain-layout versions of the input and bias (the sparse kernels read plain
 * row-major data), freeing the copies made for it.
 */
export function withPlainInputs<T>(
  x: Tensor,
  bias: Tensor | null,
  fn: (x: Tensor, bias: Tensor | null) => T,
): T {
  const xIn = denseRaw(x), bIn = bias ? denseRaw(bias) : null;
  try {
    return fn(xIn, bIn);
  } finally {
    if (xIn !== x) xIn.dispose();
    if (bIn && bIn !== bias) bIn.dispose();
  }
}
