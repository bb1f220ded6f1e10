import {
  copyFromHost,
  createModel,
  type Linear,
  philoxPermutation,
  type Sequential,
  syntheticDataset,
} from "@topiary/core";
import { createHash } from "node:crypto";
import { evaluateRobustness } from "../../attacks/evaluate.ts";
import {
  indicesSha256,
  readRobustnessRecord,
  ROBUSTNESS_FORMAT,
  writeRobustnessRecord,
} from "../../attacks/eval_record.ts";
import { assertThrowsMsg, opTest } from "../_harness.ts";
import {
  BreakAttack,
  CheatAttack,
  FIXED_PROVENANCE,
  IdentityAttack,
  ModeSwitchAttack,
  NoiseAttack,
  SignGradAttack,
  thresholdData,
  thresholdModel,
} from "./_eval_fakes.ts";

const BASE = { quiet: true, provenance: FIXED_PROVENANCE };

function eq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: got ${a}, expected ${e}`);
}

opTest("an example is robust only if it survives every attack (point-wise worst case)", () => {
  const data = thresholdData();
  using model = thresholdModel();
  for (const perAttackFull of [false, true]) {
    const a = new BreakAttack("a", new Set([1, 2]));
    const b = new BreakAttack("b", new Set([2, 3]));
    const r = evaluateRobustness(model, data, [a, b], { ...BASE, batchSize: 5, perAttackFull });
    eq([r.n, r.cleanCorrect, r.robustCorrect], [12, 11, 8], `counts (full ${perAttackFull})`);
    eq(r.robustAccuracy, 8 / 12, "robust accuracy");
    eq(r.cleanAccuracy, 11 / 12, "clean accuracy");
    eq(r.mode, perAttackFull ? "full" : "cascade", "mode");
    const [ea, eb] = r.attacks;
    eq([ea.attacked, ea.broken, ea.newlyBroken, ea.accuracyCumulative], [11, 2, 2, 9 / 12], "a");
    if (perAttackFull) {
      eq([eb.attacked, eb.broken, eb.newlyBroken], [11, 2, 1], "b (full)");
      eq([ea.accuracyAlone, eb.accuracyAlone], [9 / 12, 9 / 12], "accuracy alone");
    } else {
      eq([eb.attacked, eb.broken, eb.newlyBroken], [9, 1, 1], "b (cascade)");
      eq(eb.accuracyAlone, null, "accuracy alone is not measured in cascade mode");
    }
    eq(eb.accuracyCumulative, r.robustAccuracy, "last cumulative = robust accuracy");
  }
});

opTest(
  "cascade attacks only the still-robust examples; full attacks every clean-correct one",
  () => {
    const data = thresholdData();
    using model = thresholdModel();
    for (const perAttackFull of [false, true]) {
      const a = new BreakAttack("a", new Set([1, 2]));
      const b = new IdentityAttack("b");
      evaluateRobustness(model, data, [a, b], { ...BASE, batchSize: 4, seed: 9, perAttackFull });
      const allCorrect = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]; // example 0 is misclassified
      eq(a.seen(), allCorrect, "a runs on the clean-correct examples");
      eq(b.seen(), perAttackFull ? allCorrect : allCorrect.filter((i) => i > 2), "b's examples");
      for (const c of [...a.calls, ...b.calls]) {
        eq(c.seed, 9, "context seed");
        eq(c.labels, c.indices.map((i) => data.labels[i]), "context indices are dataset indices");
      }
    }
  },
);

opTest("real attacks: identity keeps clean accuracy, one sign-gradient step breaks all", () => {
  const data = thresholdData();
  using model = thresholdModel();
  const r = evaluateRobustness(
    model,
    data,
    [new IdentityAttack(), new NoiseAttack(), new SignGradAttack()],
    { ...BASE, batchSize: 5 },
  );
  eq(r.attacks[0].broken, 0, "identity breaks nothing");
  eq(r.robustCorrect, 0, "the sign-gradient step crosses every margin");
  eq(r.sanity.raised, [], "no sanity flag on a normal model");
});

opTest("results do not depend on the batch size (draws follow dataset indices)", () => {
  const data = thresholdData(40);
  using model = thresholdModel();
  const run = (batchSize: number) => {
    const r = evaluateRobustness(model, data, [new NoiseAttack()], { ...BASE, batchSize, seed: 4 });
    return [r.cleanCorrect, r.robustCorrect, r.attacks[0].broken, r.examples.sha256];
  };
  const want = run(40);
  if ((want[2] as number) === 0) throw new Error("the noise attack should break some examples");
  for (const bs of [1, 7, 16]) eq(run(bs), want, `batch size ${bs}`);
});

opTest("the example subset is seeded, recorded and reproducible", () => {
  const data = syntheticDataset({ n: 50, shape: [1, 2, 2], numClasses: 2, seed: 1 });
  using model = thresholdModel();
  const ev = (o: Record<string, unknown>) =>
    evaluateRobustness(model, data, [new IdentityAttack()], { ...BASE, ...o });
  const r1 = ev({ n: 10, seed: 3 }), r2 = ev({ n: 10, seed: 3 });
  const want = Array.from(philoxPermutation(50, 3, "eval-subset", 0).slice(0, 10).sort());
  eq(r1.examples.indices, want, "subset = first n of philoxPermutation, ascending");
  eq(r1.examples, r2.examples, "same seed, same subset");
  eq(r1.examples.sha256, indicesSha256(Int32Array.from(want)), "sha256 of the indices");
  eq(r1.examples.rule.kind, "subset", "rule kind");
  const r3 = ev({ n: 10, seed: 4 });
  if (r3.examples.sha256 === r1.examples.sha256) throw new Error("another seed, same subset");
  eq(ev({ n: 10, seed: 4, subsetSeed: 3 }).examples.indices, want, "subsetSeed picks the subset");
  const all = ev({});
  eq([all.examples.rule, all.n, all.examples.indices], [
    { kind: "all", datasetSize: 50 },
    50,
    undefined,
  ], "default: the whole set");
  const ex = ev({ indices: [7, 3, 9] });
  eq([ex.examples.rule.kind, ex.examples.indices, ex.n], ["explicit", [7, 3, 9], 3], "explicit");
  assertThrowsMsg(() => ev({ indices: [1, 50] }), /index 50 at position 1 is outside 0\.\.49/);
  assertThrowsMsg(() => ev({ indices: [1, 1] }), /index 1 appears twice/);
  assertThrowsMsg(() => ev({ n: 51 }), /n must be an integer in 1\.\.50/);
  assertThrowsMsg(() => ev({ n: 5, indices: [1] }), /either n or indices/);
});

opTest("the record has every field and is written atomically as JSON", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const data = thresholdData();
    using model = thresholdModel();
    const ckpt = `${dir}/model.safetensors`;
    Deno.writeFileSync(ckpt, new TextEncoder().encode("weights"));
    const r = evaluateRobustness(model, data, [new BreakAttack("a", new Set([4]))], {
      ...BASE,
      n: 6,
      seed: 2n,
      batchSize: 3,
      checkpoint: ckpt,
      split: "test",
      modelName: "threshold-net",
    });
    const keys = [
      "format",
      "norm",
      "eps",
      "cleanAccuracy",
      "robustAccuracy",
      "n",
      "cleanCorrect",
      "robustCorrect",
      "mode",
      "attacks",
      "examples",
      "model",
      "checkpoint",
      "dataset",
      "seed",
      "batchSize",
      "timing",
      "sanity",
      "provenance",
    ];
    eq(Object.keys(r), keys, "record fields");
    eq(
      [r.format, r.norm, r.eps, r.seed, r.batchSize],
      [ROBUSTNESS_FORMAT, "linf", 0.1, 2, 3],
      "top",
    );
    eq(Object.keys(r.attacks[0]), [
      "name",
      "settings",
      "norm",
      "eps",
      "gradientFree",
      "attacked",
      "broken",
      "newlyBroken",
      "accuracyCumulative",
      "accuracyAlone",
      "seconds",
    ], "attack entry fields");
    eq(r.attacks[0].settings, { kind: "a", eps: 0.1 }, "attack settings");
    eq(
      [r.model.name, r.model.parameterCount, r.model.stateDictEntries],
      ["threshold-net", 10, 2],
      "model",
    );
    if (!/^[0-9a-f]{64}$/.test(r.model.stateDictSha256)) throw new Error("state-dict hash");
    const fileHash = createHash("sha256").update("weights").digest("hex");
    eq(r.checkpoint, { path: ckpt, sha256: fileHash }, "checkpoint identity");
    eq(
      r.dataset,
      { name: "threshold", split: "test", size: 12, shape: [1, 2, 2], numClasses: 2 },
      "dataset",
    );
    eq(r.sanity.checks.map((c) => c.id), [
      "zero-gradients",
      "non-deterministic",
      "gradient-free-beats-gradient",
    ], "sanity checks");
    if (!(r.timing.totalSeconds > 0)) throw new Error("timing");
    eq(r.provenance, FIXED_PROVENANCE, "provenance");
    const path = `${dir}/record.json`;
    writeRobustnessRecord(path, r);
    eq(readRobustnessRecord(path), r, "JSON round trip");
    eq(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["model.safetensors", "record.json"],
      "no temp files",
    );
    Deno.writeTextFileSync(path, '{"format":"other"}');
    assertThrowsMsg(() => readRobustnessRecord(path), /is not a topiary-robust-eval\/1 record/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

opTest("the same weights give the same state-dict hash; other weights another", () => {
  const data = thresholdData();
  using m1 = thresholdModel();
  using m2 = thresholdModel();
  const h = (m: Sequential) =>
    evaluateRobustness(m, data, [new IdentityAttack()], { ...BASE, sanity: false }).model
      .stateDictSha256;
  eq(h(m1), h(m2), "equal weights");
  copyFromHost((m2.at(1) as Linear).bias!, Float32Array.from([0, -49]));
  if (h(m1) === h(m2)) throw new Error("different weights, same hash");
});

opTest("evaluation runs in eval mode and restores every module's mode afterwards", () => {
  const data = thresholdData();
  using model = thresholdModel();
  model.train();
  model.at(0).eval(); // mixed modes must come back as they were
  const a = new IdentityAttack();
  const r = evaluateRobustness(model, data, [a], BASE);
  eq(a.calls.every((c) => !c.training), true, "attacks see eval mode");
  eq(r.sanity.raised, [], "no flags");
  eq(model.namedModules().map(([, m]) => m.training), [true, false, true], "modes restored");
  assertThrowsMsg(
    () => evaluateRobustness(model, data, [new ModeSwitchAttack()], BASE),
    /attack "mode-switch" switched module "\(root\)" of Sequential to training mode/,
  );
  eq(model.namedModules().map(([, m]) => m.training), [true, false, true], "restored after error");
});

opTest("bad inputs give errors naming them", () => {
  const data = thresholdData();
  using model = thresholdModel();
  const ev = (attacks: unknown[], o: Record<string, unknown> = {}, ds = data) =>
    evaluateRobustness(model, ds, attacks as never, { ...BASE, ...o });
  assertThrowsMsg(() => ev([]), /attack list is empty/);
  assertThrowsMsg(
    () =>
      ev([
        new IdentityAttack("x"),
        new BreakAttack("y", new Set(), false, { norm: "l2", eps: 0.1 }),
      ]),
    /different threat models: "x" has linf eps 0\.1, "y" has l2 eps 0\.1/,
  );
  assertThrowsMsg(
    () => ev([new BreakAttack("y", new Set(), false, { norm: "linf", eps: -1 })]),
    /attack 0 \("y"\): eps must be a finite number >= 0, got -1/,
  );
  const wrongShape = syntheticDataset({ n: 4, shape: [1, 3, 3], numClasses: 2, name: "nine" });
  assertThrowsMsg(
    () => ev([new IdentityAttack()], {}, wrongShape),
    /failed on images \[4,1,3,3\] of dataset "nine"/,
  );
  using lenet = createModel("lenet5", { seed: 0 });
  assertThrowsMsg(
    () => evaluateRobustness(lenet, data, [new IdentityAttack()], BASE),
    /model LeNet5 takes images \[1,28,28\], dataset "threshold" has images \[1,2,2\]/,
  );
  const wrongClasses = syntheticDataset({ n: 4, shape: [1, 2, 2], numClasses: 3, name: "three" });
  assertThrowsMsg(
    () => ev([new IdentityAttack()], {}, wrongClasses),
    /logits \[4,2\] for 4 images of dataset "three"; expected \[4, 3\]/,
  );
  assertThrowsMsg(
    () => ev([new CheatAttack()]),
    /attack "cheat" moved example 1 by 0\.2\d* in linf, beyond eps 0\.1/,
  );
  assertThrowsMsg(
    () => ev([new IdentityAttack()], { batchSize: 0 }),
    /batchSize must be a positive integer, got 0/,
  );
  assertThrowsMsg(
    () => ev([new IdentityAttack()], { seed: -1 }),
    /seed must be a non-negative integer/,
  );
  assertThrowsMsg(
    () => ev([new IdentityAttack()], { checkpoint: "/nonexistent/x" }),
    /cannot read checkpoint "\/nonexistent\/x"/,
  );
});
