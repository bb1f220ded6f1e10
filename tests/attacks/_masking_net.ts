/**
 * A hand-built model that masks gradients, for the catastrophic-overfitting tests: on 0.5
 * images of class 0 its input gradient is exactly zero (so FGSM does nothing), while any
 * random start leads PGD to a misclassification.
 * @module
 */

import { abs, affine, cat, mean, Module, mul, relu, reshape, type Tensor } from "@topiary/core";

/**
 * Two classes. Unmasked: logits (1, 0) whatever the input (robust). Masked: class-0 logit
 * 1 - 10 mean(relu(|x - 0.5| - 0.02)), class-1 logit 0: flat around the 0.5 image, falling
 * below 0 once the perturbation is large.
 */
export class MaskingNet extends Module {
  masked = false;

  forward(x: Tensor): Tensor {
    const n = x.shape[0];
    const axes = Array.from({ length: x.ndim - 1 }, (_, i) => i + 1);
    const dev = mean(relu(affine(abs(affine(x, 1, -0.5)), 1, -0.02)), axes);
    const z0 = this.masked ? affine(dev, -10, 1) : affine(mul(dev, 0), 1, 1);
    const z1 = mul(dev, 0);
    return cat([reshape(z0, [n, 1]), reshape(z1, [n, 1])], 1);
  }
}
