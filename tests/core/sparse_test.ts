/**
 * Sparse inference kernels: CSR conversion, the CSR linear layer and the direct sparse
 * convolution against the dense ops (both batch paths, strides, padding, dilation, empty and
 * full rows), and their errors.
 * @module
 */

import assert from "node:assert/strict";
import type { Backend } from "@topiary/ffi";
import {
  conv2d,
  type Conv2dOptions,
  csrFromDense,
  csrLinear,
  linear,
  sparseConv2d,
  Tensor,
} from "@topiary/core";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";

/** A weight of `shape` whose entries are zero with probability `zeros` (seeded). */
function sparseWeight(shape: number[], zeros: number, name: string): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = randomData(n, `${name}-v`), keep = randomData(n, `${name}-k`, 0, 1);
  return Float32Array.from(v, (x, i) => (keep[i] < zeros ? 0 : x));
}

/** Skips (with a check of the refusal) on a backend without the sparse kernels. */
function lacksSparse(b: Backend): boolean {
  if (b.supportsOp("tp_csr_linear")) return false;
  const w = Tensor.fromHost([1, 0, 0, 2], [2, 2]);
  assertThrowsMsg(() => csrFromDense(w), /has no tp_csr_from_dense/);
  return true;
}

opTest("csrFromDense stores the non-zeros row by row", (b) => {
  if (lacksSparse(b)) return;
  const w = Tensor.fromHost([0, 1.5, 0, -2, 0, 0, 0, 0, 3, 0, 0, 4], [3, 2, 2]);
  const csr = csrFromDense(w);
  assert.deepEqual([csr.rows, csr.cols, csr.nnz], [3, 4, 4]);
  assert.deepEqual(Array.from(csr.rowPtr.toArray()), [0, 2, 2, 4]);
  assert.deepEqual(Array.from(csr.colIdx.toArray()), [1, 3, 0, 3]);
  assert.deepEqual(Array.from(csr.values.toArray()), [1.5, -2, 3, 4]);
  assert.equal(csr.density, 4 / 12);
  csr.dispose();
  const empty = csrFromDense(Tensor.fromHost(new Float32Array(6), [2, 3]));
  assert.equal(empty.nnz, 0);
  assert.deepEqual(Array.from(empty.rowPtr.toArray()), [0, 0, 0]);
  empty.dispose();
});

opTest("csrLinear equals the dense linear layer at every batch path and density", (b) => {
  if (lacksSparse(b)) return;
  for (const zeros of [0, 0.5, 0.95, 1]) {
    for (const batch of [1, 3, 8, 37, 64]) {
      const [inF, outF] = [53, 19];
      const wh = sparseWeight([outF, inF], zeros, `lin-${zeros}`);
      const w = Tensor.fromHost(wh, [outF, inF]);
      const bias = Tensor.fromHost(Float32Array.from(randomData(outF, "lin-b")), [outF]);
      const x = Tensor.fromHost(Float32Array.from(randomData(batch * inF, "lin-x")), [batch, inF]);
      const csr = csrFromDense(w);
      const what = `zeros ${zeros}, batch ${batch}`;
      assertClose(values(csrLinear(x, csr, bias)), values(linear(x, w, bias)), 1e-5, 1e-5, what);
      assertClose(values(csrLinear(x, csr)), values(linear(x, w, null)), 1e-5, 1e-5, what);
      csr.dispose();
    }
  }
});

