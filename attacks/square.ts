/**
 * The Square attack (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
 * adversarial attack via random search"): score-based, no gradients, so it exposes gradient
 * masking. Linf and L2, margin or cross-entropy loss, AutoAttack's p schedule.
 *
 * Each iteration proposes, for every example still correctly classified, a change inside a
 * random square window (Linf: +-2 eps per channel, then projected; L2: see _square_l2.ts) and
 * keeps it when the loss decreases or the example becomes misclassified. The work happens in
 * host memory around one forward pass per iteration (no gradients, no parameter gradients).
 * @module
 */

import { type Module, noGrad, Tensor, tidy } from "@topiary/core";
import { squareL2Init, squareL2Proposal } from "./_square_l2.ts";
import { checkBatch, checkChoice, checkInt, checkNum, hostUniform, sid } from "./_util.ts";
import { type Attack, type AttackContext, checkThreat, type ThreatModel } from "./types.ts";

/** Options of {@link Square}. */
export interface SquareOptions {
  /** Threat model (norm and eps). */
  threat: ThreatModel;
  /** Iterations (queries per example and restart, besides the start; default 5000). */
  queries?: number;
  /** Initial fraction of pixels in the window (default 0.8). */
  pInit?: number;
  /** Restarts on the examples still correctly classified (default 1). */
  restarts?: number;
  /** "margin" (z_y - max_{j != y} z_j, default) or "ce" (the negated cross-entropy). */
  loss?: "margin" | "ce";
  /** Rescale the p schedule to `queries` as AutoAttack does (default true). */
  rescaleSchedule?: boolean;
}

/**
 * The window fraction p at iteration `it` (from 0): pInit halved at iterations 10, 50, 200,
 * 500, 1000, 2000, 4000, 6000 and 8000 (of 10000; with `rescale` the iteration is first
 * mapped to floor(it / queries * 10000)).
 */
export function squareP(pInit: number, it: number, queries: number, rescale = true): number {
  const i = rescale ? Math.floor((it / queries) * 10000) : it;
  const bounds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let k = 0;
  while (k < bounds.length && i > bounds[k]) k++;
  return pInit / 2 ** k;
}

/**
 * The Square attack (see the module comment). Draws: the start from (ctx.seed,
 * "square-init:<restart>", drawCounter(ctx, i)); iteration t from
 * "square:<restart>:<t>". Examples misclassified on clean inputs are returned unchanged;
 * the others get their lowest-loss point (misclassified as soon as found).
 */
export class Square implements Attack {
  readonly name = "square";
  readonly threat: ThreatModel;
  readonly queries: number;
  readonly pInit: number;
  readonly restarts: number;
  readonly loss: "margin" | "ce";
  readonly rescaleSchedule: boolean;

  constructor(o: SquareOptions) {
    const op = "square";
    this.threat = { ...checkThreat(o?.threat, op) };
    this.queries = checkInt(op, "queries", o.queries ?? 5000, 1);
    this.pInit = checkNum(op, "pInit", o.pInit ?? 0.8, 0, 1);
    this.restarts = checkInt(op, "restarts", o.restarts ?? 1, 1);
    this.loss = checkChoice(op, "loss", o.loss ?? "margin", ["margin", "ce"] as const);
    this.rescaleSchedule = o.rescaleSchedule ?? true;
  }

  /** Every setting that determines the result. */
  settings(): Record<string, unknown> {
    return {
      attack: "square",
      norm: this.threat.norm,
      eps: this.threat.eps,
      queries: this.queries,
      pInit: this.pInit,
      restarts: this.restarts,
      loss: this.loss,
      rescaleSchedule: this.rescaleSchedule,
    };
  }

