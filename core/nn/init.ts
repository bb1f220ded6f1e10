/**
 * Parameter initialisers. Every draw is made on the CPU from the stateless generator at the
 * address (seed, stream = the parameter's dotted name, counter 0), e.g. (7, "features.0.weight",
 * 0), so a parameter's initial value depends only on the seed and its name: never on the order
 * in which modules were built or on the device the model lives on.
 * @module
 */

import { type Backend, getBackend } from "@topiary/ffi";
import { noGrad } from "../autograd/node.ts";
import { copyFromHost, fill } from "../ops/create.ts";
import { affine } from "../ops/elementwise.ts";
import { bernoulli, normal, uniform } from "../ops/random.ts";
import { fmtShape, type Tensor } from "../tensor.ts";
import { copyInto, type Module } from "./module.ts";

/**
 * How a weight is drawn:
 * - `default`: PyTorch's default for Conv2d/Linear, kaiming_uniform_(a = sqrt(5)), i.e.
 *   U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 * - `kaiming_uniform`: U(-b, b), b = sqrt(2) * sqrt(3 / fan) (ReLU gain); bias 0.
 * - `kaiming_normal`: N(0, 2 / fan) (ReLU gain); bias 0.
 * - `signed_constant`: ±sqrt(2) / sqrt(fan) with random signs (edge-popup); bias 0.
 * - `normal`: N(0, std^2) with `std` given; bias 0.
 */
export type InitScheme =
  | "default"
  | "kaiming_uniform"
  | "kaiming_normal"
  | "signed_constant"
  | "normal";

/** Which fan a Kaiming-style scheme scales by. */
export type FanMode = "fan_in" | "fan_out";

/** A weight initialiser: scheme, fan mode (default fan_in) and std (scheme `normal`). */
export interface WeightInit {
  scheme: InitScheme;
  mode?: FanMode;
  std?: number;
}

/** PyTorch's default initialisation. */
export const DEFAULT_INIT: WeightInit = { scheme: "default" };

/** Options of {@link initParameters}: the seed and the scheme of conv and linear weights. */
export interface InitOptions {
  /** The run's seed (u64). */
  seed: number | bigint;
  /** Initialiser of Conv2d weights (default PyTorch's). */
  conv?: WeightInit;
  /** Initialiser of Linear weights (default PyTorch's). */
  linear?: WeightInit;
}

/** HYDRA's VGG initialisation: conv kaiming_normal(fan_out, relu), linear N(0, 0.01^2). */
export const HYDRA_VGG_INIT: Omit<InitOptions, "seed"> = {
  conv: { scheme: "kaiming_normal", mode: "fan_out" },
  linear: { scheme: "normal", std: 0.01 },
};

/** A module that can (re)initialise its own parameters and buffers. */
export interface Initializable {
  /** Re-draws this module's own tensors; `prefix` is its dotted name ("" for the root). */
  resetParameters(prefix: string, opts: InitOptions): void;
}

/** Whether a module implements {@link Initializable}. */
export function isInitializable(m: unknown): m is Initializable {
  return typeof (m as Initializable).resetParameters === "function";
}

/**
 * Initialises every parameter and buffer of `model` (and its descendants) from `opts.seed`,
 * each from the stream named by its dotted name. Values are written in place, so
 * optimizers holding the tensors stay valid.
 */
export function initParameters(model: Module, opts: InitOptions): void {
  for (const [name, m] of model.namedModules()) {
    if (isInitializable(m)) m.resetParameters(name, opts);
  }
}

