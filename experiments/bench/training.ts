/**
 * Training-step benchmark (issue 3): one clean step (forward, backward, SGD update) at
 * batch 128 for LeNet-5, SmallCNN and Madry's CNN on 28x28, and forward+backward for
 * VGG-16-BN and ResNet-18 on 32x32, in images/s, against the same PyTorch models.
 * @module
 */

import {
  createModel,
  grad,
  type ModelSpec,
  SGD,
  softmaxCrossEntropy,
  tidy,
  uniform,
} from "@topiary/core";
import { type BenchCase, benchLabels } from "./_measure.ts";

interface ModelCase {
  label: string;
  model: string;
  args?: ModelSpec;
  input: [number, number, number];
  update: boolean;
}

/** The models and modes of the training benchmark. */
export const TRAINING_MODELS: ModelCase[] = [
  { label: "LeNet-5 train step", model: "lenet5", input: [1, 28, 28], update: true },
  { label: "SmallCNN train step", model: "small_cnn", input: [1, 28, 28], update: true },
  { label: "Madry CNN train step", model: "madry_cnn", input: [1, 28, 28], update: true },
  { label: "VGG-16-BN fwd+bwd", model: "vgg16_bn", input: [3, 32, 32], update: false },
  { label: "ResNet-18 fwd+bwd", model: "resnet18", input: [3, 32, 32], update: false },
];

/** Cases of the training benchmark at a batch size. */
export function trainingCases(batch = 128): BenchCase[] {
  return TRAINING_MODELS.map((c) => {
    const model = createModel(c.model, { seed: 0, ...c.args });
    model.train();
    const params = model.parameters();
    const opt = c.update ? new SGD(model.namedParameters(), { lr: 0.01, momentum: 0.9 }) : null;
    const x = uniform([batch, ...c.input], { seed: 0, stream: `x-${c.model}` }).keep();
    const y = benchLabels(batch, `y-${c.model}`).keep();
    return {
      name: `${c.label} (batch ${batch})`,
      work: batch,
      unit: "img/s",
      scale: 1,
      ours: () =>
        tidy(() => {
          const g = grad(softmaxCrossEntropy(model.forward(x), y), params);
          opt?.step(g);
        }),
      torch: {
        kind: "model",
        model: c.model,
        args: c.args ?? {},
        batch,
        input: [...c.input],
        update: c.update,
      },
    };
  });
}
