/**
 * Structured-sparsity rows of the sparse benchmark: linear layers with 2:4 masks in the
 * compressed 2:4 layout (against our dense and CSR forward at the same 50% density, and
 * PyTorch's dense), and filter-pruned networks, which are physically smaller dense networks
 * (against the full network, ours and PyTorch's).
 * @module
 */

import {
  type Classifier,
  createModel,
  csrFromDense,
  csrLinear,
  linear,
  nm24FromDense,
  nm24Linear,
  noGrad,
  Tensor,
  tidy,
  uniform,
} from "@topiary/core";
import { nmMask, pruneFilters } from "@topiary/pruning";
import { BATCHES, fmtRow, measure, NETS, type SparseRow } from "./sparse.ts";
import type { TorchWorker } from "./torch_worker.ts";

/** Linear layers whose inputs divide by 4: Madry's fc1, SmallCNN's fc1, VGG-16-BN's fc1. */
const NM_LAYERS = [
  { name: "Madry fc1 3136->1024", c: 3136, k: 1024 },
  { name: "SmallCNN fc1 1568->100", c: 1568, k: 100 },
  { name: "VGG-16 fc1 2048->256", c: 2048, k: 256 },
];

/** 2:4 rows: ours dense, ours 2:4 (oursSparse) and CSR (in the note), PyTorch dense. */
export async function nmRows(
  worker: TorchWorker | null,
  reps: number,
  only?: string,
): Promise<SparseRow[]> {
  const rows: SparseRow[] = [];
  for (const l of NM_LAYERS.filter((x) => !only || x.name.includes(only))) {
    for (const batch of BATCHES) {
      const w0 = tidy(() =>
        uniform([l.k, l.c], { seed: 1, stream: `bench-nm-${l.name}` }).toArray() as Float32Array
      );
      const mask = nmMask(w0, l.c, 2, 4);
      const w = Tensor.fromHost(w0.map((v, i) => v * mask[i]), [l.k, l.c]);
      const b = uniform([l.k], { seed: 1, stream: "bench-b" }).keep();
      const x = uniform([batch, l.c], { seed: 1, stream: "bench-x" }).keep();
      const nm = nm24FromDense(w).keep(), csr = csrFromDense(w).keep();
      const spec = {
        kind: "sparse_layer",
        layer: "linear",
        n: batch,
        c: l.c,
        k: l.k,
        h: 1,
        w: 1,
        r: 1,
        s: 1,
        stride: 1,
        pad: 0,
        density: 0.5,
        mode: "dense",
      };
      const [od, o24, ocsr, td] = await measure(
        [
          () => tidy(() => void linear(x, w, b)),
          () => tidy(() => void nm24Linear(x, nm, b)),
          () => tidy(() => void csrLinear(x, csr, b)),
        ],
        [spec],
        worker,
        reps,
        `nm/${l.name}/${batch}`,
      );
      for (const t of [w, b, x]) t.dispose();
      nm.dispose(), csr.dispose();
      const row: SparseRow = {
        case: `${l.name} (2:4)`,
        batch,
        sparsity: 0.5,
        oursDense: od!,
        oursSparse: o24!,
        torchDense: td,
        torchSparse: null,
        note: `CSR at the same mask: ${ocsr!.toFixed(3)} ms; 2:4 stores ${
          ((2 * 4 + 1) / 16 * 100).toFixed(0)
        }% of the dense bytes`,
      };
      rows.push(row);
      console.log(fmtRow(row));
    }
  }
  return rows;
}

/** Filter-pruned (physically smaller) networks vs the full ones. */
export async function filterRows(
  worker: TorchWorker | null,
  reps: number,
  only?: string,
): Promise<SparseRow[]> {
  const rows: SparseRow[] = [];
  for (const net of NETS.filter((n) => !only || n.name.includes(only))) {
    for (const batch of BATCHES) {
      for (const s of [0.5, 0.75]) {
        const full = createModel(net.model, { seed: 0 }).eval() as Classifier;
        const small = createModel(net.model, { seed: 0 }).eval() as Classifier;
        pruneFilters(small, { sparsity: s });
        const x = uniform([batch, ...net.input], { seed: 1, stream: "bench-net-x" }).keep();
        const fwd = (m: Classifier) => () => noGrad(() => tidy(() => void m.forward(x)));
        const [fullMs, smallMs, torchMs] = await measure(
          [fwd(full), fwd(small)],
          [{ kind: "model_fwd", model: net.model, batch, input: net.input, density: 1 }],
          worker,
          reps,
          `filter/${net.name}/${batch}/${s}`,
        );
        const row: SparseRow = {
          case: `${net.name} forward, ${Math.round(100 * s)}% of filters removed`,
          batch,
          sparsity: 1 - small.parameterCount() / full.parameterCount(),
          oursDense: fullMs!,
          oursSparse: smallMs!,
          torchDense: torchMs,
          torchSparse: null,
          note: `${small.parameterCount()} of ${full.parameterCount()} parameters`,
        };
        rows.push(row);
        console.log(fmtRow(row));
        x.dispose(), full.dispose(), small.dispose();
      }
    }
  }
  return rows;
}
