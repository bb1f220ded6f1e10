/**
 * Sparse-inference benchmark (`deno task bench --suite sparse`): per layer (Madry's CNN conv2
 * and fc1, VGG-16-BN conv3-conv13 at 32x32) pruned by magnitude to 50-99%, at batch 1 and
 * 128, our dense and sparse forward against PyTorch's dense forward and `torch.sparse` (linear
 * only; PyTorch has no sparse convolution); then whole networks (SmallCNN, Madry's CNN,
 * VGG-16-BN) dense vs sparse (`toSparseInference`, per-layer measured choice) vs PyTorch
 * dense. Repetitions alternate between the variants; medians are reported.
 * @module
 */

import {
  type Classifier,
  conv2dForwardRaw,
  createModel,
  csrFromDense,
  csrLinear,
  linear,
  noGrad,
  sparseConv2d,
  Tensor,
  tidy,
  uniform,
} from "@topiary/core";
import { MaskSet, prunableLayers, prune, toSparseInference } from "@topiary/pruning";
import { median, secondsPer } from "./_measure.ts";
import type { TorchWorker } from "./torch_worker.ts";

/** One layer of the per-layer table. */
interface LayerSpec {
  name: string;
  kind: "conv" | "linear";
  c: number;
  k: number;
  h: number;
  w: number;
  r: number;
  pad: number;
}

const vgg = (i: number, c: number, k: number, hw: number): LayerSpec => ({
  name: `VGG-16 conv${i} ${c}->${k} @${hw}`,
  kind: "conv",
  c,
  k,
  h: hw,
  w: hw,
  r: 3,
  pad: 1,
});

/** The layers the issue names. */
export const LAYERS: LayerSpec[] = [
  { name: "Madry conv2 32->64 5x5 @14", kind: "conv", c: 32, k: 64, h: 14, w: 14, r: 5, pad: 2 },
  { name: "Madry fc1 3136->1024", kind: "linear", c: 3136, k: 1024, h: 1, w: 1, r: 1, pad: 0 },
  vgg(3, 64, 128, 16),
  vgg(4, 128, 128, 16),
  vgg(5, 128, 256, 8),
  vgg(6, 256, 256, 8),
  vgg(7, 256, 256, 8),
  vgg(8, 256, 512, 4),
  vgg(9, 512, 512, 4),
  vgg(10, 512, 512, 4),
  vgg(11, 512, 512, 2),
  vgg(12, 512, 512, 2),
  vgg(13, 512, 512, 2),
];

export const SPARSITIES = [0.5, 0.7, 0.9, 0.95, 0.99];

/** The whole networks of the benchmark. */
export const NETS: readonly { name: string; model: string; input: number[] }[] = [
  { name: "SmallCNN", model: "small_cnn", input: [1, 28, 28] },
  { name: "Madry CNN", model: "madry_cnn", input: [1, 28, 28] },
  { name: "VGG-16-BN", model: "vgg16_bn", input: [3, 32, 32] },
];
export const BATCHES = [1, 128];

/** Median milliseconds of each variant (null: not applicable or not measured). */
export interface SparseRow {
  case: string;
  batch: number;
  sparsity: number;
  oursDense: number;
  oursSparse: number;
  torchDense: number | null;
  torchSparse: number | null;
  /** For networks: how many layers run sparse. */
  note?: string;
}

// The last weight drawn and its indices by decreasing |w|: every sparsity of a layer reuses them.
let lastDraw: { key: string; host: Float32Array; order: Uint32Array } | null = null;

/** A magnitude-pruned random weight: all but round((1 - s) n) largest |w| set to zero. */
export function prunedWeight(shape: number[], sparsity: number, stream: string): Tensor {
  const key = `${stream}/${shape.join("x")}`;
  if (lastDraw?.key !== key) {
    const w = uniform(shape, { seed: 1, stream }, -1, 1);
    const host = w.toArray() as Float32Array;
    w.dispose();
    const order = Uint32Array.from(host.keys()).sort((a, b) =>
      Math.abs(host[b]) - Math.abs(host[a])
    );
    lastDraw = { key, host, order };
  }
  const { host, order } = lastDraw;
  const out = host.slice();
  const keep = Math.round((1 - sparsity) * out.length);
  for (let i = keep; i < order.length; i++) out[order[i]] = 0;
  return Tensor.fromHost(out, shape);
}

/** Alternating medians of our variants and the torch cases (ms per call). */
export async function measure(
  ours: (() => void)[],
  torch: (Record<string, unknown> | null)[],
  worker: TorchWorker | null,
  reps: number,
  tag: string,
): Promise<(number | null)[]> {
  const active = torch.map((t) => (worker && t ? t : null));
  for (const [i, t] of active.entries()) {
    if (t) await worker!.call({ cmd: "setup", name: `${tag}/${i}`, case: t });
  }
  // Iterations per repetition from the slowest of ours (about 0.15 s a repetition).
  for (const f of ours) secondsPer(f, 1);
  const slow = Math.max(...ours.map((f) => secondsPer(f, 1)));
  const iters = Math.max(1, Math.min(200, Math.round(0.15 / Math.max(slow, 1e-6))));
  const times: number[][] = [...ours, ...active].map(() => []);
  for (let rep = 0; rep < reps; rep++) {
    // Each of ours after one untimed call (the previous variant, or PyTorch's process, leaves
    // caches cold), in alternating order so neither is always first after PyTorch.
    const order = rep % 2 ? [...ours.keys()].reverse() : [...ours.keys()];
    for (const i of order) {
      ours[i]();
      times[i].push(secondsPer(ours[i], iters));
    }
    for (const [i, t] of active.entries()) {
      if (!t) continue;
      const r = await worker!.call({ cmd: "run", name: `${tag}/${i}`, iters });
      times[ours.length + i].push(Number(r.seconds) / iters);
    }
  }
  return times.map((ts) => (ts.length ? 1000 * median(ts) : null));
}

