/**
 * Attack benchmark (issue 4): PGD-10 (Linf, eps 0.3, step 0.03) attack throughput and one
 * PGD-10 adversarial training step (Madry: attack in eval mode, then an SGD step), batch
 * 128, SmallCNN and Madry's CNN, against the same loops in PyTorch, whose attack uses
 * torch.autograd.grad with respect to the input (skipping weight gradients, as ours does).
 * @module
 */

import { pgd, pgdTraining } from "@topiary/attacks";
import { createModel, grad, SGD, tidy, uniform } from "@topiary/core";
import { type BenchCase, benchLabels } from "./_measure.ts";

/** Cases of the attack benchmark. */
export function attackCases(batch = 128): BenchCase[] {
  const threat = { norm: "linf" as const, eps: 0.3 };
  const steps = 10, stepSize = 0.03;
  const cases: BenchCase[] = [];
  for (const [label, name] of [["SmallCNN", "small_cnn"], ["Madry CNN", "madry_cnn"]] as const) {
    const x = uniform([batch, 1, 28, 28], { seed: 0, stream: `ax-${name}` }).keep();
    const y = benchLabels(batch, `ay-${name}`).keep();
    const indices = Int32Array.from({ length: batch }, (_, i) => i);
    const spec = {
      kind: "pgd",
      model: name,
      batch,
      input: [1, 28, 28],
      eps: 0.3,
      alpha: stepSize,
      steps,
    };
    // Attack throughput: plain PGD (last iterate), like the PyTorch loop.
    const evalModel = createModel(name, { seed: 0 }).eval();
    const attack = pgd({ threat, steps, stepSize, keepBest: false });
    cases.push({
      name: `PGD-10 attack, ${label} (batch ${batch})`,
      work: batch,
      unit: "img/s",
      scale: 1,
      ours: () => tidy(() => void attack.run(evalModel, x, y, { seed: 0, indices })),
      torch: { ...spec, train: false },
    });
    // One adversarial training step.
    const model = createModel(name, { seed: 0 });
    const params = model.parameters();
    const opt = new SGD(model.namedParameters(), { lr: 0.01, momentum: 0.9 });
    const objective = pgdTraining({ threat, seed: 0, steps, stepSize, bnMode: "eval" });
    let step = 0;
    cases.push({
      name: `PGD-10 AT step, ${label} (batch ${batch})`,
      work: batch,
      unit: "img/s",
      scale: 1,
      ours: () =>
        tidy(() => {
          model.train();
          const pos = { epoch: 0, batch: step, step: step++ };
          const { loss } = objective.loss(model, x, y, pos);
          opt.step(grad(loss, params));
        }),
      torch: { ...spec, train: true },
    });
  }
  return cases;
}
