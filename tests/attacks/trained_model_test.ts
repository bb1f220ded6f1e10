/**
 * Attacks on a model trained for a second or two on a synthetic task: the orderings that
 * must hold between attacks of different strength.
 */

import {
  BatchLoader,
  countCorrect,
  fit,
  makeDataset,
  MLP,
  noGrad,
  SGD,
  syntheticDataset,
  tidy,
} from "@topiary/core";
import { apgd, apgdTargeted, type Attack, fgsm, type Norm, pgd, square } from "@topiary/attacks";
import { opTest } from "../_harness.ts";

const all = syntheticDataset({ n: 1224, shape: [1, 8, 8], numClasses: 5, seed: 11, noise: 0.6 });
const split = (name: string, a: number, b: number) =>
  makeDataset(name, all.images.slice(a * 64, b * 64), all.labels.slice(a, b), [1, 8, 8], 5);
const train = split("synthetic-train", 0, 1024), test = split("synthetic-test", 1024, 1224);

function trainedModel(): MLP {
  const model = new MLP({ seed: 3, inputShape: [1, 8, 8], hidden: [64], numClasses: 5 });
  using optimizer = new SGD(model.namedParameters(), { lr: 0.05, momentum: 0.9 });
  const loader = new BatchLoader(train, { batchSize: 64, seed: 1 });
  fit({ model, optimizer, train: loader, epochs: 4, quiet: true });
  model.eval();
  return model;
}

/** Accuracy on the test set under an attack (null: clean), and the per-example outcome. */
function accuracy(model: MLP, attack: Attack | null): { acc: number; right: Uint8Array } {
  const loader = new BatchLoader(test, { batchSize: 100, shuffle: false });
  const right = new Uint8Array(test.length);
  let correct = 0;
  for (let b = 0; b < loader.batchesPerEpoch; b++) {
    tidy(() => {
      const { x, y } = loader.batch(0, b);
      const indices = Int32Array.from({ length: y.size }, (_, i) => b * 100 + i);
      const adv = attack ? attack.run(model, x, y, { seed: 4, indices }) : x;
      const logits = noGrad(() => model.forward(adv));
      correct += countCorrect(logits, y);
      const pred = noGrad(() => logits.toArray());
      const labels = y.toArray();
      for (let i = 0; i < y.size; i++) {
        let best = 0;
        for (let j = 1; j < 5; j++) if (pred[i * 5 + j] > pred[i * 5 + best]) best = j;
        right[b * 100 + i] = best === labels[i] ? 1 : 0;
      }
    });
  }
  return { acc: correct / test.length, right };
}

opTest("on a trained model: PGD <= FGSM, restarts never help, large eps breaks all", () => {
  using model = trainedModel();
  const clean = accuracy(model, null).acc;
  if (clean < 0.9) throw new Error(`the model did not train: clean accuracy ${clean}`);
  const report: string[] = [`clean ${clean}`];
  const cases: [Norm, number][] = [["linf", 0.05], ["linf", 0.1], ["l2", 0.5], ["l2", 1]];
  for (const [norm, eps] of cases) {
    const threat = { norm, eps };
    const acc = (a: Attack) => accuracy(model, a);
    const f = acc(fgsm({ threat })).acc;
    const p1 = acc(pgd({ threat, steps: 10 }));
    const p3 = acc(pgd({ threat, steps: 10, restarts: 3 }));
    const pcw = acc(pgd({ threat, steps: 10, loss: "cw" }));
    const ap = acc(apgd({ threat, steps: 20 }));
    const at = acc(apgdTargeted({ threat, steps: 20, targets: 2 }));
    const sq = acc(square({ threat, queries: 150 }));
    report.push(
      `${norm} ${eps}: fgsm ${f} pgd ${p1.acc} pgd3 ${p3.acc} cw ${pcw.acc} apgd ${ap.acc} ` +
        `apgd-t ${at.acc} square ${sq.acc}`,
    );
    const fail = (why: string) => {
      throw new Error(`${why}\n${report.join("\n")}`);
    };
    if (!(p1.acc < clean - 0.05)) fail(`PGD ${norm} ${eps} barely changes accuracy`);
    if (p1.acc > f + 0.01) fail(`PGD leaves higher accuracy than FGSM (${norm} ${eps})`);
    if (ap.acc > f + 0.01) fail(`APGD leaves higher accuracy than FGSM (${norm} ${eps})`);
    if (p3.acc > p1.acc) fail(`3 restarts raise PGD accuracy (${norm} ${eps})`);
    // Restarts keep every success of the first restart: point-wise, not only on average.
    if (p3.right.some((r, i) => r > p1.right[i])) fail("a restart un-broke an example");
    if (!(sq.acc < clean)) fail(`Square does not lower accuracy (${norm} ${eps})`);
    if (!(at.acc <= clean)) fail("APGD-T raises accuracy");
  }
  if (Deno.env.get("TOPIARY_TEST_VERBOSE")) console.log(report.join("\n"));
  for (const [norm, eps] of [["linf", 1], ["l2", 8]] as [Norm, number][]) {
    const a = accuracy(model, pgd({ threat: { norm, eps }, steps: 10 })).acc;
    if (a > 0.02) throw new Error(`PGD at ${norm} eps ${eps} leaves accuracy ${a}`);
  }
});
