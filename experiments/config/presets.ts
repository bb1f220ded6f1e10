/**
 * Presets: the settings of a paper's experiment, as a partial config. A config naming a
 * preset starts from these; every setting it changes is recorded as a deviation (with the
 * reason the config gives), so a result states how it differs from its source.
 * @module
 */

import type { Raw } from "./_check.ts";

/** A preset: its source and its settings. */
export interface Preset {
  name: string;
  /** The paper (and reference code) the settings come from. */
  source: string;
  /** A partial config document. */
  settings: Raw;
  /** What the preset does not reproduce, if anything. */
  notes?: string;
}

/** HYDRA's CIFAR-10 setting (configs.yml, get_compact_net_adv_train.sh) around a prune stage. */
function hydraCifar10(prune: Raw): Raw {
  return {
    threat: { norm: "linf", eps: 0.031 },
    data: { name: "cifar10", augment: { crop: 4, flip: true } },
    model: { name: "vgg16_bn" },
    training: {
      epochs: 100,
      batchSize: 128,
      optimizer: { name: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 1e-4 },
      schedule: { name: "cosine" },
      objective: { name: "trades", beta: 6, steps: 10, stepSize: 0.0078, bnMode: "eval" },
    },
    pipeline: [
      { stage: "train" },
      prune,
      { stage: "train", name: "finetune", lr: 0.01 },
    ],
    evaluation: {
      attacks: [{ name: "pgd", steps: 50, stepSize: 0.0078, restarts: 1, loss: "ce" }],
    },
  };
}

const PRESETS: Preset[] = [
  {
    name: "madry-mnist",
    source: "Madry et al. 2018, Towards Deep Learning Models Resistant to Adversarial Attacks " +
      "(MadryLab/mnist_challenge)",
    settings: {
      threat: { norm: "linf", eps: 0.3 },
      data: { name: "mnist" },
      model: { name: "madry_cnn" },
      training: {
        // 100,000 iterations of batch 50 = 83.3 epochs of 60,000 images.
        epochs: 84,
        batchSize: 50,
        optimizer: { name: "adam", lr: 1e-4 },
        schedule: { name: "constant" },
        objective: { name: "pgd", steps: 40, stepSize: 0.01, loss: "ce", bnMode: "eval" },
      },
      evaluation: {
        attacks: [{ name: "pgd", steps: 100, stepSize: 0.01, restarts: 50, loss: "ce" }],
      },
    },
    notes: "The original trains on all 60,000 images; configs hold out a validation split.",
  },
  {
    name: "wong-fast-mnist",
    source: "Wong, Rice & Kolter 2020, Fast is better than free (locuslab/fast_adversarial, " +
      "MNIST): FGSM with random start",
    settings: {
      threat: { norm: "linf", eps: 0.3 },
      data: { name: "mnist" },
      model: { name: "small_cnn" },
      training: {
        epochs: 10,
        batchSize: 100,
        optimizer: { name: "adam", lr: 5e-3 },
        schedule: { name: "cyclic", peakEpoch: 5 },
        objective: { name: "fgsm", stepSize: 0.375, randomStart: true },
      },
      evaluation: {
        attacks: [{ name: "pgd", steps: 50, stepSize: 0.01, restarts: 10, loss: "ce" }],
      },
    },
  },
  {
    name: "topiary-robust-mnist",
    source: "This project's robust MNIST experiment (docs/results/robust_mnist.md): SmallCNN, " +
      "PGD-40 adversarial training",
    settings: {
      threat: { norm: "linf", eps: 0.3 },
      data: { name: "mnist", validation: 5000 },
      model: { name: "small_cnn" },
      training: {
        epochs: 20,
        batchSize: 128,
        optimizer: { name: "adam", lr: 1e-3 },
        schedule: { name: "cosine" },
        objective: {
          name: "pgd",
          steps: 40,
          stepSize: 0.01,
          loss: "ce",
          bnMode: "eval",
          epsWarmupEpochs: 2,
        },
      },
      evaluation: {
        subset: "all",
        attacks: [
          { name: "pgd", steps: 50, stepSize: 0.01, restarts: 10, loss: "ce" },
          { name: "pgd", steps: 50, stepSize: 0.01, restarts: 10, loss: "cw" },
          { name: "apgd-ce" },
          { name: "apgd-t" },
          { name: "square", queries: 5000 },
        ],
      },
    },
  },
  {
    name: "hydra-cifar10",
    source: "Sehwag et al. 2020, HYDRA: pruning adversarially robust neural networks " +
      "(inspire-group/hydra: configs/configs.yml, get_compact_net_adv_train.sh): VGG16-BN, " +
      "adversarial training with the TRADES loss, pretrain -> prune (scores, 20 epochs) -> " +
      "fine-tune (lr 0.01)",
    settings: hydraCifar10({
      stage: "prune",
      method: "hydra",
      sparsity: 0.99,
      epochs: 20,
      lr: 0.1,
    }),
    notes: "HYDRA's pretraining also used 500k pseudo-labelled extra images on CIFAR-10 in some " +
      "tables (--is-semisup); this preset trains on CIFAR-10 only.",
  },
  {
    name: "hydra-lwm-cifar10",
    source: "The least-weight-magnitude baseline of HYDRA (inspire-group/hydra): the same " +
      "pipeline with one-shot layer-wise magnitude pruning instead of the score optimisation",
    settings: hydraCifar10({ stage: "prune", method: "lwm", sparsity: 0.99 }),
  },
  {
    name: "open-lth-mnist-lenet",
    source: "Frankle & Carbin 2019 as configured in facebookresearch/open_lth " +
      "(models/mnist_lenet.py): LeNet-300-100, SGD lr 0.1, batch 128, 40 epochs, global " +
      "magnitude pruning of 20% of the remaining weights per round, output layer dense",
    settings: {
      data: { name: "mnist" },
      model: { name: "mlp" },
      training: {
        epochs: 40,
        batchSize: 128,
        optimizer: { name: "sgd", lr: 0.1, momentum: 0 },
        schedule: { name: "constant" },
        objective: { name: "clean" },
      },
      pipeline: [
        { stage: "lottery", sparsity: 0.99, rate: 0.2, scope: "global", excludeOutput: true },
      ],
    },
    notes: "open_lth initialises with Kaiming-normal; Topiary's default is PyTorch's " +
      "Kaiming-uniform. Set a threat model for adversarial tickets.",
  },
];

/** Names of the presets. */
export const PRESET_NAMES: readonly string[] = PRESETS.map((p) => p.name);

/** The preset of this name (undefined when unknown). */
export function findPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** All presets. */
export function listPresets(): readonly Preset[] {
  return PRESETS;
}
