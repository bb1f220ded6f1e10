import * as T from "@topiary/core";
import {
  decodeTrainState,
  disposeTrainState,
  encodeTrainState,
  loadTrainState,
  loadTrainStateSync,
  restoreTrainState,
  restoreTrainStateSync,
  saveSafetensors,
  saveTrainState,
  saveTrainStateSync,
  type TrainPosition,
} from "../../../core/checkpoint/mod.ts";
import {
  Adam,
  cosineLR,
  linearWarmup,
  oneCycleLR,
  type Optimizer,
  type Schedule,
  SGD,
} from "../../../core/optim/mod.ts";
import { assertThrowsMsg, liveBuffers } from "../../_harness.ts";
import { assertBitEqual } from "../optim/_reference.ts";
import { syntheticData, TinyNet, trainStep } from "./_tiny_net.ts";
import { assertRejects, withTempDir } from "./_util.ts";

const SEED = 1234;
const data = syntheticData();

/** Runs a test body and checks that native buffers return to their starting count. */
function leakFree(fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    const b = T.getDefaultBackend(), before = liveBuffers(b);
    await fn();
    const after = liveBuffers(b);
    if (after !== before) throw new Error(`${after - before} native buffers leaked`);
  };
}

function assertSameStateDict(what: string, a: Map<string, T.Tensor>, b: Map<string, T.Tensor>) {
  if ([...a.keys()].sort().join() !== [...b.keys()].sort().join()) {
    throw new Error(`${what}: names ${[...a.keys()]} vs ${[...b.keys()]}`);
  }
  for (const [k, t] of a) {
    const u = b.get(k)!;
    if (t.dtype !== u.dtype || t.shape.join() !== u.shape.join()) {
      throw new Error(`${what} ${k}: ${t} vs ${u}`);
    }
    assertBitEqual(`${what} ${k}`, t.toArray(), u.toArray());
  }
}

function assertSameOptimizer(a: Optimizer, b: Optimizer): void {
  const sa = a.stateDict(), sb = b.stateDict();
  assertSameStateDict("optimizer state", sa.tensors, sb.tensors);
  if (JSON.stringify(sa.scalars) !== JSON.stringify(sb.scalars)) {
    throw new Error(
      `optimizer scalars ${JSON.stringify(sa.scalars)} vs ${JSON.stringify(sb.scalars)}`,
    );
  }
}

interface Setup {
  name: string;
  makeOpt: (net: TinyNet) => Optimizer;
  schedule: Schedule;
}

const TOTAL = 20; // 3⅓ epochs of 6 batches
const setups: Setup[] = [
  {
    name: "SGD (Nesterov, weight decay, masks) with warm-up and cosine",
    makeOpt: (net) =>
      new SGD(net.namedParameters(), {
        lr: 0,
        momentum: 0.9,
        nesterov: true,
        weightDecay: 5e-4,
        masks: net.masks(),
      }),
    schedule: linearWarmup(cosineLR({ lr: 0.2, totalSteps: TOTAL, minLr: 1e-3 }), { steps: 4 }),
  },
  {
    name: "Adam (L2 weight decay, masks) with one-cycle",
    makeOpt: (net) => new Adam(net.namedParameters(), { weightDecay: 1e-3, masks: net.masks() }),
    schedule: oneCycleLR({ maxLr: 0.05, totalSteps: TOTAL }),
  },
];

