/**
 * The resolved experiment config: every default filled in, every value checked. This is
 * what a run folder stores (`config.json`) and what the pipeline reads; YAML files are
 * parsed and validated into it by `resolveConfig`.
 * @module
 */

/** Datasets a config can name. */
export const DATASETS = ["mnist", "fashion-mnist", "cifar10", "synthetic"] as const;
/** Models a config can name (core's registry). */
export const MODELS = [
  "mlp",
  "lenet5",
  "caffe_lenet",
  "small_cnn",
  "madry_cnn",
  "vgg16_bn",
  "resnet18",
  "wrn",
] as const;
/** Training objectives. */
export const OBJECTIVES = ["clean", "pgd", "fgsm", "trades", "mixed"] as const;
/** Evaluation attacks. */
export const ATTACKS = ["fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "square"] as const;
/** Learning-rate schedules (lengths in epochs). */
export const SCHEDULES = ["constant", "cosine", "step", "multistep", "onecycle", "cyclic"] as const;
/** Optimizers. */
export const OPTIMIZERS = ["sgd", "adam"] as const;
/** Devices. */
export const DEVICES = ["cpu", "cuda"] as const;

/** Dataset settings. */
export interface DataConfig {
  name: typeof DATASETS[number];
  /** Folder of the files (cifar10; optional for mnist). */
  path: string | null;
  /** Training images held out for validation (model selection never sees the test set). */
  validation: number;
  /** Train on the first n (shuffled) training images only (null: all). */
  trainSubset: number | null;
  /** Random-crop padding (0: none) and horizontal flips. */
  augment: { crop: number; flip: boolean };
  /** Synthetic data only: images per split and image shape. */
  synthetic: { train: number; test: number; shape: [number, number, number] } | null;
}

/** Model settings. */
export interface ModelConfig {
  name: typeof MODELS[number];
  /** Width multiplier (madry_cnn, vgg, resnet) or widen factor (wrn). */
  width: number | null;
  /** Depth (wrn). */
  depth: number | null;
}

/** Threat model. */
export interface ThreatConfig {
  norm: "linf" | "l2";
  eps: number;
}

/** Optimizer settings. */
export interface OptimizerConfig {
  name: typeof OPTIMIZERS[number];
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/** Learning-rate schedule; lengths in epochs, converted to steps when built. */
export interface ScheduleConfig {
  name: typeof SCHEDULES[number];
  /** step: decay every `every` epochs; multistep: at these epochs. */
  every: number | null;
  milestones: number[];
  gamma: number;
  /** cosine: final rate. */
  minLr: number;
  /** cyclic: the epoch of the peak (Wong et al.: half the run). */
  peakEpoch: number | null;
  /** Linear warm-up epochs (multiplies the schedule). */
  warmupEpochs: number;
}

/** Training objective and its attack. */
export interface ObjectiveConfig {
  name: typeof OBJECTIVES[number];
  /** Attack steps (pgd, trades, mixed-pgd). */
  steps: number;
  /** Attack step size (absolute, in input units). */
  stepSize: number;
  /** PGD loss. */
  loss: "ce" | "cw";
  /** Random start (fgsm). */
  randomStart: boolean;
  /** TRADES beta. */
  beta: number;
  /** Mixed: weight of the adversarial loss; and its attack. */
  weight: number;
  mixedAttack: "pgd" | "fgsm";
  /** Batch-norm mode while the training attack is generated. */
  bnMode: "eval" | "train";
  /** Linear eps warm-up over these epochs. */
  epsWarmupEpochs: number;
}

/** Training settings (a train stage may override epochs). */
export interface TrainingConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  objective: ObjectiveConfig;
  /** Per-epoch validation: clean on the held-out split, robust (PGD) on its first n. */
  validationRobustN: number;
  validationAttackSteps: number;
}

/** One evaluation attack. */
export interface AttackConfig {
  name: typeof ATTACKS[number];
  steps: number;
  stepSize: number | null;
  restarts: number;
  loss: "ce" | "cw";
  queries: number;
  targets: number;
  /** PGD's random start: uniform in the ball or a random vertex (Linf). */
  start: "uniform" | "vertex";
  /** PGD and APGD: gradient through softplus_β instead of each ReLU (absent: exact). */
  reluSurrogate?: number;
}

/** Final evaluation. */
export interface EvaluationConfig {
  /** "all" (full test set) or a seeded subset of n test images. */
  subset: number | "all";
  /** Seed of the subset draw (the same subset for every run of a sweep). */
  subsetSeed: number;
  batchSize: number;
  attacks: AttackConfig[];
}

/** One pipeline stage; `kind` selects its implementation, `name` is unique in the run. */
export interface StageConfig {
  kind: string;
  name: string;
  /** Stage-specific settings, validated by the stage's definition. */
  settings: Record<string, unknown>;
}

/** A setting that differs from the preset's source. */
export interface Deviation {
  key: string;
  preset: unknown;
  used: unknown;
  reason: string;
}

/** A resolved experiment config. */
export interface ExperimentConfig {
  format: "topiary-experiment/1";
  name: string;
  preset: string | null;
  /** This run's seed. */
  seed: number;
  /** All seeds of the experiment (`run` runs each). */
  seeds: number[];
  device: typeof DEVICES[number];
  /** Native threads (null: all cores). Results are reproducible for a fixed count. */
  threads: number | null;
  threat: ThreatConfig;
  data: DataConfig;
  model: ModelConfig;
  training: TrainingConfig;
  pipeline: StageConfig[];
  evaluation: EvaluationConfig;
  /** Training-state checkpoint every this many optimizer steps (and at every epoch end). */
  checkpointEvery: number;
  deviations: Deviation[];
}
