/**
 * `@topiary/pruning`: masks, scores and pruning methods. Fixed masks (magnitude, random,
 * lottery tickets) zero the pruned weights and keep them zero through the optimizer; score
 * masks (HYDRA) leave the weights alone and learn which to keep. See DESIGN.md "Pruning".
 * @module
 */

export {
  type PrunableLayer,
  prunableLayers,
  type PrunableOptions,
  weightSnapshot,
} from "./prunable.ts";
export { fromHost, type LayerSparsity, MaskSet, type Scope, type SparsityReport } from "./masks.ts";
export { type Criterion, prune, selectMasks, type SelectOptions } from "./select.ts";
export { type ScoreInit, type ScoreOptions, ScoreSet, straightThrough } from "./scores.ts";
export {
  type Histogram,
  type LayerMeasure,
  measureModel,
  type ModelMeasure,
  weightHistograms,
} from "./measure.ts";
export {
  gradualSparsity,
  lotteryKeptCounts,
  lotterySparsities,
  perLayerSparsity,
} from "./lottery.ts";
export {
  SparseInference,
  type SparseInferenceOptions,
  type SparseLayerChoice,
  toSparseInference,
} from "./sparse_inference.ts";
export { nmMask, type NmOptions, type NmReport, pruneNm } from "./nm.ts";
export {
  type EdgePopupBiases,
  type EdgePopupInit,
  type EdgePopupOptions,
  type EdgePopupReport,
  randomizeForEdgePopup,
} from "./edge_popup.ts";
export {
  expandGroups,
  groupCount,
  groupNorms,
  projectionMask,
  type ProjectionOptions,
  projectSparse,
  type Structure,
  STRUCTURES,
  topGroups,
} from "./projection.ts";
export { modelSizeBits, type Quantized, quantizeKmeans } from "./quantize.ts";
export {
  Admm,
  type AdmmResidual,
  hardPrune,
  type Projection,
  quantizeProjection,
  sparsityProjection,
} from "./admm.ts";
export {
  applyFilterPlan,
  deadFilterPlan,
  type FilterNorm,
  type FilterPlan,
  type FilterPruneOptions,
  planFilters,
  pruneFilters,
  zeroFilters,
} from "./filters.ts";
export { analyzeNetwork, type NetworkAnalysis, type UnitAnalysis } from "./analysis.ts";
