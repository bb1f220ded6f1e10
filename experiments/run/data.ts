/**
 * The datasets of a run: the training set with its validation split held out (seeded by the
 * run's seed), an optional training subset, and the test set.
 * @module
 */

import { loadDataset, splitValidation, subset, syntheticDataset } from "@topiary/core";
import type { DataConfig } from "../config/schema.ts";
import type { RunData } from "../pipeline/stage.ts";

/** Loads the datasets a config names. */
export async function loadRunData(d: DataConfig, seed: number): Promise<RunData> {
  let trainFull, test;
  if (d.name === "synthetic") {
    // One draw (shared class prototypes), split into train and test images.
    const s = d.synthetic!;
    const all = syntheticDataset({ n: s.train + s.test, shape: s.shape, seed: 1 });
    const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
    trainFull = subset(all, range(0, s.train), "synthetic-train");
    test = subset(all, range(s.train, s.train + s.test), "synthetic-test");
  } else {
    const dir = d.path ?? undefined;
    trainFull = await loadDataset(d.name, "train", { dir });
    test = await loadDataset(d.name, "test", { dir });
  }
  if (d.validation >= trainFull.length) {
    throw new Error(
      `data.validation: ${d.validation} held-out images leave none of the ` +
        `${trainFull.length} training images to train on`,
    );
  }
  let { train, val } = d.validation > 0
    ? splitValidation(trainFull, { size: d.validation, seed })
    : { train: trainFull, val: subset(trainFull, new Int32Array(0), `${trainFull.name}-val`) };
  if (d.trainSubset !== null && d.trainSubset < train.length) {
    train = subset(train, Int32Array.from({ length: d.trainSubset }, (_, i) => i));
  }
  return { train, val, test };
}
