/**
 * Small models, data and attacks for the evaluation tests: a threshold model whose decision
 * a perturbation of 0.1 on pixel 0 flips, and attacks that break chosen examples.
 * @module
 */

import {
  add,
  affine,
  clamp,
  copyFromHost,
  type Dataset,
  detach,
  Flatten,
  grad,
  Linear,
  makeDataset,
  Module,
  philoxUniform,
  Sequential,
  sign,
  softmaxCrossEntropy,
  Tensor,
  tidy,
} from "@topiary/core";
import type { Attack, AttackContext, ThreatModel } from "../../attacks/types.ts";
import type { Provenance } from "../../attacks/provenance.ts";

/** The threat model of the fakes. */
export const THREAT: ThreatModel = { norm: "linf", eps: 0.1 };

/**
 * 12 images [1, 2, 2], 2 classes: label i % 2, pixel 0 is 0.55 for class 1 and 0.45 for
 * class 0, so a 0.1 move of pixel 0 flips the threshold model. Example 0 is mislabelled
 * (pixel 0.45, label 1): the model gets it wrong without attack.
 */
export function thresholdData(n = 12): Dataset {
  const u = philoxUniform(4 * n, 5, "fake-data");
  const images = new Float32Array(4 * n), labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    images.set(u.subarray(4 * i, 4 * i + 4), 4 * i);
    images[4 * i] = labels[i] === 1 ? 0.55 : 0.45;
  }
  labels[0] = 1;
  return makeDataset("threshold", images, labels, [1, 2, 2], 2);
}

/** Logits [0, 100 * (x0 - 0.5)]: class 1 iff pixel 0 > 0.5, with margin 5 on the data. */
export function thresholdModel(prefix?: Module): Sequential {
  const lin = new Linear(4, 2);
  copyFromHost(lin.weight, Float32Array.from([0, 0, 0, 0, 100, 0, 0, 0]));
  copyFromHost(lin.bias!, Float32Array.from([0, -50]));
  return prefix ? new Sequential(prefix, new Flatten(), lin) : new Sequential(new Flatten(), lin);
}

/** clamp(x, lo, hi): with lo > 1 every input in [0, 1] is saturated (zero gradient). */
export class Clamp extends Module {
  constructor(readonly lo: number, readonly hi: number) {
    super();
  }
  /** Clamps x. */
  forward(x: Tensor): Tensor {
    return clamp(x, this.lo, this.hi);
  }
}

/** Wraps a model and adds 0.3 * (call count) to the last logit: a randomised forward. */
export class Noisy extends Module {
  calls = 0;
  constructor(readonly inner: Module) {
    super();
    this.registerModule("inner", inner);
  }
  /** inner(x) + [0, ..., 0.3 * calls]. */
  forward(x: Tensor): Tensor {
    const l = this.inner.forward(x);
    const k = l.shape[1];
    this.calls++;
    const noise = Tensor.fromHost(
      Float32Array.from({ length: k }, (_, j) => (j === k - 1 ? 0.3 * this.calls : 0)),
      [k],
    );
    return add(l, noise);
  }
}

/** A call an attack saw. */
export interface Call {
  indices: number[];
  labels: number[];
  seed: number | bigint;
  training: boolean;
}

/** Base of the fakes: records every call. */
abstract class Fake implements Attack {
  readonly calls: Call[] = [];
  constructor(readonly name: string, readonly threat: ThreatModel = THREAT) {}
  settings(): Record<string, unknown> {
    return { kind: this.name, eps: this.threat.eps };
  }
  run(model: Module, x: Tensor, y: Tensor, ctx: AttackContext): Tensor {
    this.calls.push({
      indices: Array.from(ctx.indices),
      labels: Array.from(y.toArray()),
      seed: ctx.seed,
      training: model.training,
    });
    return this.attack(model, x, y, ctx);
  }
  /** All dataset indices this attack ran on. */
  seen(): number[] {
    return this.calls.flatMap((c) => c.indices).sort((a, b) => a - b);
  }
  protected abstract attack(model: Module, x: Tensor, y: Tensor, ctx: AttackContext): Tensor;
}

