/**
 * 2:4 compressed weights: the layout (values in column order, positions in the meta bytes,
 * zero-padded short groups), the 2:4 linear layer against the dense one at every batch path,
 * and the errors.
 * @module
 */

import assert from "node:assert/strict";
import type { Backend } from "@topiary/ffi";
import { linear, nm24FromDense, nm24Linear, Tensor, withGrad } from "@topiary/core";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";

/** A [rows, cols] weight keeping 2 of every 4 entries (positions drawn per group), some groups short. */
function weight24(rows: number, cols: number, name: string): Float32Array {
  const v = randomData(rows * cols, `${name}-v`), pick = randomData(rows * cols, `${name}-p`, 0, 1);
  const w = new Float32Array(rows * cols);
  for (let g = 0; g < w.length / 4; g++) {
    // The two largest of four uniform draws choose the kept positions; every 7th group keeps one.
    const order = [0, 1, 2, 3].sort((a, b) => pick[4 * g + b] - pick[4 * g + a]);
    const keep = g % 7 === 3 ? order.slice(0, 1) : order.slice(0, 2);
    for (const k of keep) w[4 * g + k] = v[4 * g + k];
  }
  return w;
}

function lacks24(b: Backend): boolean {
  if (b.supportsOp("tp_nm24_linear")) return false;
  assertThrowsMsg(
    () => nm24FromDense(Tensor.fromHost(new Float32Array(8), [2, 4])),
    /has no tp_nm24_from_dense/,
  );
  return true;
}

opTest("nm24FromDense stores each group's kept values and their positions", (b) => {
  if (lacks24(b)) return;
  const w = Tensor.fromHost([0, 1.5, 0, -2, 0, 0, 0, 3, 0, 0, 0, 0, 4, 5, 0, 0], [2, 8]);
  const m = nm24FromDense(w);
  assert.deepEqual([m.rows, m.cols], [2, 8]);
  assert.deepEqual(Array.from(m.values.toArray()), [1.5, -2, 0, 3, 0, 0, 4, 5]);
  // Positions (first | second << 2): (1, 3); (0, 3) padded; (0, 1) empty; (0, 1).
  assert.deepEqual(Array.from(m.meta.toArray()), [1 | 3 << 2, 0 | 3 << 2, 0 | 1 << 2, 0 | 1 << 2]);
  assert.equal(m.bytes, 8 * 4 + 4);
  m.dispose();
  assertThrowsMsg(
    () => nm24FromDense(Tensor.fromHost([1, 0, 0, 0, 1, 2, 3, 0], [1, 8])),
    /row 0, columns 4-7 hold more than 2 non-zeros: not 2:4/,
  );
  assertThrowsMsg(
    () => nm24FromDense(Tensor.fromHost(new Float32Array(6), [2, 3])),
    /3 inputs per row, not a multiple of 4/,
  );
});

opTest("nm24Linear equals the dense linear layer at every batch path", (b) => {
  if (lacks24(b)) return;
  for (const batch of [1, 3, 8, 37, 64]) {
    const [inF, outF] = [52, 19];
    const wh = weight24(outF, inF, `nm-${batch}`);
    const w = Tensor.fromHost(wh, [outF, inF]);
    const bias = Tensor.fromHost(Float32Array.from(randomData(outF, "nm-b")), [outF]);
    const x = Tensor.fromHost(Float32Array.from(randomData(batch * inF, "nm-x")), [batch, inF]);
    const m = nm24FromDense(w);
    for (const bb of [bias, null]) {
      assertClose(
        values(nm24Linear(x, m, bb)),
        values(linear(x, w, bb)),
        1e-5,
        1e-5,
        `batch ${batch}`,
      );
    }
    m.dispose();
  }
  const m = nm24FromDense(Tensor.fromHost(weight24(3, 8, "e"), [3, 8]));
  assertThrowsMsg(
    () => nm24Linear(Tensor.fromHost(new Float32Array(12), [2, 6]), m),
    /does not match weight \[3, 8\]/,
  );
  assertThrowsMsg(
    () => nm24Linear(Tensor.fromHost(new Float32Array(8), [1, 8]), m, Tensor.fromHost([1, 2], [2])),
    /bias \[2\] does not match 3 outputs/,
  );
  const xg = Tensor.fromHost(new Float32Array(8), [1, 8]);
  xg.requiresGrad = true;
  assertThrowsMsg(() => withGrad(() => nm24Linear(xg, m)), /no backward pass/);
  m.dispose();
});
