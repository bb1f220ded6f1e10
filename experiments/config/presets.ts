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
  {
    name: "edgepopup-resnet18-cifar10",
    source: "Ramanujan et al. 2020, What's hidden in a randomly weighted neural network? " +
      "(allenai/hidden-networks: configs/smallscale/resnet18/resnet18-usc-unsigned.yaml): " +
      "ResNet-18, unscaled signed-constant weights, scores trained by SGD (lr 0.1, momentum " +
      "0.9, weight decay 5e-4 on the scores, batch 256, cosine, 100 epochs), k = 0.5",
    settings: {
      data: { name: "cifar10", augment: { crop: 4, flip: true } },
      model: { name: "resnet18" },
      training: {
        epochs: 100,
        batchSize: 256,
        optimizer: { name: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
        schedule: { name: "cosine" },
        objective: { name: "clean" },
      },
      pipeline: [{
        stage: "prune",
        method: "edgepopup",
        sparsity: 0.5,
        init: "signed_constant",
        scaleFan: false,
        epochs: 100,
        lr: 0.1,
        momentum: 0.9,
        weightDecay: 5e-4,
      }],
    },
    notes: "The reference normalises CIFAR-10 inputs (mean/std) and uses non-affine batch " +
      "norm and bias-free layers; Topiary's ResNet-18 takes [0, 1] inputs, its batch norms are " +
      "held at the identity and its biases at zero by the edge-popup stage. Set a threat model " +
      "and an adversarial objective for robust subnetworks.",
  },
  {
    name: "admm-ye-cifar10",
    source: "Ye et al. 2019, Adversarial robustness vs. model compression, or both? " +
      "(yeshaokai/Robustness-Aware-Pruning-ADMM, ADMM_examples/cifar10): VGG-16, PGD-10 " +
      "adversarial training (eps 8/255, step 2/255) throughout; pretrain (lr 0.1, cosine, 200 " +
      "epochs) -> ADMM (lr 0.01, 200 epochs, Z/U every 20 epochs, rho 1e-3 x1.3) -> masked " +
      "retrain (lr 0.01, 200 epochs); 93.75% irregular sparsity of every conv layer",
    settings: {
      threat: { norm: "linf", eps: 0.031 },
      data: { name: "cifar10", augment: { crop: 4, flip: true } },
      model: { name: "vgg16_bn" },
      training: {
        epochs: 200,
        batchSize: 128,
        optimizer: { name: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 1e-4 },
        schedule: { name: "cosine" },
        objective: { name: "pgd", steps: 10, stepSize: 0.0078, loss: "ce", bnMode: "train" },
      },
      pipeline: [
        { stage: "train" },
        {
          stage: "admm",
          sparsity: 0.9375,
          structure: "irregular",
          epochs: 200,
          lr: 0.01,
          every: 20,
          rho: 0.001,
          rhoMultiplier: 1.3,
          dense: ["classifier"],
        },
        { stage: "train", name: "retrain", lr: 0.01 },
      ],
      evaluation: {
        attacks: [{ name: "pgd", steps: 10, stepSize: 0.0078, restarts: 1, loss: "ce" }],
      },
    },
    notes: "The reference retrains with MultiStepLR at epochs 80 and 150; here every stage " +
      "uses the config's schedule (cosine). Its VGG-16 differs from HYDRA's (the zoo's " +
      "vgg16_bn) in the classifier; its checkpoint is chosen on the test set, here on the " +
      "held-out validation split.",
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
