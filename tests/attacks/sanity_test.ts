import { Tensor } from "@topiary/core";
import { evaluateRobustness } from "../../attacks/evaluate.ts";
import {
  checkDeterministic,
  checkEpsMonotonic,
  checkGradientFreeGap,
  checkZeroGradients,
  type EpsPoint,
  isGradientFree,
} from "../../attacks/sanity.ts";
import { assertThrowsMsg, opTest } from "../_harness.ts";
import {
  BreakAttack,
  Clamp,
  FIXED_PROVENANCE,
  IdentityAttack,
  Noisy,
  SignGradAttack,
  thresholdData,
  thresholdModel,
} from "./_eval_fakes.ts";

const BASE = { quiet: true, provenance: FIXED_PROVENANCE };

function expect(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

function batch() {
  const d = thresholdData();
  return {
    x: Tensor.fromHost(d.images, [d.length, ...d.shape]),
    y: Tensor.fromHost(d.labels, [d.length], "i32"),
  };
}

opTest("zero input gradients: raised on a saturated clamp, not on a normal model", () => {
  const { x, y } = batch();
  using flat = thresholdModel(new Clamp(2, 3)).eval(); // every pixel below 2: clamp saturates
  const bad = checkZeroGradients(flat, x, y);
  expect(bad.raised && bad.details.zero === 12, `saturated model: ${JSON.stringify(bad)}`);
  expect(/12 of 12 sampled examples have a zero input gradient/.test(bad.message), bad.message);
  using good = thresholdModel().eval();
  const before = good.parameters().map((p) => Array.from(p.toArray()).join());
  const ok = checkZeroGradients(good, x, y);
  const after = good.parameters().map((p) => Array.from(p.toArray()).join());
  expect(before.join("|") === after.join("|") && !good.training, "parameters and mode untouched");
  expect(!ok.raised && ok.details.zero === 0, `normal model: ${JSON.stringify(ok)}`);
  const loose = checkZeroGradients(flat, x, y, { maxZeroGradFraction: 1 });
  expect(!loose.raised, "a fraction threshold of 1 tolerates every zero gradient");
});

opTest("non-deterministic forward: raised on a randomised model, not on a normal one", () => {
  const { x } = batch();
  using noisy = new Noisy(thresholdModel()).eval();
  const bad = checkDeterministic(noisy, x);
  expect(bad.raised, `noisy model: ${JSON.stringify(bad)}`);
  expect(
    /two forward passes of the same 12 examples in eval mode differ/.test(bad.message),
    bad.message,
  );
  using good = thresholdModel().eval();
  const ok = checkDeterministic(good, x);
  expect(!ok.raised && ok.details.bitIdentical === true, `normal model: ${JSON.stringify(ok)}`);
});

opTest("the evaluation record carries the model flags", () => {
  const data = thresholdData();
  using flat = thresholdModel(new Clamp(2, 3));
  const r1 = evaluateRobustness(flat, data, [new SignGradAttack()], BASE);
  expect(r1.sanity.raised.includes("zero-gradients"), `clamp: ${r1.sanity.raised}`);
  using noisy = new Noisy(thresholdModel());
  const r2 = evaluateRobustness(noisy, data, [new IdentityAttack()], BASE);
  expect(r2.sanity.raised.includes("non-deterministic"), `noisy: ${r2.sanity.raised}`);
  const r3 = evaluateRobustness(noisy, data, [new IdentityAttack()], { ...BASE, sanity: false });
  expect(r3.sanity.raised.length === 0 && r3.sanity.checks.every((c) => c.skipped), "disabled");
});

opTest("a gradient-free attack breaking what the gradient attacks missed is flagged", () => {
  const data = thresholdData();
  using model = thresholdModel();
  const grad = () => new BreakAttack("pgd-fake", new Set([1]));
  const gap = (attacks: BreakAttack[], perAttackFull = false) =>
    evaluateRobustness(model, data, attacks, { ...BASE, perAttackFull }).sanity.checks
      .find((c) => c.id === "gradient-free-beats-gradient")!;
  const beats = gap([grad(), new BreakAttack("square", new Set([1, 2, 3]))]);
  expect(beats.raised && beats.details.freeOnly === 2, `square beats: ${JSON.stringify(beats)}`);
  expect(
    /broke 2 examples \(16\.67% of 12\) that the gradient attacks/.test(beats.message),
    beats.message,
  );
  const flagged = gap([grad(), new BreakAttack("score-fake", new Set([5]), true)]);
  expect(flagged.raised, "an attack with gradientFree: true counts as score-based");
  const fine = gap([grad(), new BreakAttack("square", new Set([1]))]);
  expect(!fine.raised && !fine.skipped && fine.details.freeOnly === 0, JSON.stringify(fine));
  const first = gap([new BreakAttack("square", new Set([2])), grad()]);
  expect(first.skipped && /run the gradient-free attack after/.test(first.message), first.message);
  const full = gap([new BreakAttack("square", new Set([2])), grad()], true);
  expect(full.raised && full.details.freeOnly === 1, `full mode: ${JSON.stringify(full)}`);
  expect(gap([grad()]).skipped, "no gradient-free attack: skipped");
  expect(gap([new BreakAttack("square", new Set())]).skipped, "no gradient attack: skipped");
  expect(isGradientFree(new BreakAttack("Square-5000", new Set())), "name starting with square");
  const small = checkGradientFreeGap({
    gradientFree: ["square"],
    gradient: ["apgd-ce"],
    freeOnly: 2,
    compared: 900,
    n: 1000,
  });
  expect(!small.raised, "2 of 1000 is within AutoAttack's 0.2% threshold");
});

function pt(eps: number, robustAccuracy: number, hash = "m"): EpsPoint {
  return {
    eps,
    norm: "linf",
    robustAccuracy,
    model: { stateDictSha256: hash },
    examples: { sha256: "e" },
  };
}

Deno.test("robust accuracy that does not fall as eps grows is flagged", () => {
  const rising = checkEpsMonotonic([pt(0.3, 0.6), pt(0.1, 0.8), pt(0.2, 0.5)]);
  expect(
    rising.raised &&
      /rises as eps grows \(0\.5 at eps 0\.2 -> 0\.6 at eps 0\.3\)/.test(rising.message),
    rising.message,
  );
  const flat = checkEpsMonotonic([pt(0.1, 0.8), pt(0.3, 0.8)]);
  expect(flat.raised && /does not fall from eps 0\.1/.test(flat.message), flat.message);
  const ok = checkEpsMonotonic([pt(0.1, 0.8), pt(0.2, 0.5), pt(0.3, 0.1)]);
  expect(!ok.raised && !ok.skipped, ok.message);
  expect(!checkEpsMonotonic([pt(0.1, 0), pt(0.3, 0)]).raised, "zero everywhere is not flagged");
  const noisy = [pt(0.1, 0.8), pt(0.2, 0.81), pt(0.3, 0.4)];
  expect(!checkEpsMonotonic(noisy, 0.02).raised, "a rise within tolerance");
  expect(checkEpsMonotonic(noisy).raised, "the same rise without tolerance");
  expect(checkEpsMonotonic([pt(0.1, 0.8)]).skipped, "one eps: skipped");
  assertThrowsMsg(
    () => checkEpsMonotonic([pt(0.1, 0.8), pt(0.2, 0.5, "other")]),
    /different models/,
  );
  assertThrowsMsg(
    () => checkEpsMonotonic([pt(0.1, 0.8), { ...pt(0.2, 0.5), norm: "l2" }]),
    /mix norms linf and l2/,
  );
});

opTest("eps curve from real evaluations falls and raises no flag", () => {
  const data = thresholdData();
  using model = thresholdModel();
  const at = (eps: number) =>
    evaluateRobustness(model, data, [
      new BreakAttack("b", new Set(eps > 0.05 ? [1, 2, 3] : []), false, { norm: "linf", eps }),
    ], BASE);
  const c = checkEpsMonotonic([at(0.01), at(0.1)]);
  expect(!c.raised, c.message);
});
