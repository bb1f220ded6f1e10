/**
 * Sparse inference: turns a (masked) model's convolution and linear layers into CSR layers
 * (or, for linear layers whose mask is 2:4, compressed 2:4 layers) that run faster than the
 * dense ones where the weights are sparse enough. Each layer is kept dense or made sparse from
 * a measured comparison of the kernels at the layer's own input shape (or from a density
 * threshold, which chooses between dense and CSR only). A layer that wins alone can lose inside the network
 * (shared caches), so the measured mode then times the whole forward pass and turns sparse
 * layers back to dense, smallest gain first, until the network is faster than its dense self.
 * @module
 */

import {
  Conv2d,
  conv2d,
  csrFromDense,
  csrLinear,
  type CsrMatrix,
  Linear,
  linear,
  type Module,
  nm24FromDense,
  nm24Linear,
  noGrad,
  sparseConv2d,
  type Tensor,
  tidy,
  uniform,
} from "@topiary/core";

/** Options of {@link toSparseInference}. */
export interface SparseInferenceOptions {
  /** Batch size the per-layer choice is measured at (default 1). */
  batch?: number;
  /** Shape of one input example (default: the model's `inputShape`). */
  inputShape?: readonly number[];
  /** Use the sparse kernel iff a layer's density is at most this; skips the measurement. */
  threshold?: number;
  /** Names of the layers to consider (default: every Conv2d and Linear). */
  layers?: readonly string[];
  /** Timed runs per kernel and layer when measuring, after one warm-up (default 5). */
  repeats?: number;
  /**
   * Install this kernel without measuring: "sparse" (CSR) in every layer, or "2:4" in every
   * linear layer whose weight is 2:4 (the others stay dense). For checks and benchmarks.
   */
  force?: "sparse" | "2:4";
}

/** What was decided for one layer. */
export interface SparseLayerChoice {
  name: string;
  kind: "conv2d" | "linear";
  /** The dense weight's shape. */
  weightShape: number[];
  /** The layer's input shape at the measured batch size. */
  inputShape: number[];
  nnz: number;
  /** nnz / weight size. */
  density: number;
  /** "sparse" is CSR; "2:4" the compressed 2:4 layout (linear layers with 2:4 masks). */
  kernel: "sparse" | "dense" | "2:4";
  /** Median milliseconds of the dense and CSR forward (null when not measured). */
  denseMs: number | null;
  sparseMs: number | null;
  /** Median milliseconds of the 2:4 forward (null: not a 2:4 linear layer, or not measured). */
  nm24Ms: number | null;
  /** Set when the whole-network check turned this layer back to dense. */
  revertedByNetworkCheck?: boolean;
}

type Layer = Conv2d | Linear;

/** A layer's sparse weights and the forward pass on them. */
interface Installed {
  layer: Layer;
  forward: (x: Tensor) => Tensor;
  dispose: () => void;
}

/** A model whose chosen layers run sparse kernels; `dispose()` restores the dense forward. */
export class SparseInference {
  /** Per-layer decisions, in module order. */
  readonly layers: SparseLayerChoice[];
  private readonly installed: Installed[];

  constructor(layers: SparseLayerChoice[], installed: Installed[]) {
    this.layers = layers;
    this.installed = installed;
  }

  /** Switches the converted layers between their sparse kernels (true) and dense forward. */
  setEnabled(on: boolean): void {
    for (const { layer, forward } of this.installed) layer.inferenceKernel = on ? forward : null;
  }

