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
