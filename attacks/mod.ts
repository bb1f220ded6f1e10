/**
 * `@topiary/attacks`: adversarial attacks, robust evaluation and adversarial training
 * objectives. Built on `@topiary/core`; see DESIGN.md "Attacks and robust evaluation".
 * The fused attack-step kernels live in core (`attackStep`, `projectToBall`).
 * @module
 */

export {
  type Attack,
  type AttackContext,
  checkContext,
  checkThreat,
  drawCounter,
  type Norm,
  type ThreatModel,
} from "./types.ts";
export {
  crossEntropyLoss,
  cwLoss,
  dlrLoss,
  klDivergence,
  lossByName,
  type LossFn,
  type LossName,
  oneHot,
  rankMasks,
  targetedDlrLoss,
} from "./losses.ts";
export { Fgsm, fgsm, type FgsmOptions } from "./fgsm.ts";
export { Pgd, pgd, type PgdOptions } from "./pgd.ts";
export {
  Apgd,
  apgd,
  apgdCheckpoints,
  type ApgdCommonOptions,
  type ApgdOptions,
  ApgdTargeted,
  apgdTargeted,
  type ApgdTargetedOptions,
} from "./apgd.ts";
export { Square, square, type SquareOptions, squareP } from "./square.ts";
export { TradesAttack, type TradesAttackOptions, tradesLoss } from "./trades.ts";
export {
  type OverfittingAction,
  OverfittingMonitor,
  type OverfittingOptions,
  type OverfittingRecord,
} from "./overfitting.ts";
export {
  AdversarialObjective,
  type AdversarialObjectiveOptions,
  type BnMode,
  cleanObjective,
  type EpsWarmup,
  fgsmTraining,
  type FgsmTrainingOptions,
  mixedTraining,
  type MixedTrainingOptions,
  pgdTraining,
  type PgdTrainingOptions,
  tradesTraining,
  type TradesTrainingOptions,
  warmupEps,
} from "./objectives.ts";
export { checkAttacks, type EvaluateOptions, evaluateRobustness } from "./evaluate.ts";
export {
  type AttackEntry,
  checkpointIdentity,
  type ExampleSet,
  type IndexRule,
  type IndexSelection,
  indicesSha256,
  type ModelIdentity,
  modelIdentity,
  readRobustnessRecord,
  ROBUSTNESS_FORMAT,
  type RobustnessRecord,
  selectIndices,
  sha256Hex,
  stateDictSha256,
  SUBSET_STREAM,
  writeRobustnessRecord,
} from "./eval_record.ts";
export {
  checkDeterministic,
  checkEpsMonotonic,
  checkGradientFreeGap,
  checkZeroGradients,
  type EpsPoint,
  type GradientFreeGap,
  isGradientFree,
  type SanityCheck,
  type SanityId,
  type SanityOptions,
  type SanityReport,
} from "./sanity.ts";
export {
  collectProvenance,
  cpuModel,
  type GitInfo,
  gitInfo,
  type Provenance,
  type ProvenanceOptions,
} from "./provenance.ts";