  /** Restores the dense forward of every converted layer and frees the sparse weights. */
  dispose(): void {
    for (const i of this.installed) {
      i.layer.inferenceKernel = null;
      i.dispose();
    }
    this.installed.length = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function denseForward(layer: Layer, x: Tensor): Tensor {
  return layer instanceof Conv2d
    ? conv2d(x, layer.effectiveWeight(), layer.bias, layer.options)
    : linear(x, layer.effectiveWeight(), layer.bias);
}

function sparseForward(layer: Layer, csr: CsrMatrix, x: Tensor): Tensor {
  return layer instanceof Conv2d
    ? sparseConv2d(x, csr, layer.kernelSize, layer.bias, layer.options)
    : csrLinear(x, csr, layer.bias);
}

/** Whether a linear weight (host values) keeps at most 2 of every 4 inputs of each row. */
function is24(layer: Layer, w: Float32Array): boolean {
  if (!(layer instanceof Linear) || layer.weight.shape[1] % 4 !== 0) return false;
  for (let g = 0; g < w.length; g += 4) {
    if (
      (w[g] !== 0 ? 1 : 0) + (w[g + 1] !== 0 ? 1 : 0) + (w[g + 2] !== 0 ? 1 : 0) +
          (w[g + 3] !== 0 ? 1 : 0) > 2
    ) return false;
  }
  return true;
}

/** Median wall time in ms of `fn` over `repeats` runs after one warm-up. */
function timeMs(fn: () => Tensor, repeats: number): number {
  const run = () =>
    tidy(() => {
      const y = fn();
      if (y.backend.name !== "cpu") y.toArray(); // wait for asynchronous devices
    });
  run();
  const t: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    run();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

/** The input shape of each layer, recorded from one forward pass of zeros. */
function layerInputs(
  model: Module,
  layers: [string, Layer][],
  input: number[],
): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const [name, layer] of layers) {
    layer.inferenceKernel = (x) => {
      shapes.set(name, [...x.shape]);
      return denseForward(layer, x);
    };
  }
  try {
    noGrad(() =>
      tidy(() =>
        void (model as Module & { forward(x: Tensor): Tensor }).forward(
          uniform(input, { seed: 0, stream: "sparse-inference-shapes" }, 0, 0),
        )
      )
    );
  } finally {
    for (const [, layer] of layers) layer.inferenceKernel = null;
  }
  return shapes;
}

/**
 * Times the whole forward pass with the chosen sparse layers against all-dense; while it is
 * not faster, turns the sparse layer with the smallest measured gain back to dense.
 */
function networkCheck(
  model: Module,
  input: number[],
  choices: SparseLayerChoice[],
  installed: Installed[],
  repeats: number,
): void {
  const forward = (model as Module & { forward(x: Tensor): Tensor }).forward.bind(model);
  noGrad(() =>
    tidy(() => {
      const x = uniform(input, { seed: 0, stream: "sparse-inference-network" });
      const timeNetwork = () => timeMs(() => forward(x), Math.max(3, repeats));
      const kernels = installed.map(({ layer }) => layer.inferenceKernel);
      const setAll = (on: boolean) =>
        installed.forEach(({ layer }, i) => layer.inferenceKernel = on ? kernels[i] : null);
      setAll(false);
      const dense = timeNetwork();
      setAll(true);
      const sparseChoices = () => choices.filter((c) => c.kernel !== "dense");
      const gain = (c: SparseLayerChoice) =>
        c.denseMs! - (c.kernel === "2:4" ? c.nm24Ms! : c.sparseMs!);
      while (installed.length && timeNetwork() >= dense) {
        // Smallest gain first: the layer whose sparse kernel saved the least time alone.
        const worst = sparseChoices().reduce((a, b) => gain(a) <= gain(b) ? a : b);
        const i = sparseChoices().indexOf(worst);
        installed[i].layer.inferenceKernel = null;
        installed[i].dispose();
        installed.splice(i, 1);
        kernels.splice(i, 1);
        worst.kernel = "dense";
        worst.revertedByNetworkCheck = true;
      }
    })
  );
}

/**
 * Converts the model's convolution and linear layers to sparse inference where that is faster
 * (or, with `threshold`, where the density is low enough). The CSR weights are taken from each
 * layer's effective weight now: call it after training, and again after changing the weights.
 * The model must be run under `noGrad` while converted (sparse layers have no backward).
 */
export function toSparseInference(
  model: Module,
  opts: SparseInferenceOptions = {},
): SparseInference {
  const batch = opts.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new Error(`toSparseInference: batch must be an integer >= 1, got ${batch}`);
  }
  const repeats = opts.repeats ?? 5;
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new Error(`toSparseInference: repeats must be an integer >= 1, got ${repeats}`);
  }
  if (opts.force !== undefined && opts.force !== "sparse" && opts.force !== "2:4") {
    throw new Error(`toSparseInference: force must be "sparse" or "2:4", got ${opts.force}`);
  }
  if (opts.force !== undefined && opts.threshold !== undefined) {
    throw new Error("toSparseInference: give threshold or force, not both");
  }
  if (opts.threshold !== undefined && !(opts.threshold >= 0 && opts.threshold <= 1)) {
    throw new Error(`toSparseInference: threshold must be in [0, 1], got ${opts.threshold}`);
  }
  const example = opts.inputShape ?? (model as { inputShape?: readonly number[] }).inputShape;
  if (!example) {
    throw new Error("toSparseInference: the model has no inputShape; pass opts.inputShape");
  }
  const all = [...model.namedModules()].filter((e): e is [string, Layer] =>
    e[1] instanceof Conv2d || e[1] instanceof Linear
  );
  const wanted = opts.layers ? new Set(opts.layers) : null;
  if (wanted) {
    const unknown = [...wanted].filter((n) => !all.some(([name]) => name === n));
    if (unknown.length) {
      throw new Error(
        `toSparseInference: no Conv2d or Linear layer named ${unknown.join(", ")} (have ` +
          `${all.map(([n]) => n).join(", ")})`,
      );
    }
  }
  const layers = wanted ? all.filter(([n]) => wanted.has(n)) : all;
  const shapes = layerInputs(model, layers, [batch, ...example]);
  const choices: SparseLayerChoice[] = [];
  const installed: Installed[] = [];
  let pending: { dispose(): void }[] = [];
  try {
    for (const [name, layer] of layers) {
      const input = shapes.get(name);
      if (!input) continue; // not reached by the forward pass
      const csr = noGrad(() => tidy(() => csrFromDense(layer.effectiveWeight()).keep()));
      pending.push(csr);
      const measured = opts.threshold === undefined && opts.force === undefined;
      const nm = (measured || opts.force === "2:4") &&
          layer.weight.backend.supportsOp("tp_nm24_linear") &&
          is24(layer, noGrad(() => tidy(() => layer.effectiveWeight().toArray() as Float32Array)))
        ? noGrad(() => tidy(() => nm24FromDense(layer.effectiveWeight()).keep()))
        : null;
      if (nm) pending.push(nm);
      let denseMs: number | null = null, sparseMs: number | null = null;
      let nm24Ms: number | null = null;
      let kernel: SparseLayerChoice["kernel"];
      if (opts.force) {
        kernel = opts.force === "sparse" ? "sparse" : nm ? "2:4" : "dense";
      } else if (!measured) {
        kernel = csr.density <= opts.threshold! ? "sparse" : "dense";
      } else {
        [denseMs, sparseMs, nm24Ms] = noGrad(() =>
          tidy(() => {
            const x = uniform(input, { seed: 0, stream: "sparse-inference-time" });
            return [
              timeMs(() => denseForward(layer, x), repeats),
              timeMs(() => sparseForward(layer, csr, x), repeats),
              nm ? timeMs(() => nm24Linear(x, nm, layer.bias), repeats) : null,
            ];
          })
        );
        const best = Math.min(denseMs, sparseMs, nm24Ms ?? Infinity);
        kernel = best === denseMs ? "dense" : best === sparseMs ? "sparse" : "2:4";
      }
      choices.push({
        name,
        kind: layer instanceof Conv2d ? "conv2d" : "linear",
        weightShape: [...layer.weight.shape],
        inputShape: input,
        nnz: csr.nnz,
        density: csr.density,
        kernel,
        denseMs,
        sparseMs,
        nm24Ms,
      });
      let chosen: Installed | null = null;
      if (kernel === "sparse") {
        chosen = {
          layer,
          forward: (x) => sparseForward(layer, csr, x),
          dispose: () => csr.dispose(),
        };
      } else if (kernel === "2:4") {
        chosen = {
          layer,
          forward: (x) => nm24Linear(x, nm!, layer.bias),
          dispose: () => nm!.dispose(),
        };
      }
      pending = [];
      if (kernel !== "sparse") csr.dispose();
      if (kernel !== "2:4") nm?.dispose();
      if (chosen) {
        layer.inferenceKernel = chosen.forward;
        installed.push(chosen);
      }
    }
    if (opts.threshold === undefined && opts.force === undefined && installed.length) {
      networkCheck(model, [batch, ...example], choices, installed, repeats);
    }
  } catch (e) {
    // The layer being converted when it failed, then the installed ones.
    for (const p of pending) p.dispose();
    new SparseInference(choices, installed).dispose();
    throw e;
  }
  return new SparseInference(choices, installed);
}
