/**
 * `core/train`: the training loop, evaluation, metrics as JSON lines and progress bars.
 * @module
 */

export {
  cleanObjective,
  countCorrect,
  type EpochSummary,
  type EpochTotals,
  evaluate,
  fit,
  type FitOptions,
  type FitResult,
  type Objective,
  type Position,
} from "./trainer.ts";
export { type MetricsRecord, MetricsWriter, readMetrics } from "./metrics.ts";
export { Progress, type ProgressOptions } from "./progress.ts";
