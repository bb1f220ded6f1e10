/**
 * GPU training benchmark (issue 7, `deno task bench --suite gpu` with `TOPIARY_DEVICE=cuda`):
 * one clean training step (forward, backward, SGD update) and one PGD-10 adversarial training
 * step (Linf, eps 8/255, step 2/255; attack in eval mode, then the SGD step) for ResNet-18 and
 * VGG-16-BN on 32x32 inputs at batch 128 and 512, against the same PyTorch loops on the same GPU.
 * @module
 */

import { pgdTraining } from "@topiary/attacks";
import { createModel, grad, SGD, softmaxCrossEntropy, tidy, uniform } from "@topiary/core";
import { type BenchCase, benchLabels } from "./_measure.ts";

/** The networks of the GPU benchmark. */
export const GPU_MODELS = [["ResNet-18", "resnet18"], ["VGG-16-BN", "vgg16_bn"]] as const;
/** Its batch sizes. */
export const GPU_BATCHES = [128, 512];

/** Cases of the GPU training benchmark (clean and PGD-10 steps, every model and batch). */
export function gpuTrainingCases(): BenchCase[] {
  const input = [3, 32, 32];
  const threat = { norm: "linf" as const, eps: 8 / 255 };
  const steps = 10, stepSize = 2 / 255;
  const cases: BenchCase[] = [];
  for (const batch of GPU_BATCHES) {
    for (const [label, name] of GPU_MODELS) {
      const x = uniform([batch, ...input], { seed: 0, stream: `gx-${name}` }).keep();
      const y = benchLabels(batch, `gy-${name}`).keep();
      const base = { model: name, args: {}, batch, input };
      // Clean step.
      const clean = createModel(name, { seed: 0 });
      clean.train();
      const cleanParams = clean.parameters();
      const cleanOpt = new SGD(clean.namedParameters(), { lr: 0.01, momentum: 0.9 });
      cases.push({
        name: `${label} clean step (batch ${batch})`,
        work: batch,
        unit: "img/s",
        scale: 1,
        ours: () =>
          tidy(() => cleanOpt.step(grad(softmaxCrossEntropy(clean.forward(x), y), cleanParams))),
        torch: { kind: "model", ...base, update: true },
      });
      // PGD-10 adversarial training step.
      const model = createModel(name, { seed: 0 });
      const params = model.parameters();
      const opt = new SGD(model.namedParameters(), { lr: 0.01, momentum: 0.9 });
      const objective = pgdTraining({ threat, seed: 0, steps, stepSize, bnMode: "eval" });
      let step = 0;
      cases.push({
        name: `${label} PGD-10 AT step (batch ${batch})`,
        work: batch,
        unit: "img/s",
        scale: 1,
        ours: () =>
          tidy(() => {
            model.train();
            const pos = { epoch: 0, batch: step, step: step++ };
            opt.step(grad(objective.loss(model, x, y, pos).loss, params));
          }),
        torch: { kind: "pgd", ...base, eps: threat.eps, alpha: stepSize, steps, train: true },
      });
    }
  }
  return cases;
}
