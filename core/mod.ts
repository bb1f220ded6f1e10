/**
 * `@topiary/core`: tensors in native memory, autograd, and the differentiable ops.
 * @module
 */

export { checkDType, type DType, DTYPE_BYTES } from "./dtype.ts";
export { leakStats, Storage } from "./storage.ts";
export {
  backendOfDevice,
  checkShape,
  contiguousStrides,
  fmtShape,
  getDefaultBackend,
  type HostData,
  numel,
  setDefaultBackend,
  Tensor,
} from "./tensor.ts";
export { dispose, keep, scopeDepth, tidy } from "./scope.ts";
export { isGradEnabled, Node, noGrad, record, withGrad } from "./autograd/node.ts";
export { grad, type GradOptions, valueAndGrad } from "./autograd/grad.ts";
export {
  philox4x32,
  philoxBits,
  philoxPermutation,
  philoxUniform,
  type Stream,
  streamId,
} from "./random/philox.ts";
export * from "./ops/create.ts";
export { cast } from "./ops/cast.ts";
export * from "./ops/elementwise.ts";
export * from "./ops/reduce.ts";
export {
  cat,
  clone,
  contiguous,
  detach,
  expand,
  flatten,
  permute,
  reshape,
  slice,
  squeeze,
  toPlain,
  transpose,
  unsqueeze,
} from "./ops/layout.ts";
export { linear, matmul } from "./ops/linalg.ts";
export {
  conv2d,
  conv2dBackwardDataRaw,
  conv2dBackwardWeightsRaw,
  conv2dForwardRaw,
  type Conv2dOptions,
  convParams,
} from "./ops/conv.ts";
export { avgPool2d, globalAvgPool2d, maxPool2d, type Pool2dOptions } from "./ops/pool.ts";
export { batchNorm2d, type BatchNormOptions } from "./ops/batchnorm.ts";
export { logSoftmax, type Reduction, softmax, softmaxCrossEntropy } from "./ops/loss.ts";
export { bernoulli, type DrawAddress, normal, randomBits, uniform } from "./ops/random.ts";
export {
  type AdamUpdate,
  adamUpdate,
  type AttackNorm,
  attackStep,
  projectToBall,
  type SgdUpdate,
  sgdUpdate,
} from "./ops/fused.ts";
export { keptCount, topkMasks, type TopkOptions } from "./ops/topk.ts";
export { csrFromDense, csrLinear, CsrMatrix, sparseConv2d } from "./ops/sparse.ts";
export { nm24FromDense, nm24Linear, Nm24Matrix } from "./ops/nm24.ts";
export * from "./optim/mod.ts";
export * from "./checkpoint/mod.ts";
export * from "./train/mod.ts";
export * from "./data/mod.ts";
export * from "./nn/mod.ts";
export * from "./models/mod.ts";
