/**
 * Helpers of the robust evaluation: batches from dataset indices, checked predictions, and
 * checks of the model against the dataset and of adversarial examples against the threat
 * model.
 * @module
 */

import { argmax, type Dataset, imageSize, type Module, noGrad, Tensor, tidy } from "@topiary/core";
import type { Attack, ThreatModel } from "./types.ts";

/** The settings() of an attack as plain JSON (an error names the attack otherwise). */
export function jsonSettings(a: Attack): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(a.settings()));
  } catch (e) {
    throw new Error(
      `evaluateRobustness: settings() of attack "${a.name}" is not JSON: ${(e as Error).message}`,
    );
  }
}

/** Throws when the model's declared input shape or class count does not match the dataset. */
export function checkModelFits(model: Module, ds: Dataset, name: string): void {
  const m = model as { inputShape?: unknown; numClasses?: unknown };
  if (Array.isArray(m.inputShape) && m.inputShape.join() !== ds.shape.join()) {
    throw new Error(
      `evaluateRobustness: model ${name} takes images [${m.inputShape}], dataset "${ds.name}" ` +
        `has images [${ds.shape}]`,
    );
  }
  if (typeof m.numClasses === "number" && m.numClasses !== ds.numClasses) {
    throw new Error(
      `evaluateRobustness: model ${name} has ${m.numClasses} classes, dataset "${ds.name}" ` +
        `has ${ds.numClasses}`,
    );
  }
}

/** Images and labels of the given dataset indices as tensors, plus the host images. */
export function gather(ds: Dataset, idx: Int32Array): { x: Tensor; y: Tensor; host: Float32Array } {
  const per = imageSize(ds.shape);
  const host = new Float32Array(idx.length * per);
  const labels = new Int32Array(idx.length);
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j];
    host.set(ds.images.subarray(i * per, (i + 1) * per), j * per);
    labels[j] = ds.labels[i];
  }
  const x = Tensor.fromHost(host, [idx.length, ...ds.shape], "f32");
  const y = Tensor.fromHost(labels, [idx.length], "i32");
  return { x, y, host };
}

/** Predicted classes of x (no gradients), checking the logits' shape. */
export function predict(model: Module, x: Tensor, ds: Dataset, name: string): Int32Array {
  return noGrad(() =>
    tidy(() => {
      let logits: Tensor;
      try {
        logits = model.forward(x);
      } catch (e) {
        throw new Error(
          `evaluateRobustness: model ${name} failed on images [${x.shape}] of dataset ` +
            `"${ds.name}": ${(e as Error).message}`,
        );
      }
      const s = logits.shape, n = x.shape[0];
      if (s.length !== 2 || s[0] !== n || s[1] !== ds.numClasses) {
        throw new Error(
          `evaluateRobustness: model ${name} gives logits [${s}] for ${n} images of dataset ` +
            `"${ds.name}"; expected [${n}, ${ds.numClasses}] (${ds.numClasses} classes)`,
        );
      }
      return Int32Array.from(argmax(logits, 1).toArray());
    })
  );
}

/** Throws unless adv has x's shape, is finite, in [0, 1] and within the threat model of x. */
export function checkAdversarial(
  adv: Tensor,
  x: Tensor,
  host: Float32Array,
  threat: ThreatModel,
  attack: string,
  idx: Int32Array,
): void {
  if (!adv || adv.shape.join() !== x.shape.join() || adv.dtype !== "f32") {
    throw new Error(
      `evaluateRobustness: attack "${attack}" returned ${adv} for inputs [${x.shape}] f32`,
    );
  }
  const a = adv.toArray(), n = idx.length, per = n > 0 ? host.length / n : 0;
  const tol = 1e-6,
    limit = threat.norm === "linf" ? threat.eps + tol : threat.eps * (1 + 1e-5) + tol;
  for (let r = 0; r < n; r++) {
    let linf = 0, l2 = 0;
    for (let j = r * per; j < (r + 1) * per; j++) {
      const v = a[j];
      if (!(v >= -tol && v <= 1 + tol)) {
        throw new Error(
          `evaluateRobustness: attack "${attack}" returned pixel ${v} outside [0, 1] ` +
            `for example ${idx[r]}`,
        );
      }
      const d = Math.abs(v - host[j]);
      if (d > linf) linf = d;
      l2 += d * d;
    }
    const norm = threat.norm === "linf" ? linf : Math.sqrt(l2);
    if (!(norm <= limit)) {
      throw new Error(
        `evaluateRobustness: attack "${attack}" moved example ${idx[r]} by ${norm} in ` +
          `${threat.norm}, beyond eps ${threat.eps}`,
      );
    }
  }
}

/** Positions (into `rows`) where `keep` is set. */
export function pick(rows: Int32Array, keep: (j: number) => boolean): Int32Array {
  const out: number[] = [];
  for (let j = 0; j < rows.length; j++) if (keep(j)) out.push(j);
  return Int32Array.from(out);
}