for (const s of setups) {
  for (const k of [1, 8, 12]) {
    Deno.test(
      `resume: ${s.name}, stopped after ${k} steps, saved, reloaded into fresh objects and ` +
        `continued, is bit-identical to an uninterrupted run`,
      leakFree(async () => {
        await withTempDir(async (dir) => {
          // Uninterrupted run.
          const netA = new TinyNet(SEED), optA = s.makeOpt(netA);
          const posA: TrainPosition = { step: 0, epoch: 0, batch: 0 };
          for (let i = 0; i < TOTAL; i++) trainStep(netA, optA, s.schedule, data, SEED, posA);

          // Interrupted run: k steps, save, drop everything.
          const path = `${dir}/state.safetensors`;
          {
            const net = new TinyNet(SEED), opt = s.makeOpt(net);
            const pos: TrainPosition = { step: 0, epoch: 0, batch: 0 };
            for (let i = 0; i < k; i++) trainStep(net, opt, s.schedule, data, SEED, pos);
            await saveTrainState(path, { model: net, optimizer: opt, ...pos, seed: SEED });
            opt.dispose();
            net.dispose();
          }
          // Fresh objects (another init seed: everything must come from the file).
          const netB = new TinyNet(SEED + 1), optB = s.makeOpt(netB);
          const r = await restoreTrainState(path, { model: netB, optimizer: optB });
          if (
            r.step !== k || r.seed !== SEED || r.epoch !== Math.floor(k / 6) || r.batch !== k % 6
          ) {
            throw new Error(`restored position ${JSON.stringify(r)}`);
          }
          const posB: TrainPosition = { step: r.step, epoch: r.epoch, batch: r.batch };
          for (let i = k; i < TOTAL; i++) {
            trainStep(netB, optB, s.schedule, data, r.seed as number, posB);
          }
          assertSameStateDict("weights", netA.stateDict(), netB.stateDict());
          assertSameOptimizer(optA, optB);
          if (JSON.stringify(posA) !== JSON.stringify(posB)) throw new Error("positions differ");
          // The masks held: pruned weights are exactly 0.
          const w = netB.fc1.weight.toArray(), m = netB.fc1.mask.toArray();
          if (w.some((v, i) => m[i] === 0 && !Object.is(v, 0))) throw new Error("mask not held");
          for (const o of [optA, optB]) o.dispose();
          for (const n of [netA, netB]) n.dispose();
        });
      }),
    );
  }
}

Deno.test(
  "rewind: weights and position restored with a fresh optimizer match a run that reset its " +
    "optimizer at that step",
  leakFree(async () => {
    await withTempDir((dir) => {
      const s = setups[0], k = 7;
      const netA = new TinyNet(SEED);
      let optA = s.makeOpt(netA);
      const posA: TrainPosition = { step: 0, epoch: 0, batch: 0 };
      for (let i = 0; i < TOTAL; i++) {
        if (i === k) {
          optA.dispose();
          optA = s.makeOpt(netA);
        }
        trainStep(netA, optA, s.schedule, data, SEED, posA);
      }
      const netB = new TinyNet(SEED), optB0 = s.makeOpt(netB);
      const posB: TrainPosition = { step: 0, epoch: 0, batch: 0 };
      for (let i = 0; i < k; i++) trainStep(netB, optB0, s.schedule, data, SEED, posB);
      saveTrainStateSync(`${dir}/rewind.safetensors`, {
        model: netB,
        optimizer: optB0,
        ...posB,
        seed: SEED,
      });
      optB0.dispose();
      const optB = s.makeOpt(netB);
      const r = restoreTrainStateSync(`${dir}/rewind.safetensors`, { model: netB });
      const pos = { step: r.step, epoch: r.epoch, batch: r.batch };
      for (let i = k; i < TOTAL; i++) trainStep(netB, optB, s.schedule, data, SEED, pos);
      assertSameStateDict("weights", netA.stateDict(), netB.stateDict());
      for (const o of [optA, optB]) o.dispose();
      for (const n of [netA, netB]) n.dispose();
    });
  }),
);

