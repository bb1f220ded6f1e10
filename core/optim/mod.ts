/**
 * Optimizers (SGD, Adam, AdamW on the fused native kernels, with pruning masks) and stateless
 * learning-rate schedules.
 * @module
 */

export {
  type MaskMap,
  Optimizer,
  type OptimizerOptions,
  type OptimizerState,
  type ParamList,
  type StateScalar,
} from "./optimizer.ts";
export { SGD, type SGDOptions } from "./sgd.ts";
export { Adam, type AdamOptions, AdamW } from "./adam.ts";
export {
  constantLR,
  cosineLR,
  type CosineLROptions,
  fastATCyclicLR,
  linearWarmup,
  multiStepLR,
  type MultiStepLROptions,
  oneCycleLR,
  type OneCycleLROptions,
  perEpoch,
  piecewiseLinearLR,
  type Schedule,
  stepLR,
  type StepLROptions,
  triangularLR,
  type TriangularLROptions,
  type WarmupOptions,
} from "./schedules.ts";
export { makeSchedule, type ScheduleSpec } from "./schedule_spec.ts";