/** Per-layer rows: every layer, sparsity and batch size. */
export async function layerRows(
  worker: TorchWorker | null,
  reps: number,
  only?: string,
): Promise<SparseRow[]> {
  const rows: SparseRow[] = [];
  for (const l of LAYERS.filter((x) => !only || x.name.includes(only))) {
    for (const batch of BATCHES) {
      for (const s of SPARSITIES) {
        const wShape = l.kind === "conv" ? [l.k, l.c, l.r, l.r] : [l.k, l.c];
        const w = prunedWeight(wShape, s, `bench-${l.name}`).keep();
        const b = uniform([l.k], { seed: 1, stream: "bench-b" }).keep();
        const xShape = l.kind === "conv" ? [batch, l.c, l.h, l.w] : [batch, l.c];
        const x = uniform(xShape, { seed: 1, stream: "bench-x" }).keep();
        const csr = csrFromDense(w).keep();
        const opts = { padding: l.pad };
        const dense = l.kind === "conv"
          ? () => tidy(() => void conv2dForwardRaw(x, w, b, opts))
          : () => tidy(() => void linear(x, w, b));
        const sparse = l.kind === "conv"
          ? () => tidy(() => void sparseConv2d(x, csr, [l.r, l.r], b, opts))
          : () => tidy(() => void csrLinear(x, csr, b));
        const spec = {
          kind: "sparse_layer",
          layer: l.kind,
          n: batch,
          c: l.c,
          k: l.k,
          h: l.h,
          w: l.w,
          r: l.r,
          s: l.r,
          stride: 1,
          pad: l.pad,
          density: 1 - s,
        };
        const [od, os, td, ts] = await measure(
          [dense, sparse],
          [{ ...spec, mode: "dense" }, l.kind === "linear" ? { ...spec, mode: "sparse" } : null],
          worker,
          reps,
          `${l.name}/${batch}/${s}`,
        );
        csr.dispose(), w.dispose(), b.dispose(), x.dispose();
        const row: SparseRow = {
          case: l.name,
          batch,
          sparsity: s,
          oursDense: od!,
          oursSparse: os!,
          torchDense: td,
          torchSparse: ts,
        };
        rows.push(row);
        console.log(fmtRow(row));
      }
    }
  }
  return rows;
}

/** Whole-network rows: dense vs sparse inference vs PyTorch dense. */
export async function networkRows(
  worker: TorchWorker | null,
  reps: number,
  only?: string,
): Promise<SparseRow[]> {
  const rows: SparseRow[] = [];
  for (const net of NETS.filter((n) => !only || n.name.includes(only))) {
    for (const batch of BATCHES) {
      for (const s of SPARSITIES) {
        const model = createModel(net.model, { seed: 0 }).eval() as Classifier;
        const masks = new MaskSet(prunableLayers(model));
        prune(masks, { sparsity: s, scope: "layerwise", criterion: "magnitude" });
        const x = uniform([batch, ...net.input], { seed: 1, stream: "bench-net-x" }).keep();
        const fwd = () => noGrad(() => tidy(() => void model.forward(x)));
        // Sparse inference: each layer sparse or dense, whichever it measured faster; then
        // dense and sparse forward alternate (switching the converted layers) with PyTorch.
        const conv = toSparseInference(model, { batch, repeats: 3 });
        const sparseLayers = conv.layers.filter((l) => l.kernel !== "dense").length;
        const [denseMs, sparseMs, torchMs] = await measure(
          [() => (conv.setEnabled(false), fwd()), () => (conv.setEnabled(true), fwd())],
          [{ kind: "model_fwd", model: net.model, batch, input: net.input, density: 1 - s }],
          worker,
          reps,
          `${net.name}/${batch}/${s}`,
        );
        conv.dispose();
        const row = {
          case: `${net.name} forward`,
          batch,
          sparsity: s,
          oursDense: denseMs!,
          oursSparse: sparseMs!,
          torchDense: torchMs,
          torchSparse: null,
          note: `${sparseLayers}/${conv.layers.length} layers sparse`,
        };
        rows.push(row);
        console.log(fmtRow(row));
        x.dispose();
        masks.dispose();
        model.dispose();
      }
    }
  }
  return rows;
}

const ms = (v: number | null) => (v === null ? "-" : v < 1 ? v.toFixed(3) : v.toFixed(2));
const ratio = (a: number | null, b: number | null) =>
  a === null || b === null ? "-" : `${(a / b).toFixed(2)}x`;

/** One line per row: times in ms and our sparse speedup over our dense and over torch. */
export function fmtRow(r: SparseRow): string {
  return `| ${r.case} | ${r.batch} | ${Math.round(100 * r.sparsity)}% | ${ms(r.oursDense)} | ` +
    `${ms(r.oursSparse)} | ${ms(r.torchDense)} | ${ms(r.torchSparse)} | ` +
    `${ratio(r.oursDense, r.oursSparse)} | ${ratio(r.torchDense, r.oursSparse)} |` +
    (r.note ? ` ${r.note}` : "");
}

/** Markdown table header matching {@link fmtRow}. */
export const TABLE_HEADER =
  "| case | batch | sparsity | ours dense ms | ours sparse ms | torch dense ms | torch.sparse ms | " +
  "sparse speedup vs ours dense | vs torch dense |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|";