/** The dotted name of member `name` of the module called `prefix`. */
export function joinName(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

/** fan_in and fan_out of a weight [out, in, ...kernel], as PyTorch computes them. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    throw new Error(`fans: a weight needs at least 2 dims, got ${fmtShape(shape)}`);
  }
  let field = 1;
  for (let i = 2; i < shape.length; i++) field *= shape[i];
  return { fanIn: shape[1] * field, fanOut: shape[0] * field };
}

const RELU_GAIN = Math.SQRT2;

function cpu(): Backend {
  return getBackend("cpu");
}

/** Draws a weight of `shape` on the CPU for the stream `name`. */
export function drawWeight(
  shape: readonly number[],
  spec: WeightInit,
  seed: number | bigint,
  name: string,
): Tensor {
  const { fanIn, fanOut } = fans(shape);
  const fan = (spec.mode ?? "fan_in") === "fan_in" ? fanIn : fanOut;
  if (fan <= 0) throw new Error(`init: "${name}" ${fmtShape(shape)} has an empty fan`);
  const a = { seed, stream: name, counter: 0, backend: cpu() };
  switch (spec.scheme) {
    case "default": {
      const b = 1 / Math.sqrt(fanIn);
      return uniform(shape, a, -b, b);
    }
    case "kaiming_uniform": {
      const b = RELU_GAIN * Math.sqrt(3 / fan);
      return uniform(shape, a, -b, b);
    }
    case "kaiming_normal":
      return normal(shape, a, 0, RELU_GAIN / Math.sqrt(fan));
    case "normal": {
      const std = spec.std;
      if (!(typeof std === "number" && std >= 0)) {
        throw new Error(`init: scheme "normal" needs std >= 0, got ${std}`);
      }
      return normal(shape, a, 0, std);
    }
    case "signed_constant": {
      const c = RELU_GAIN / Math.sqrt(fan);
      return noGrad(() => {
        const bits = bernoulli(shape, a, 0.5);
        try {
          return affine(bits, 2 * c, -c);
        } finally {
          bits.dispose();
        }
      });
    }
    default:
      throw new Error(`init: unknown scheme "${(spec as WeightInit).scheme}"`);
  }
}

/** Copies a CPU tensor into `dst` (on any device) and disposes it. */
export function assignFromCpu(dst: Tensor, src: Tensor): void {
  try {
    if (dst.backend === src.backend) copyInto(dst, src);
    else copyFromHost(dst, src.toArray() as Float32Array);
  } finally {
    src.dispose();
  }
}

/** Initialises a conv or linear weight in place. */
export function initWeight(
  w: Tensor,
  spec: WeightInit,
  seed: number | bigint,
  name: string,
): void {
  assignFromCpu(w, drawWeight(w.shape, spec, seed, name));
}

/**
 * Initialises a bias in place: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) under the `default`
 * scheme (PyTorch), zero otherwise.
 */
export function initBias(
  b: Tensor,
  fanIn: number,
  spec: WeightInit,
  seed: number | bigint,
  name: string,
): void {
  if (spec.scheme !== "default") {
    fill(b, 0);
    return;
  }
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  assignFromCpu(
    b,
    uniform(b.shape, { seed, stream: name, counter: 0, backend: cpu() }, -bound, bound),
  );
}

/** Options shared by layers with parameters. */
export interface LayerOptions {
  /**
   * Seed of the layer's own initialisation at construction (default 0), drawn from the
   * streams of its local names ("weight", "bias"). Models re-initialise every layer from their
   * seed and the full dotted names with {@link initParameters}.
   */
  seed?: number | bigint;
  /** Weight initialiser (default PyTorch's), or false: zeros until `initParameters` runs. */
  init?: WeightInit | false;
  /** Device of the parameters (default: the default backend). */
  backend?: Backend;
}

/** Options of composite modules (blocks): children are initialised by their dotted names. */
export interface BlockOptions {
  /** Seed of the initialisation at construction (default 0). */
  seed?: number | bigint;
  /** Initialisers of conv and linear weights, or false: zeros until `initParameters` runs. */
  init?: Omit<InitOptions, "seed"> | false;
  /** Device of the parameters (default: the default backend). */
  backend?: Backend;
}

/** Runs {@link initParameters} on a freshly built composite unless `opts.init` is false. */
export function initComposite(m: Module, opts: BlockOptions): void {
  if (opts.init === false) return;
  initParameters(m, { seed: opts.seed ?? 0, ...opts.init });
}
