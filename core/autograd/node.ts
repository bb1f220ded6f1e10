/**
 * Tape nodes: what an op records so that `grad` can run its backward.
 * @module
 */

import { fmtShape, Tensor } from "../tensor.ts";

let gradEnabled = true;

/** Whether ops record autograd nodes (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` without recording gradients (evaluation, in-place updates). `fn` must be
 * synchronous.
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error("noGrad: the function must be synchronous");
    return r;
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` with gradient recording on (inside a `noGrad`, for example). */
export function withGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Backward function of an op: given the output gradient, which inputs need a gradient, and
 * the tensors saved at forward time, returns one gradient (or null) per input.
 */
export type BackwardFn = (
  gy: Tensor,
  needs: readonly boolean[],
  saved: readonly Tensor[],
) => (Tensor | null)[];

/**
 * A recorded op. It holds its own references on the tensors it saved (so callers may dispose
 * theirs) and is reference-counted by its output handle and by the nodes that consume it;
 * the saved tensors are released when the last reference goes or after a backward pass.
 */
export class Node {
  /** Op name for messages. */
  readonly op: string;
  /** Inputs (null for inputs that do not require gradients). */
  readonly inputs: readonly (Tensor | null)[];
  /** Output shape, for messages. */
  readonly shape: readonly number[];
  private readonly backwardFn: BackwardFn;
  private saved: Tensor[];
  private readonly sources: readonly Tensor[];
  private readonly versions: number[];
  private refs = 1;
  /** Whether the saved tensors were released (after a backward pass). */
  released = false;

  constructor(
    op: string,
    inputs: readonly (Tensor | null)[],
    shape: readonly number[],
    saved: readonly Tensor[],
    backward: BackwardFn,
  ) {
    this.op = op;
    this.inputs = inputs;
    this.shape = shape;
    this.backwardFn = backward;
    this.saved = saved.map((t) => {
      const alias = Tensor.view(t, t.shape, t.strides, t.offset);
      alias.keep();
      return alias;
    });
    this.sources = saved.slice();
    this.versions = saved.map((t) => t.storage.version);
    for (const x of inputs) if (x?.node) x.node.ref();
  }

  /** Adds a reference (another handle or consumer). */
  ref(): void {
    this.refs++;
  }

  /** Drops a reference; the last one releases saved tensors and the inputs' nodes. */
  unref(): void {
    if (--this.refs > 0) return;
    this.release();
    for (const x of this.inputs) if (x?.node) x.node.unref();
  }

  /** Frees the saved tensors (the node can no longer run backward). */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.saved) t.dispose();
    this.saved = [];
  }

  /** Runs the backward function after checking that saved tensors are intact. */
  backward(gy: Tensor, needs: readonly boolean[]): (Tensor | null)[] {
    if (this.released) {
      throw new Error(
        `grad: the graph through ${this.op} ${fmtShape(this.shape)} was already used by a ` +
          `backward pass and released (pass retainGraph: true to differentiate twice)`,
      );
    }
    for (let i = 0; i < this.saved.length; i++) {
      if (this.saved[i].storage.version !== this.versions[i]) {
        throw new Error(
          `grad: a tensor ${fmtShape(this.saved[i].shape)} saved by ${this.op} was modified ` +
            `in place after the forward pass; its gradient would be wrong`,
        );
      }
    }
    if (!gradEnabled) return this.backwardFn(gy, needs, this.saved);
    // createGraph: saved tensors re-enter the graph as views of their sources, so that the
    // backward pass itself is differentiable with respect to them.
    const linked = this.saved.map((a, i) => {
      const src = this.sources[i];
      if (!src.requiresGrad) return a;
      const v = Tensor.view(a, a.shape, a.strides, a.offset);
      return record(v, "saved", [src], [], (g) => [Tensor.view(g, g.shape, g.strides, g.offset)]);
    });
    return this.backwardFn(gy, needs, linked);
  }
}

/** Whether an op on these inputs must be recorded. */
export function needsRecord(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const x of inputs) if (x && x.requiresGrad) return true;
  return false;
}

/**
 * Records `y = op(inputs)` on the tape when any input requires a gradient. `saved` are the
 * tensors the backward function needs; it receives its own references to them.
 */
export function record(
  y: Tensor,
  op: string,
  inputs: readonly (Tensor | null | undefined)[],
  saved: readonly Tensor[],
  backward: BackwardFn,
): Tensor {
  if (!needsRecord(...inputs)) return y;
  const ins = inputs.map((x) => (x && x.requiresGrad ? x : null));
  y.node = new Node(op, ins, y.shape, saved, backward);
  y.requiresGrad = true;
  return y;
}