Deno.test(
  "training state round trip: weights, optimizer state (bit-exact), position, seed, metadata",
  leakFree(async () => {
    await withTempDir(async (dir) => {
      const net = new TinyNet(SEED);
      const sgd = setups[0].makeOpt(net), adam = setups[1].makeOpt(net);
      const pos: TrainPosition = { step: 0, epoch: 0, batch: 0 };
      for (let i = 0; i < 5; i++) {
        trainStep(net, i % 2 ? sgd : adam, constantSchedule, data, SEED, pos);
      }
      const bigSeed = (1n << 63n) + 5n;
      const meta = {
        config: { model: "tiny", lrs: [0.1, 1e-3] },
        note: "ünïcode",
        ok: true,
        none: null,
      };
      for (const [opt, seed] of [[sgd, SEED], [adam, bigSeed]] as const) {
        const p = `${dir}/${opt.constructor.name}.safetensors`;
        await saveTrainState(p, { model: net, optimizer: opt, ...pos, seed, metadata: meta });
        const st = await loadTrainState(p);
        if (st.seed !== seed || st.step !== 5 || st.epoch !== 0 || st.batch !== 5) {
          throw new Error(`scalars ${st.seed} ${st.step} ${st.epoch} ${st.batch}`);
        }
        if (st.threads !== T.getDefaultBackend().threads || st.device !== "cpu") {
          throw new Error(`threads ${st.threads}, device ${st.device}`);
        }
        if (JSON.stringify(st.metadata) !== JSON.stringify(meta)) throw new Error("metadata");
        assertSameStateDict("model", net.stateDict(), st.model);
        if (st.model.get("num_batches_tracked")!.dtype !== "i32") throw new Error("nbt dtype");
        assertSameStateDict("optimizer", opt.stateDict().tensors, st.optimizer!.tensors);
        if (JSON.stringify(st.optimizer!.scalars) !== JSON.stringify(opt.stateDict().scalars)) {
          throw new Error("optimizer scalars");
        }
        disposeTrainState(st);
      }
      // Weights and position only.
      const p = `${dir}/weights.safetensors`;
      saveTrainStateSync(p, { model: net.stateDict(), ...pos, seed: 0 });
      const st = loadTrainStateSync(p);
      if (st.optimizer !== null || JSON.stringify(st.metadata) !== "{}") {
        throw new Error("no optimizer");
      }
      disposeTrainState(st);
      await assertRejects(
        () => restoreTrainState(p, { model: net, optimizer: sgd }),
        /an optimizer was given but the state has no optimizer state/,
      );
      sgd.dispose();
      adam.dispose();
      net.dispose();
    });
  }),
);

const constantSchedule: Schedule = () => 0.01;

Deno.test(
  "resuming with another thread count is refused unless explicitly allowed",
  leakFree(async () => {
    await withTempDir(async (dir) => {
      const net = new TinyNet(SEED);
      const here = T.getDefaultBackend().threads;
      const p = `${dir}/t.safetensors`;
      await saveTrainState(p, {
        model: net,
        step: 3,
        epoch: 0,
        batch: 3,
        seed: 1,
        threads: here + 1,
      });
      const msg = new RegExp(
        `t.safetensors was saved by a run with ${here + 1} threads, this process uses ${here}: ` +
          `float reductions differ .* Set TOPIARY_THREADS=${here + 1} .* allowThreadMismatch`,
      );
      await assertRejects(() => restoreTrainState(p, { model: net }), msg);
      await assertRejects(() => loadTrainState(p), msg);
      const r = await restoreTrainState(p, { model: net }, { allowThreadMismatch: true });
      if (r.threads !== here + 1 || r.step !== 3) throw new Error(JSON.stringify(r));
      const st = loadTrainStateSync(p, { threads: here + 1 });
      disposeTrainState(st);
      net.dispose();
    });
  }),
);

Deno.test(
  "training states refuse foreign or inconsistent files with clear messages",
  leakFree(async () => {
    await withTempDir(async (dir) => {
      const net = new TinyNet(SEED);
      const plain = `${dir}/plain.safetensors`;
      await saveSafetensors(plain, net.stateDict());
      await assertRejects(
        () => loadTrainState(plain),
        /plain.safetensors: not a training state of this version \(format null/,
      );
      await assertRejects(() => loadTrainState(`${dir}/missing`), /cannot read .*missing/);
      const bytes = encodeTrainState({ model: net, step: 1, epoch: 0, batch: 1, seed: 5 });
      const other = new TinyNet(SEED);
      const st = decodeTrainState(bytes, "mem");
      st.model.get("fc2.bias")!.dispose();
      st.model.delete("fc2.bias");
      assertThrowsMsg(() => other.loadStateDict(st.model), /is missing fc2.bias/);
      disposeTrainState(st);
      assertThrowsMsg(
        () => encodeTrainState({ model: net, step: -1, epoch: 0, batch: 0, seed: 1 }),
        /step must be an integer >= 0, got -1/,
      );
      assertThrowsMsg(
        () => encodeTrainState({ model: net, step: 0, epoch: 0, batch: 0, seed: -1 }),
        /seed -1 is not a u64/,
      );
      net.dispose();
      other.dispose();
    });
  }),
);