  /** Adversarial examples for x [N, C, H, W] (see the class comment). */
  run(model: Module, x: Tensor, y: Tensor, ctx: AttackContext): Tensor {
    const n = checkBatch(this.name, x, y, ctx);
    if (x.ndim !== 4) throw new Error(`square: x must be images [N, C, H, W], got ${x}`);
    const [, c, h, w] = x.shape;
    const dim = c * h * w;
    const xh = x.toArray() as Float32Array, labels = y.toArray() as Int32Array;
    const out = xh.slice();
    if (n === 0) return Tensor.fromHost(out, x.shape, "f32", x.backend);
    const buf = new Float32Array(n * dim);
    const score = (rows: Int32Array, m: number) => this.score(model, x, buf, rows, m, labels);
    buf.set(xh);
    const clean = score(Int32Array.from({ length: n }, (_, i) => i), n);
    // Correctly classified means argmax = label (first index on ties), as the evaluation
    // and AutoAttack decide it: an example whose clean logits tie (margin 0) with the label
    // predicted is attacked too.
    const bestLoss = clean.loss, bestWrong = clean.wrong;
    for (let r = 0; r < this.restarts; r++) {
      const robust: number[] = [];
      bestWrong.forEach((v, i) => !v && robust.push(i));
      if (robust.length === 0) break;
      const rows = Int32Array.from(robust), m = rows.length;
      const cur = new Float32Array(m * dim);
      const initStream = sid(`square-init:${r}`);
      for (let k = 0; k < m; k++) {
        const u = (count: number) => hostUniform(ctx, rows[k], initStream, count);
        const xi = xh.subarray(rows[k] * dim, (rows[k] + 1) * dim);
        const dst = cur.subarray(k * dim, (k + 1) * dim);
        if (this.threat.norm === "linf") this.linfInit(xi, dst, c, h, w, u);
        else squareL2Init(xi, dst, c, h, w, this.threat.eps, u);
      }
      buf.set(cur);
      const { loss, margin, wrong } = score(rows, m);
      this.search(r, rows, xh, cur, loss, margin, wrong, { c, h, w }, ctx, buf, score);
      for (let k = 0; k < m; k++) {
        const i = rows[k];
        if (wrong[k] || margin[k] <= 0 || loss[k] < bestLoss[i]) {
          bestLoss[i] = loss[k];
          bestWrong[i] = wrong[k];
          out.set(cur.subarray(k * dim, (k + 1) * dim), i * dim);
        }
      }
    }
    return Tensor.fromHost(out, x.shape, "f32", x.backend);
  }

  /** The random search of one restart; updates cur, loss, margin and wrong in place. */
  private search(
    r: number,
    rows: Int32Array,
    xh: Float32Array,
    cur: Float32Array,
    loss: Float64Array,
    margin: Float64Array,
    wrong: Uint8Array,
    { c, h, w }: { c: number; h: number; w: number },
    ctx: AttackContext,
    buf: Float32Array,
    score: (rows: Int32Array, m: number) => Scores,
  ): void {
    const dim = c * h * w, m = rows.length, eps = this.threat.eps;
    for (let it = 0; it < this.queries; it++) {
      const act: number[] = [];
      for (let k = 0; k < m; k++) if (margin[k] > 0) act.push(k);
      if (act.length === 0) break;
      const s = this.side(squareP(this.pInit, it, this.queries, this.rescaleSchedule), h, w);
      const stream = sid(`square:${r}:${it}`);
      act.forEach((k, a) => {
        const xi = xh.subarray(rows[k] * dim, (rows[k] + 1) * dim);
        const cb = cur.subarray(k * dim, (k + 1) * dim);
        const dst = buf.subarray(a * dim, (a + 1) * dim);
        const u = hostUniform(ctx, rows[k], stream, 5 + c);
        if (this.threat.norm === "linf") this.linfProposal(xi, cb, dst, c, h, w, s, u);
        else squareL2Proposal(xi, cb, dst, c, h, w, s, eps, u);
      });
      const sc = score(Int32Array.from(act, (k) => rows[k]), act.length);
      act.forEach((k, a) => {
        if (sc.loss[a] < loss[k] || sc.margin[a] <= 0) {
          loss[k] = Math.min(loss[k], sc.loss[a]);
          margin[k] = sc.margin[a];
          wrong[k] = sc.wrong[a];
          cur.set(buf.subarray(a * dim, (a + 1) * dim), k * dim);
        }
      });
    }
  }