opTest("sparseConv2d equals conv2d over strides, padding, dilation and batch paths", (b) => {
  if (lacksSparse(b)) return;
  const cases: { x: number[]; w: number[]; opts: Conv2dOptions; zeros: number }[] = [
    { x: [1, 3, 9, 9], w: [4, 3, 3, 3], opts: { padding: 1 }, zeros: 0.7 },
    { x: [3, 2, 8, 7], w: [5, 2, 4, 4], opts: { stride: 2, padding: 1 }, zeros: 0.5 },
    { x: [2, 4, 11, 10], w: [3, 4, 3, 2], opts: { dilation: 2, padding: [2, 1] }, zeros: 0.9 },
    { x: [9, 3, 6, 6], w: [6, 3, 3, 3], opts: { padding: 1 }, zeros: 0.8 },
    { x: [40, 2, 5, 5], w: [4, 2, 3, 3], opts: { stride: 2, padding: 2 }, zeros: 0.6 },
    { x: [16, 8, 2, 2], w: [8, 8, 3, 3], opts: { padding: 1 }, zeros: 0.99 },
    { x: [4, 6, 7, 7], w: [5, 6, 1, 1], opts: {}, zeros: 0 },
    { x: [10, 3, 4, 4], w: [4, 3, 3, 3], opts: { padding: [1, 0, 2, 1] }, zeros: 1 },
    // Small planes at small batch (the padded-input kernel): Q = 4, 4 (strided), 2, 1.
    { x: [2, 5, 4, 4], w: [6, 5, 3, 3], opts: { padding: 1 }, zeros: 0.5 },
    { x: [3, 4, 8, 8], w: [5, 4, 3, 3], opts: { stride: 2, padding: [1, 1, 0, 0] }, zeros: 0.3 },
    { x: [1, 3, 6, 4], w: [2, 3, 3, 3], opts: { dilation: [1, 2], padding: 1 }, zeros: 0.2 },
    { x: [5, 2, 3, 3], w: [3, 2, 3, 3], opts: {}, zeros: 0 },
  ];
  for (const [i, c] of cases.entries()) {
    const n = (s: number[]) => s.reduce((a, v) => a * v, 1);
    const w = Tensor.fromHost(sparseWeight(c.w, c.zeros, `conv-${i}`), c.w);
    const x = Tensor.fromHost(Float32Array.from(randomData(n(c.x), `conv-x-${i}`)), c.x);
    const bias = Tensor.fromHost(Float32Array.from(randomData(c.w[0], `conv-b-${i}`)), [c.w[0]]);
    const csr = csrFromDense(w);
    const k: [number, number] = [c.w[2], c.w[3]];
    const what = `case ${i} x ${c.x} w ${c.w} ${JSON.stringify(c.opts)}`;
    // The reference is the CPU backend's dense convolution (oneDNN), a separate implementation.
    const [xc, wc, bc] = [x.to("cpu"), w.to("cpu"), bias.to("cpu")];
    const dense = conv2d(xc, wc, bc, c.opts);
    const sparse = sparseConv2d(x, csr, k, bias, c.opts);
    assert.deepEqual(sparse.shape, dense.shape, what);
    assertClose(values(sparse), values(dense), 1e-5, 1e-5, what);
    assertClose(
      values(sparseConv2d(x, csr, k, null, c.opts)),
      values(conv2d(xc, wc, null, c.opts)),
      1e-5,
      1e-5,
      what,
    );
    csr.dispose();
  }
});

opTest("sparse kernels refuse mismatched shapes and inputs that need gradients", (b) => {
  if (lacksSparse(b)) return;
  const w = Tensor.fromHost(sparseWeight([4, 6], 0.5, "err"), [4, 6]);
  const csr = csrFromDense(w);
  assertThrowsMsg(() => csrLinear(Tensor.fromHost(new Float32Array(10), [2, 5]), csr), /match/);
  assertThrowsMsg(
    () => csrLinear(Tensor.fromHost(new Float32Array(12), [2, 6]), csr, Tensor.fromHost([1], [1])),
    /bias \[1\] does not match 4 outputs/,
  );
  const x = Tensor.fromHost(new Float32Array(12), [2, 6]);
  x.requiresGrad = true;
  assertThrowsMsg(() => csrLinear(x, csr), /no backward pass.*noGrad/);
  assertThrowsMsg(
    () => sparseConv2d(Tensor.fromHost(new Float32Array(50), [2, 1, 5, 5]), csr, [3, 3]),
    /does not match weight \[4, 6\] with kernel 3x3/,
  );
  assertThrowsMsg(() => csrFromDense(Tensor.fromHost([1, 2], [2])), /must have >= 2 dims/);
  csr.dispose();
});

opTest("a corrupt CSR matrix is refused by the kernel, naming the fault", (b) => {
  if (lacksSparse(b) || b.name !== "cpu") return; // the CPU validates structure on the host
  const csr = csrFromDense(Tensor.fromHost([1, 0, 2, 0, 3, 4], [2, 3]));
  const x = Tensor.fromHost(new Float32Array(3), [1, 3]);
  b.check(b.sym.tp_copy_from_host(csr.colIdx.storage.ptr, 0n, new Int32Array([0, 3]), 8n), "t");
  assertThrowsMsg(() => csrLinear(x, csr), /col_idx\[1\] = 3 is outside \[0, 3\)/);
  b.check(b.sym.tp_copy_from_host(csr.rowPtr.storage.ptr, 0n, new Int32Array([0, 3, 2]), 12n), "t");
  assertThrowsMsg(() => csrLinear(x, csr), /row_ptr runs from 0 to 2, expected 0 to 4/);
  csr.dispose();
});