/** Returns x unchanged (a copy). */
export class IdentityAttack extends Fake {
  constructor(name = "identity") {
    super(name);
  }
  protected attack(_m: Module, x: Tensor): Tensor {
    return Tensor.fromHost(x.toArray(), x.shape);
  }
}

/**
 * Moves pixel 0 of the examples whose dataset index is in `targets` across the threshold
 * (by eps), leaving the others unchanged: it "succeeds exactly on chosen indices".
 */
export class BreakAttack extends Fake {
  constructor(
    name: string,
    readonly targets: ReadonlySet<number>,
    readonly gradientFree = false,
    threat: ThreatModel = THREAT,
  ) {
    super(name, threat);
  }
  protected attack(_m: Module, x: Tensor, _y: Tensor, ctx: AttackContext): Tensor {
    const a = Float32Array.from(x.toArray()), per = a.length / ctx.indices.length;
    ctx.indices.forEach((i, r) => {
      if (!this.targets.has(i)) return;
      const v = a[r * per];
      a[r * per] = v > 0.5 ? v - this.threat.eps : v + this.threat.eps;
    });
    return Tensor.fromHost(a, x.shape);
  }
}

/** x + eps * (2u - 1), u drawn per example from (seed, "fixed-noise", dataset index). */
export class NoiseAttack extends Fake {
  constructor(name = "noise") {
    super(name);
  }
  protected attack(_m: Module, x: Tensor, _y: Tensor, ctx: AttackContext): Tensor {
    const a = Float32Array.from(x.toArray()), per = a.length / ctx.indices.length;
    ctx.indices.forEach((i, r) => {
      const u = philoxUniform(per, ctx.seed, "fixed-noise", i);
      for (let j = 0; j < per; j++) {
        a[r * per + j] = Math.min(
          1,
          Math.max(0, a[r * per + j] + this.threat.eps * (2 * u[j] - 1)),
        );
      }
    });
    return Tensor.fromHost(a, x.shape);
  }
}

/** One step of eps * sign(grad of the summed cross-entropy), clamped to [0, 1] (FGSM). */
export class SignGradAttack extends Fake {
  constructor(name = "sign-grad") {
    super(name);
  }
  protected attack(model: Module, x: Tensor, y: Tensor): Tensor {
    return tidy(() => {
      const xi = detach(x);
      xi.requiresGrad = true;
      const [g] = grad(softmaxCrossEntropy(model.forward(xi), y, "sum"), [xi]);
      return clamp(add(x, affine(sign(g), this.threat.eps, 0)), 0, 1);
    });
  }
}

/** Moves every example by 2 eps: outside the threat model. */
export class CheatAttack extends Fake {
  constructor() {
    super("cheat");
  }
  protected attack(_m: Module, x: Tensor): Tensor {
    return tidy(() => clamp(affine(x, 1, 2 * this.threat.eps), 0, 1));
  }
}

/** Switches the model to training mode (breaks the Attack contract). */
export class ModeSwitchAttack extends Fake {
  constructor() {
    super("mode-switch");
  }
  protected attack(model: Module, x: Tensor): Tensor {
    model.train();
    return Tensor.fromHost(x.toArray(), x.shape);
  }
}

/** A fixed provenance, so tests do not spawn git on every evaluation. */
export const FIXED_PROVENANCE: Provenance = {
  git: { commit: "unknown", dirty: null, dir: "test" },
  deno: { deno: "test", v8: "test", typescript: "test" },
  backend: { backend: "test" },
  machine: {
    os: "test",
    arch: "test",
    release: "test",
    cpu: "test",
    cores: 1,
    memoryBytes: null,
  },
  timestamp: "2000-01-01T00:00:00.000Z",
};