  /** Side of the square window for fraction p (at least 1, odd and >= 3 for L2). */
  private side(p: number, h: number, w: number): number {
    let s = Math.round(Math.sqrt(p * h * w));
    if (this.threat.norm === "l2") {
      s = Math.max(s, 3);
      if (s % 2 === 0) s++;
    }
    s = Math.max(1, Math.min(s, h, w));
    return s;
  }

  /** Vertical stripes: x + eps * (+-1 per channel and column), clamped to [0, 1]. */
  private linfInit(
    x: Float32Array,
    out: Float32Array,
    c: number,
    h: number,
    w: number,
    u: (count: number) => Float32Array,
  ): void {
    const eps = this.threat.eps, r = u(c * w);
    for (let ch = 0; ch < c; ch++) {
      for (let j = 0; j < w; j++) {
        const d = r[ch * w + j] < 0.5 ? -eps : eps;
        for (let i = 0; i < h; i++) {
          const at = ch * h * w + i * w + j;
          out[at] = Math.min(1, Math.max(0, x[at] + d));
        }
      }
    }
  }

  /** The current best with an s x s window moved by +-2 eps per channel, projected. */
  private linfProposal(
    x: Float32Array,
    xb: Float32Array,
    out: Float32Array,
    c: number,
    h: number,
    w: number,
    s: number,
    r: Float32Array,
  ): void {
    const eps = this.threat.eps;
    out.set(xb);
    const vh = Math.floor(r[0] * (h - s)), vw = Math.floor(r[1] * (w - s));
    for (let ch = 0; ch < c; ch++) {
      const d = r[5 + ch] < 0.5 ? -2 * eps : 2 * eps;
      for (let i = vh; i < vh + s; i++) {
        for (let j = vw; j < vw + s; j++) {
          const at = ch * h * w + i * w + j;
          const v = Math.min(Math.max(xb[at] + d, x[at] - eps), x[at] + eps);
          out[at] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }

  /** Margins, losses and misclassification of the first m rows of buf (labels of `rows`). */
  private score(
    model: Module,
    like: Tensor,
    buf: Float32Array,
    rows: Int32Array,
    m: number,
    labels: Int32Array,
  ): Scores {
    const padded = Math.min(labels.length, 2 ** Math.ceil(Math.log2(m)));
    const logits = tidy(() =>
      noGrad(() => {
        const t = Tensor.fromHost(
          buf.subarray(0, padded * (buf.length / labels.length)),
          [
            padded,
            ...like.shape.slice(1),
          ],
          "f32",
          like.backend,
        );
        return model.forward(t).toArray() as Float32Array;
      })
    );
    const c = logits.length / padded;
    const margin = new Float64Array(m), loss = new Float64Array(m), wrong = new Uint8Array(m);
    for (let k = 0; k < m; k++) {
      const yk = labels[rows[k]], o = k * c;
      let other = -Infinity, mx = -Infinity, top = 0;
      for (let j = 0; j < c; j++) {
        if (logits[o + j] > logits[o + top]) top = j;
        mx = Math.max(mx, logits[o + j]);
        if (j !== yk) other = Math.max(other, logits[o + j]);
      }
      margin[k] = logits[o + yk] - other;
      wrong[k] = top !== yk ? 1 : 0;
      if (this.loss === "margin") loss[k] = margin[k];
      else {
        let se = 0;
        for (let j = 0; j < c; j++) se += Math.exp(logits[o + j] - mx);
        loss[k] = -(mx + Math.log(se) - logits[o + yk]);
      }
    }
    return { margin, loss, wrong };
  }
}

/** What Square's scoring gives per row: margin, loss and argmax != label (first on ties). */
interface Scores {
  margin: Float64Array;
  loss: Float64Array;
  wrong: Uint8Array;
}

/** A Square attack (see {@link Square}). */
export function square(o: SquareOptions): Square {
  return new Square(o);
}
