import * as T from "@topiary/core";
import {
  BatchLoader,
  BatchNorm2d,
  Conv2d,
  Dropout,
  fit,
  Flatten,
  Linear,
  MetricsWriter,
  type Module,
  readMetrics,
  ReLU,
  restoreTrainStateSync,
  saveTrainStateSync,
  Sequential,
  SGD,
  StochasticContext,
  syntheticDataset,
} from "@topiary/core";
import { assertThrowsMsg, opTest } from "../../_harness.ts";

/** A net with every kind of state: conv, batch norm (running stats), dropout, linear. */
function makeNet(seed: number): Module {
  const net = new Sequential(
    new Conv2d(1, 4, 3, { padding: 1 }),
    new BatchNorm2d(4),
    new ReLU(),
    new Flatten(),
    new Dropout(0.3),
    new Linear(4 * 8 * 8, 5),
  );
  T.initParameters(net, { seed });
  return net;
}

const data = syntheticDataset({ n: 96, shape: [1, 8, 8], numClasses: 5, seed: 3 });

function setup(initSeed: number) {
  const model = makeNet(initSeed);
  const optimizer = new SGD(model.namedParameters(), {
    lr: 0.05,
    momentum: 0.9,
    weightDecay: 1e-4,
  });
  const loader = new BatchLoader(data, {
    batchSize: 16,
    seed: 11,
    augment: { padding: 1, flip: true },
  });
  const schedule = T.cosineLR({ lr: 0.05, totalSteps: 18 });
  return { model, optimizer, loader, schedule, stochastic: new StochasticContext(5) };
}

function snapshot(m: Module): Map<string, Float32Array | Int32Array | Uint8Array> {
  return new Map([...m.stateDict()].map(([k, t]) => [k, t.toArray()]));
}

opTest("a run stopped after k steps and resumed ends bit-identical to an uninterrupted one", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const a = setup(1);
    fit({ ...a, train: a.loader, epochs: 3, quiet: true });
    const want = snapshot(a.model);
    for (const k of [1, 7, 12]) {
      const b = setup(1);
      const path = `${dir}/state-${k}.safetensors`;
      const r = fit({
        ...b,
        train: b.loader,
        epochs: 3,
        quiet: true,
        afterStep: (next) => {
          if (next.step < k) return;
          saveTrainStateSync(path, { model: b.model, optimizer: b.optimizer, seed: 5, ...next });
          return "stop";
        },
      });
      if (!r.stopped) throw new Error("the run did not stop");
      // Fresh objects with a different initialisation: everything must come from the file.
      const c = setup(2);
      const pos = restoreTrainStateSync(path, { model: c.model, optimizer: c.optimizer });
      fit({
        ...c,
        train: c.loader,
        epochs: 3,
        quiet: true,
        start: { epoch: pos.epoch, batch: pos.batch, step: pos.step },
      });
      const got = snapshot(c.model);
      for (const [name, w] of want) {
        const g = got.get(name)!;
        for (let i = 0; i < w.length; i++) {
          if (!Object.is(g[i], w[i])) {
            throw new Error(
              `resumed at step ${k}: ${name}[${i}] is ${g[i]}, uninterrupted ${w[i]}`,
            );
          }
        }
      }
      for (const o of [b, c]) {
        o.model.dispose();
        o.optimizer.dispose();
      }
    }
    a.model.dispose();
    a.optimizer.dispose();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

opTest("a diverging run stops with an error naming the step and learning rate", () => {
  const s = setup(1);
  s.optimizer.lr = 1e30;
  try {
    assertThrowsMsg(
      () => fit({ ...s, schedule: undefined, train: s.loader, epochs: 2, quiet: true }),
      /training diverged: the clean loss is (NaN|Infinity) at epoch \d+, batch \d+, step \d+ \(lr 1e\+30\)/,
    );
  } finally {
    s.model.dispose();
    s.optimizer.dispose();
  }
});

opTest("fit reports epochs with validation figures and writes metrics", () => {
  const dir = Deno.makeTempDirSync();
  const s = setup(1);
  try {
    const metrics = new MetricsWriter(`${dir}/m.jsonl`);
    const val = new BatchLoader(data, { batchSize: 32, shuffle: false });
    const r = fit({
      ...s,
      train: s.loader,
      validation: val,
      epochs: 2,
      quiet: true,
      metrics,
      logEvery: 2,
    });
    metrics.close();
    if (r.epochs.length !== 2 || r.end.step !== 12 || r.end.epoch !== 2) {
      throw new Error(`unexpected result ${JSON.stringify(r)}`);
    }
    const e = r.epochs[1];
    if (!(e.valAccuracy! >= 0 && e.valAccuracy! <= 1 && e.trainLoss > 0)) {
      throw new Error(JSON.stringify(e));
    }
    const recs = readMetrics(`${dir}/m.jsonl`);
    const train = recs.filter((x) => x.split === "train"),
      epochs = recs.filter((x) => x.split === "epoch");
    if (train.length !== 6 || epochs.length !== 2) throw new Error(`records: ${recs.length}`);
  } finally {
    s.model.dispose();
    s.optimizer.dispose();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("metrics: a partial last line is skipped and resuming drops later records", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const p = `${dir}/m.jsonl`;
    Deno.writeTextFileSync(p, '{"step":1,"loss":2}\n{"step":2,"loss":1}\n{"step":3,"lo');
    if (readMetrics(p).length !== 2) throw new Error("partial line not skipped");
    const w = new MetricsWriter(p, { resumeFromStep: 1 });
    w.write({ step: 2, loss: 0.5 });
    w.close();
    const recs = readMetrics(p);
    if (recs.length !== 2 || recs[1].loss !== 0.5) throw new Error(JSON.stringify(recs));
    Deno.writeTextFileSync(p, "not json\n");
    assertThrowsMsg(() => readMetrics(p), /m.jsonl:1: not a JSON record/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
