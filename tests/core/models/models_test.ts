import * as T from "@topiary/core";
import {
  CaffeLeNet,
  createModel,
  LeNet5,
  MadryCNN,
  MLP,
  MODEL_NAMES,
  resnet18,
  SmallCNN,
  vgg16bn,
  WideResNet,
} from "../../../core/models/mod.ts";
import type { Module } from "../../../core/nn/mod.ts";
import { assertThrowsMsg, opTest, values } from "../../_harness.ts";

function using<M extends Module, R>(m: M, fn: (m: M) => R): R {
  try {
    return fn(m);
  } finally {
    m.dispose();
  }
}

function expectCount(name: string, m: Module, want: number): void {
  using(m, () => {
    const got = m.parameterCount();
    if (got !== want) throw new Error(`${name}: ${got} parameters, expected ${want}`);
  });
}

opTest("parameter counts of the MNIST models", () => {
  expectCount("MLP 784-300-100-10", new MLP({ seed: 0 }), 266_610);
  expectCount("LeNet-5", new LeNet5({ seed: 0 }), 61_706);
  expectCount("Caffe LeNet", new CaffeLeNet({ seed: 0 }), 431_080);
  expectCount("SmallCNN", new SmallCNN({ seed: 0 }), 166_406);
  expectCount("Madry CNN", new MadryCNN({ seed: 0 }), 3_274_634);
  // Ye et al.'s widths: channels 2w, 4w, units 64w.
  const madry = (w: number) =>
    (25 * 2 * w + 2 * w) + (25 * 2 * w * 4 * w + 4 * w) + (196 * w * 64 * w + 64 * w) +
    (64 * w * 10 + 10);
  for (const w of [1, 2, 4]) {
    expectCount(`Madry CNN w=${w}`, new MadryCNN({ seed: 0, width: w }), madry(w));
  }
});

/** Parameters of block1 of WRN-28-4 (HYDRA's sub_block1 is a copy of it). */
const SUB_BLOCK_28_4 = 269_216;

opTest("parameter counts of the CIFAR models (HYDRA's variants)", () => {
  // init: false skips the (seeded) initialisation: counting needs only the shapes.
  const o = { seed: 0, init: false } as const;
  expectCount("VGG-16-BN", vgg16bn(o), 15_311_818);
  expectCount("ResNet-18", resnet18(o), 11_173_962);
  expectCount("WRN-28-10", new WideResNet(o), 36_479_194);
  expectCount("WRN-28-4", new WideResNet({ ...o, widen: 4 }), 5_849_050);
  expectCount("WRN-28-1", new WideResNet({ ...o, widen: 1 }), 369_498);
  expectCount(
    "WRN-28-4 with HYDRA's unused sub_block1",
    new WideResNet({ ...o, widen: 4, hydraSubBlock: true }),
    5_849_050 + SUB_BLOCK_28_4,
  );
});

