/**
 * Child process of the CUDA algorithm-file test: keeps the algorithms in the file named by the
 * first argument, runs SmallCNN's forward and backward pass on CUDA twice (the plans dropped in
 * between) and prints the algorithms chosen and both input gradients' checksums as JSON.
 * @module
 */

import { getBackend } from "@topiary/ffi";
import { grad, setDefaultBackend, softmaxCrossEntropy, Tensor, tidy } from "@topiary/core";
import { SmallCNN } from "../../core/models/small_cnn.ts";
import { randomData } from "../_harness.ts";

const gpu = getBackend("cuda");
setDefaultBackend(gpu);
gpu.useAlgorithmFile(Deno.args[0]);
const model = new SmallCNN({ seed: 3, backend: gpu });
const step = () =>
  tidy(() => {
    const x = Tensor.fromHost(
      Float32Array.from(randomData(8 * 784, "algo-file-x", 0, 1)),
      [8, 1, 28, 28],
      "f32",
      gpu,
    );
    x.requiresGrad = true;
    const y = Tensor.fromHost(Int32Array.from({ length: 8 }, (_, i) => i), [8], "i32", gpu);
    const [dx] = grad(softmaxCrossEntropy(model.forward(x), y), [x]);
    return Array.from(dx.toArray() as Float32Array).reduce((a, b) => a + b, 0);
  });
const sum = step();
gpu.clearCaches(); // plans rebuilt: they must take the table's algorithms again
const rerun = step();
model.dispose();
gpu.useAlgorithmFile(null);
console.log(JSON.stringify({ algorithms: gpu.info().algorithms, sum, rerun }));
