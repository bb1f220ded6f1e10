import {
  constantLR,
  cosineLR,
  fastATCyclicLR,
  linearWarmup,
  makeSchedule,
  multiStepLR,
  oneCycleLR,
  perEpoch,
  piecewiseLinearLR,
  type Schedule,
  stepLR,
  triangularLR,
} from "../../../core/optim/mod.ts";
import { assertClose, assertThrowsMsg } from "../../_harness.ts";

/** Asserts schedule values at the given steps (tight: these are closed forms). */
function expectAt(what: string, f: Schedule, at: Record<number, number>, rtol = 1e-12): void {
  const steps = Object.keys(at).map(Number);
  assertClose(steps.map((s) => f(s)), steps.map((s) => at[s]), 1e-15, rtol, what);
}

// Values marked "torch 1.13" were printed by PyTorch 1.13's schedulers (optimizer lr read
// before each optimizer step); PyTorch's recursive updates differ from the closed forms by
// rounding only, hence the relative tolerance of 1e-12.

Deno.test("constantLR is the same at every step", () => {
  expectAt("constant", constantLR(0.1), { 0: 0.1, 1: 0.1, 123456: 0.1 }, 0);
});

Deno.test("stepLR decays by gamma every stepSize steps (torch 1.13 StepLR)", () => {
  expectAt("step", stepLR({ lr: 0.1, stepSize: 3, gamma: 0.5 }), {
    0: 0.1,
    2: 0.1,
    3: 0.05,
    5: 0.05,
    6: 0.025,
    9: 0.0125,
  });
});

Deno.test("multiStepLR: the rate at a milestone is already decayed (torch 1.13 MultiStepLR)", () => {
  // Milestones [3, 6, 6]: the repeated 6 decays twice, as PyTorch's Counter of milestones.
  const f = multiStepLR({ lr: 0.1, milestones: [6, 3, 6], gamma: 0.5 });
  expectAt("multistep", f, { 0: 0.1, 2: 0.1, 3: 0.05, 5: 0.05, 6: 0.0125, 9: 0.0125 });
  expectAt("default gamma", multiStepLR({ lr: 0.1, milestones: [100, 150] }), {
    99: 0.1,
    100: 0.1 * 0.1,
    149: 0.1 * 0.1,
    150: 0.1 * 0.1 * 0.1,
  });
});

Deno.test("cosineLR: lr at 0, minLr at T and after (torch 1.13 CosineAnnealingLR)", () => {
  const f = cosineLR({ lr: 0.1, totalSteps: 10, minLr: 0.01 });
  expectAt("cosine", f, {
    0: 0.1,
    1: 0.09779754323328192,
    3: 0.08145033635316129,
    5: 0.05500000000000001,
    9: 0.012202456766718092,
    10: 0.01,
    11: 0.01, // PyTorch's closed form would rise again here; we hold the minimum
    1000: 0.01,
  });
  expectAt("cosine to 0", cosineLR({ lr: 2, totalSteps: 4 }), { 0: 2, 2: 1, 4: 0 }, 1e-15);
});

Deno.test("triangularLR: linear up to the peak, then down to 0, then 0", () => {
  const f = triangularLR({ maxLr: 0.2, peakStep: 40, totalSteps: 100 });
  expectAt("triangle", f, { 0: 0, 20: 0.1, 40: 0.2, 70: 0.1, 100: 0, 120: 0 });
  const g = triangularLR({ maxLr: 1, peakStep: 2, totalSteps: 6, startLr: 0.5, endLr: 0.25 });
  expectAt("triangle with ends", g, { 0: 0.5, 1: 0.75, 2: 1, 4: 0.625, 6: 0.25, 9: 0.25 });
});

Deno.test("fastATCyclicLR reproduces Wong et al.'s np.interp at t = e + (i + 1)/batches", () => {
  // 15 epochs of 10 batches: the peak (0.2) is at epoch 6, the end of batch 9 of epoch 5.
  const f = fastATCyclicLR({ maxLr: 0.2, epochs: 15, stepsPerEpoch: 10 });
  expectAt("fast AT", f, {
    0: 0.0033333333333333335,
    34: 0.11666666666666667,
    59: 0.2,
    60: 0.1977777777777778,
    149: 0,
  }, 0);
});

Deno.test("piecewiseLinearLR interpolates like np.interp and holds the end values", () => {
  const f = piecewiseLinearLR([[2, 1], [4, 3], [4, 10], [8, 2]]);
  expectAt("piecewise", f, { 0: 1, 2: 1, 3: 2, 4: 10, 6: 6, 8: 2, 9: 2 }, 0);
  assertThrowsMsg(() => piecewiseLinearLR([[2, 1], [1, 1]]), /steps must not decrease/);
});