opTest("state-dict names and order: SmallCNN, LeNet-5, ResNet-18, VGG-16-BN, WRN", () => {
  using(new SmallCNN({ seed: 0 }), (m) => {
    const keys = [...m.stateDict().keys()].join();
    const want = "0.weight,0.bias,2.weight,2.bias,5.weight,5.bias,7.weight,7.bias";
    if (keys !== want) throw new Error(`SmallCNN names ${keys}`);
  });
  using(new LeNet5({ seed: 0 }), (m) => {
    const keys = [...m.stateDict().keys()].join();
    const want =
      "conv1.weight,conv1.bias,conv2.weight,conv2.bias,fc1.weight,fc1.bias,fc2.weight,fc2.bias," +
      "fc3.weight,fc3.bias";
    if (keys !== want) throw new Error(`LeNet-5 names ${keys}`);
  });
  using(resnet18({ seed: 0 }), (m) => {
    const keys = [...m.stateDict().keys()];
    const head = keys.slice(0, 8).join();
    const want = "conv1.weight,bn1.weight,bn1.bias,bn1.running_mean,bn1.running_var," +
      "bn1.num_batches_tracked,layer1.0.conv1.weight,layer1.0.bn1.weight";
    if (head !== want) throw new Error(`ResNet-18 names ${head}`);
    for (
      const k of ["layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.running_var", "linear.bias"]
    ) {
      if (!keys.includes(k)) throw new Error(`ResNet-18 lacks ${k}`);
    }
    if (keys.includes("layer1.0.shortcut.0.weight")) throw new Error("layer1 has no shortcut conv");
    if (keys.length !== 122) throw new Error(`ResNet-18 has ${keys.length} entries, expected 122`);
  });
  using(vgg16bn({ seed: 0 }), (m) => {
    const keys = [...m.stateDict().keys()];
    const w = keys.filter((k) => k.endsWith(".weight") && !k.startsWith("features.1.")).slice(0, 3);
    if (w.join() !== "features.0.weight,features.3.weight,features.4.weight") {
      throw new Error(`VGG names ${w}`);
    }
    const tail = keys.slice(-6).join();
    const want = "classifier.0.weight,classifier.0.bias,classifier.2.weight,classifier.2.bias," +
      "classifier.4.weight,classifier.4.bias";
    if (tail !== want) throw new Error(`VGG classifier names ${tail}`);
  });
  using(new WideResNet({ seed: 0, depth: 10, widen: 2 }), (m) => {
    const keys = [...m.stateDict().keys()];
    for (
      const k of [
        "conv1.weight",
        "block1.layer.0.convShortcut.weight",
        "block2.layer.0.bn1.weight",
        "fc.bias",
      ]
    ) {
      if (!keys.includes(k)) throw new Error(`WRN lacks ${k}`);
    }
  });
});

opTest("models: same seed same weights, another seed other weights; eval/train modes", () => {
  const a = new SmallCNN({ seed: 5 }), b = new SmallCNN({ seed: 5 }), c = new SmallCNN({ seed: 6 });
  try {
    const w = (m: Module) => values(m.stateDict().get("5.weight")!);
    const wa = w(a), wb = w(b), wc = w(c);
    if (!wa.every((v, i) => v === wb[i])) throw new Error("same seed must give the same weights");
    if (wa.every((v, i) => v === wc[i])) throw new Error("another seed must differ");
    a.eval();
    if (a.namedModules().some(([, m]) => m.training)) throw new Error("eval must reach children");
    a.train();
    if (a.namedModules().some(([, m]) => !m.training)) throw new Error("train must reach children");
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
});

opTest("models reject inputs of the wrong shape, naming both shapes", () => {
  using(new SmallCNN({ seed: 0 }), (m) => {
    assertThrowsMsg(
      () => m.forward(T.zeros([2, 3, 32, 32])),
      /SmallCNN expects input \[N, 1, 28, 28\], got \[N, 3, 32, 32\]/,
    );
  });
  using(resnet18({ seed: 0 }), (m) => {
    assertThrowsMsg(
      () => m.forward(T.zeros([2, 1, 28, 28])),
      /ResNet expects input \[N, 3, 32, 32\], got \[N, 1, 28, 28\]/,
    );
  });
  assertThrowsMsg(() => createModel("alexnet", { seed: 0 }), /unknown model "alexnet"/);
  assertThrowsMsg(() => new WideResNet({ seed: 0, depth: 27 }), /depth must be 6n \+ 4/);
});

opTest("every registered model maps a batch to [N, classes] logits, train and eval", () => {
  for (const name of MODEL_NAMES) {
    const opts = name === "wrn" ? { seed: 0, depth: 10, widen: 1 } : { seed: 0 };
    using(createModel(name, { ...opts, numClasses: 7 }), (m) => {
      const x = T.uniform([2, ...m.inputShape], { seed: 1, stream: "x" });
      for (const train of [true, false]) {
        m.train(train);
        const y = T.noGrad(() => m.forward(x));
        if (y.shape.join() !== "2,7") throw new Error(`${name}: logits ${y.shape}`);
        if (!values(y).every(Number.isFinite)) throw new Error(`${name}: non-finite logits`);
        y.dispose();
      }
    });
  }
});
