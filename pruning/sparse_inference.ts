/**
 * Sparse inference: turns a (masked) model's convolution and linear layers into CSR layers
 * that run faster than the dense ones where the weights are sparse enough. Each layer is kept
 * dense or made sparse from a measured comparison of the two kernels at the layer's own input
 * shape (or from a density threshold). A layer that wins alone can lose inside the network
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
  kernel: "sparse" | "dense";
  /** Median milliseconds of the dense and sparse forward (null when not measured). */
  denseMs: number | null;
  sparseMs: number | null;
  /** Set when the whole-network check turned this layer back to dense. */
  revertedByNetworkCheck?: boolean;
}

type Layer = Conv2d | Linear;

/** A model whose chosen layers run sparse kernels; `dispose()` restores the dense forward. */
export class SparseInference {
  /** Per-layer decisions, in module order. */
  readonly layers: SparseLayerChoice[];
  private readonly installed: { layer: Layer; csr: CsrMatrix }[];

  constructor(layers: SparseLayerChoice[], installed: { layer: Layer; csr: CsrMatrix }[]) {
    this.layers = layers;
    this.installed = installed;
  }

  /** Switches the converted layers between their sparse kernels (true) and dense forward. */
  setEnabled(on: boolean): void {
    for (const { layer, csr } of this.installed) {
      layer.inferenceKernel = on ? (x) => sparseForward(layer, csr, x) : null;
    }
  }

  /** Restores the dense forward of every converted layer and frees the CSR weights. */
  dispose(): void {
    for (const { layer, csr } of this.installed) {
      layer.inferenceKernel = null;
      csr.dispose();
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
  installed: { layer: Layer; csr: CsrMatrix }[],
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
      const sparseChoices = () => choices.filter((c) => c.kernel === "sparse");
      while (installed.length && timeNetwork() >= dense) {
        // Smallest gain first: the layer whose sparse kernel saved the least time alone.
        const worst = sparseChoices().reduce((a, b) =>
          a.denseMs! - a.sparseMs! <= b.denseMs! - b.sparseMs! ? a : b
        );
        const i = sparseChoices().indexOf(worst);
        installed[i].layer.inferenceKernel = null;
        installed[i].csr.dispose();
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
  const installed: { layer: Layer; csr: CsrMatrix }[] = [];
  try {
    for (const [name, layer] of layers) {
      const input = shapes.get(name);
      if (!input) continue; // not reached by the forward pass
      const csr = noGrad(() => tidy(() => csrFromDense(layer.effectiveWeight()).keep()));
      let denseMs: number | null = null, sparseMs: number | null = null;
      let sparse: boolean;
      if (opts.threshold !== undefined) {
        sparse = csr.density <= opts.threshold;
      } else {
        [denseMs, sparseMs] = noGrad(() =>
          tidy(() => {
            const x = uniform(input, { seed: 0, stream: "sparse-inference-time" });
            return [
              timeMs(() => denseForward(layer, x), repeats),
              timeMs(() => sparseForward(layer, csr, x), repeats),
            ];
          })
        );
        sparse = sparseMs < denseMs;
      }
      choices.push({
        name,
        kind: layer instanceof Conv2d ? "conv2d" : "linear",
        weightShape: [...layer.weight.shape],
        inputShape: input,
        nnz: csr.nnz,
        density: csr.density,
        kernel: sparse ? "sparse" : "dense",
        denseMs,
        sparseMs,
      });
      if (sparse) {
        layer.inferenceKernel = (x) => sparseForward(layer, csr, x);
        installed.push({ layer, csr });
      } else {
        csr.dispose();
      }
    }
    if (opts.threshold === undefined && installed.length) {
      networkCheck(model, [batch, ...example], choices, installed, repeats);
    }
  } catch (e) {
    new SparseInference(choices, installed).dispose();
    throw e;
  }
  return new SparseInference(choices, installed);
}