Deno.test("oneCycleLR matches torch 1.13 OneCycleLR (cos, two phases; linear, three phases)", () => {
  const f = oneCycleLR({ maxLr: 1, totalSteps: 100 });
  expectAt("one-cycle", f, {
    0: 0.040000000000000036,
    1: 0.042813780565907456,
    14: 0.49401332387899954,
    28: 0.9971862194340926,
    29: 1, // the peak: step pctStart·T − 1
    30: 0.9994965352845243,
    64: 0.500002,
    98: 0.0005074647154757879,
    99: 4e-6,
  });
  assertThrowsMsg(() => f(101), /step 101 is past the cycle's 100 steps/);
  const g = oneCycleLR({
    maxLr: 0.5,
    totalSteps: 50,
    pctStart: 0.25,
    anneal: "linear",
    threePhase: true,
    divFactor: 10,
    finalDivFactor: 100,
  });
  expectAt("three-phase", g, {
    0: 0.05,
    5: 0.2456521739130435,
    11: 0.48043478260869565,
    12: 0.48043478260869565,
    17: 0.2847826086956522,
    23: 0.04999999999999999,
    24: 0.04809615384615385,
    30: 0.036673076923076926,
    49: 0.0005000000000000004,
  });
  assertThrowsMsg(() => oneCycleLR({ maxLr: 1, totalSteps: 2, pctStart: 0.5 }), /phase 1 is empty/);
});

Deno.test("linearWarmup composes with any schedule (torch 1.13 LinearLR, chained/sequential)", () => {
  // LinearLR alone: a constant inner schedule.
  const w = linearWarmup(constantLR(0.1), { steps: 4, startFactor: 0.25 });
  expectAt("warm-up", w, {
    0: 0.025,
    1: 0.043750000000000004,
    3: 0.08125000000000002,
    4: 0.1, // warm-up end
    5: 0.1,
  });
  // Chained with MultiStepLR([2, 5], 0.1): the factors multiply.
  const c = linearWarmup(multiStepLR({ lr: 0.1, milestones: [2, 5] }), {
    steps: 4,
    startFactor: 0.25,
  });
  expectAt("chained", c, {
    0: 0.025,
    2: 0.006250000000000002,
    3: 0.008125000000000004,
    4: 0.010000000000000005,
    6: 0.0010000000000000007,
  });
  // SequentialLR([LinearLR, CosineAnnealingLR(T_max 6)], milestones [4]).
  const s = linearWarmup(cosineLR({ lr: 0.1, totalSteps: 6 }), {
    steps: 4,
    startFactor: 0.25,
    sequential: true,
  });
  expectAt("sequential", s, {
    0: 0.025,
    3: 0.08125000000000002,
    4: 0.1,
    5: 0.09330127018922195,
    7: 0.05,
    10: 0,
  });
  expectAt("default start factor 1/3", linearWarmup(constantLR(3), { steps: 2 }), {
    0: 1,
    1: 2,
    2: 3,
  });
});

Deno.test("perEpoch drives an epoch-wise schedule per batch", () => {
  const f = perEpoch(multiStepLR({ lr: 1, milestones: [2], gamma: 0.5 }), 100);
  expectAt("per epoch", f, { 0: 1, 199: 1, 200: 0.5, 350: 0.5 }, 0);
});

Deno.test("schedules are stateless: any step can be asked first, in any order", () => {
  const spec = {
    kind: "warmup" as const,
    steps: 10,
    startFactor: 0.1,
    inner: { kind: "cosine" as const, lr: 0.1, totalSteps: 200, minLr: 0.001 },
  };
  const a = makeSchedule(spec), b = makeSchedule(JSON.parse(JSON.stringify(spec)));
  const forward = Array.from({ length: 200 }, (_, s) => a(s));
  const backward = Array.from({ length: 200 }, (_, s) => b(199 - s)).reverse();
  assertClose(backward, forward, 0, 0, "schedule values");
  expectAt("spec", a, { 0: 0.01, 10: cosineLR({ lr: 0.1, totalSteps: 200, minLr: 0.001 })(10) });
});

Deno.test("schedules refuse bad arguments with clear messages", () => {
  assertThrowsMsg(() => constantLR(-1), /constantLR: lr must be a finite number >= 0/);
  assertThrowsMsg(() => stepLR({ lr: 1, stepSize: 0 }), /stepSize must be an integer >= 1/);
  assertThrowsMsg(() => multiStepLR({ lr: 1, milestones: [1.5] }), /milestone must be an integer/);
  assertThrowsMsg(() => constantLR(1)(-1), /step must be an integer >= 0, got -1/);
  assertThrowsMsg(() => constantLR(1)(0.5), /step must be an integer >= 0, got 0.5/);
  assertThrowsMsg(() => linearWarmup(constantLR(1), { steps: 3, startFactor: 2 }), /startFactor/);
  assertThrowsMsg(
    () => triangularLR({ maxLr: 1, peakStep: 5, totalSteps: 4 }),
    /0 <= peakStep <= totalSteps/,
  );
  assertThrowsMsg(
    // deno-lint-ignore no-explicit-any
    () => makeSchedule({ kind: "exponential" } as any),
    /unknown schedule kind "exponential"/,
  );
});
