import { type Tensor, tensor } from "@topiary/core";
import {
  crossEntropyLoss,
  cwLoss,
  dlrLoss,
  klDivergence,
  lossByName,
  type LossName,
  oneHot,
  rankMasks,
  targetedDlrLoss,
} from "@topiary/attacks";
import { assertClose, assertThrowsMsg, opTest, randomData, values } from "../_harness.ts";
import { gradCheck } from "../_gradcheck.ts";

const Z = [
  [1, 3, 2, 0.5, -1],
  [1, 3, 2, 0.5, -1],
  [0, 0, 5, 1, 2],
];
const logits = () => tensor(Z.flat(), [3, 5]);
const labels = (v: number[]) => tensor(v, [v.length], { dtype: "i32" });

opTest("CW margin and DLR against hand-computed values", () => {
  const z = logits(), y = labels([0, 1, 4]);
  // CW: max_{j != y} z_j - z_y.
  assertClose(values(cwLoss(z, y)), [3 - 1, 2 - 3, 5 - 2], 1e-6, 1e-6, "cw");
  // DLR: -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3); sorted rows 3,2,1,.. and 5,2,1,..
  assertClose(values(dlrLoss(z, y)), [2 / 2, -1 / 2, 3 / 4], 1e-6, 1e-6, "dlr");
  // Targeted DLR: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2).
  const t = labels([3, 3, 0]);
  const want = [-(1 - 0.5) / (3 - 0.75), -(3 - 0.5) / (3 - 0.75), -(2 - 0) / (5 - 0.5)];
  assertClose(values(targetedDlrLoss(z, y, t)), want, 1e-6, 1e-6, "targeted dlr");
  const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
  assertClose(
    values(crossEntropyLoss(z, y)),
    [lse(Z[0]) - 1, lse(Z[1]) - 3, lse(Z[2]) - 2],
    1e-5,
    1e-5,
    "ce",
  );
  for (const name of ["ce", "cw", "dlr"] as LossName[]) {
    if (lossByName(name) === undefined) throw new Error(name);
  }
  assertThrowsMsg(() => lossByName("kl" as LossName, "pgd"), /pgd: unknown loss "kl"/);
});

opTest("oneHot and rankMasks (ties: the lower index first)", () => {
  assertClose(values(oneHot(labels([2, 0]), 3)), [0, 0, 1, 1, 0, 0], 0, 0, "oneHot");
  const z = tensor([1, 5, 5, 0, 2, 2, 2, 2], [2, 4]);
  const [m1, m2, m3] = rankMasks(z, 3).map(values);
  assertClose(m1, [0, 1, 0, 0, 1, 0, 0, 0], 0, 0, "rank 1");
  assertClose(m2, [0, 0, 1, 0, 0, 1, 0, 0], 0, 0, "rank 2");
  assertClose(m3, [1, 0, 0, 0, 0, 0, 1, 0], 0, 0, "rank 3");
});

opTest("losses reject too few classes and mismatched labels", () => {
  const z2 = tensor([1, 2, 3, 4], [2, 2]), z3 = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  assertThrowsMsg(() => dlrLoss(z2, labels([0, 1])), /dlrLoss: needs at least 3 classes/);
  assertThrowsMsg(
    () => targetedDlrLoss(z3, labels([0, 1]), labels([1, 2])),
    /targetedDlrLoss: needs at least 4 classes/,
  );
  assertThrowsMsg(() => cwLoss(z3, labels([0])), /cwLoss: labels must be i32 \[2\]/);
  assertThrowsMsg(() => klDivergence(z2, z3), /klDivergence: logits must both be \[N, C\]/);
});

// Float64 references for the gradient checks (rows of C logits).
function rows(z: Float64Array, c: number): Float64Array[] {
  return Array.from({ length: z.length / c }, (_, i) => z.subarray(i * c, (i + 1) * c));
}
const sortedDesc = (r: Float64Array) => Array.from(r).sort((a, b) => b - a);
const maxOther = (r: Float64Array, y: number) =>
  Math.max(...Array.from(r).filter((_, j) => j !== y));
function logSoftmax64(r: Float64Array): number[] {
  const m = Math.max(...r);
  const lse = m + Math.log(Array.from(r).reduce((s, v) => s + Math.exp(v - m), 0));
  return Array.from(r, (v) => v - lse);
}

const N = 4, C = 5;
const Y = [0, 3, 2, 4], T = [1, 0, 4, 2];
const data = () => [{ data: randomData(N * C, "attack-loss-z", -2, 2), shape: [N, C] }];

opTest("gradients of CW, DLR and targeted DLR match finite differences", () => {
  const y = labels(Y), t = labels(T);
  const cases: [string, (z: Tensor) => Tensor, (r: Float64Array, i: number) => number][] = [
    ["cw", (z) => cwLoss(z, y), (r, i) => maxOther(r, Y[i]) - r[Y[i]]],
    ["dlr", (z) => dlrLoss(z, y), (r, i) => {
      const s = sortedDesc(r);
      return -(r[Y[i]] - maxOther(r, Y[i])) / (s[0] - s[2] + 1e-12);
    }],
    ["targeted dlr", (z) => targetedDlrLoss(z, y, t), (r, i) => {
      const s = sortedDesc(r);
      return -(r[Y[i]] - r[T[i]]) / (s[0] - (s[2] + s[3]) / 2 + 1e-12);
    }],
  ];
  for (const [name, fn, ref] of cases) {
    gradCheck({
      name,
      inputs: data(),
      wrt: [0],
      native: ([z]) => fn(z),
      reference: ([z]) => Float64Array.from(rows(z, C), (r, i) => ref(r, i)),
    });
  }
});

opTest("KL divergence: value and gradients in both arguments", () => {
  gradCheck({
    name: "kl",
    inputs: [...data(), { data: randomData(N * C, "attack-loss-q", -2, 2), shape: [N, C] }],
    wrt: [0, 1],
    native: ([p, q]) => klDivergence(p, q),
    reference: ([p, q]) => {
      const qs = rows(q, C);
      return Float64Array.from(rows(p, C), (r, i) => {
        const lp = logSoftmax64(r), lq = logSoftmax64(qs[i]);
        return lp.reduce((s, v, j) => s + Math.exp(v) * (v - lq[j]), 0);
      });
    },
  });
});
