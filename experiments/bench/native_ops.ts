/**
 * Single-op benchmark (issue 2): gemm 1024^3 and the MNIST CNN's convolutions (forward,
 * backward-data, backward-weights), plain NCHW in and out, against PyTorch on the same
 * machine and thread count.
 * @module
 */

import {
  conv2dBackwardDataRaw,
  conv2dBackwardWeightsRaw,
  conv2dForwardRaw,
  matmul,
  noGrad,
  tidy,
  toPlain,
  uniform,
} from "@topiary/core";
import type { BenchCase } from "./_measure.ts";

/** Cases of the single-op benchmark. */
export function nativeOpCases(): BenchCase[] {
  const cases: BenchCase[] = [];
  const seed = 1;
  const m = 1024;
  const a = uniform([m, m], { seed, stream: "bench-a" }).keep();
  const b = uniform([m, m], { seed, stream: "bench-b" }).keep();
  cases.push({
    name: "gemm 1024^3",
    work: 2 * m * m * m,
    unit: "GFLOP/s",
    scale: 1e-9,
    ours: () => tidy(() => void matmul(a, b)),
    torch: { kind: "gemm", m, n: m, k: m },
  });
  const shapes = [
    {
      label: "conv1 1->32 5x5 28x28",
      n: 128,
      c: 1,
      h: 28,
      w: 28,
      k: 32,
      r: 5,
      s: 5,
      stride: 1,
      pad: 2,
    },
    {
      label: "conv2 32->64 5x5 14x14",
      n: 128,
      c: 32,
      h: 14,
      w: 14,
      k: 64,
      r: 5,
      s: 5,
      stride: 1,
      pad: 2,
    },
  ];
  for (const sp of shapes) {
    const x = uniform([sp.n, sp.c, sp.h, sp.w], { seed, stream: `x-${sp.label}` }).keep();
    const w = uniform([sp.k, sp.c, sp.r, sp.s], { seed, stream: `w-${sp.label}` }, -0.5, 0.5)
      .keep();
    const bias = uniform([sp.k], { seed, stream: `b-${sp.label}` }).keep();
    const opts = { stride: sp.stride, padding: sp.pad };
    const P = (sp.h + 2 * sp.pad - sp.r) / sp.stride + 1,
      Q = (sp.w + 2 * sp.pad - sp.s) / sp.stride + 1;
    const dy = uniform([sp.n, sp.k, P, Q], { seed, stream: `dy-${sp.label}` }).keep();
    const flops = 2 * sp.n * sp.k * P * Q * sp.c * sp.r * sp.s;
    const spec = {
      n: sp.n,
      c: sp.c,
      h: sp.h,
      w: sp.w,
      k: sp.k,
      r: sp.r,
      s: sp.s,
      stride: sp.stride,
      pad: sp.pad,
    };
    cases.push({
      name: `${sp.label} fwd`,
      work: flops,
      unit: "GFLOP/s",
      scale: 1e-9,
      ours: () => tidy(() => void toPlain(conv2dForwardRaw(x, w, bias, opts))),
      torch: { kind: "conv_fwd", ...spec },
    });
    cases.push({
      name: `${sp.label} bwd-data`,
      work: flops,
      unit: "GFLOP/s",
      scale: 1e-9,
      ours: () => tidy(() => void toPlain(conv2dBackwardDataRaw(dy, w, x.shape, opts, true))),
      torch: { kind: "conv_bwd_data", ...spec },
    });
    cases.push({
      name: `${sp.label} bwd-weights`,
      work: flops,
      unit: "GFLOP/s",
      scale: 1e-9,
      ours: () => tidy(() => void conv2dBackwardWeightsRaw(x, dy, w.shape, opts, true)),
      torch: { kind: "conv_bwd_weights", ...spec },
    });
  }
  return cases.map((c) => ({ ...c, ours: () => noGrad(c.ours) }));
}
