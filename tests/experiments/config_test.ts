import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { assertThrowsMsg as assertThrows } from "../_harness.ts";
import { ConfigError } from "../../experiments/config/_check.ts";
import { loadConfigFile, parseYaml } from "../../experiments/config/load.ts";
import { resolveConfig } from "../../experiments/config/resolve.ts";
import { expandSweep, loadSweep } from "../../experiments/sweep/grid.ts";

const BASE = {
  name: "t",
  threat: { eps: 0.3 },
  data: { name: "mnist" },
  model: { name: "small_cnn" },
};

function withKey(path: string, value: unknown): Record<string, unknown> {
  const doc = structuredClone(BASE) as Record<string, unknown>;
  const parts = path.split(".");
  let at = doc;
  for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
  at[parts[parts.length - 1]] = value;
  return doc;
}

function errorOf(doc: unknown): ConfigError {
  try {
    resolveConfig(doc, { source: "test.yaml" });
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("config: defaults fill a minimal document", () => {
  const c = resolveConfig(BASE);
  assertEquals(c.seeds, [0]);
  assertEquals(c.threat, { norm: "linf", eps: 0.3 });
  assertEquals(c.pipeline.map((s) => s.kind), ["train"]);
  assertEquals(c.training.optimizer.name, "sgd");
  assertEquals(c.evaluation.subset, "all");
  assertEquals(c.deviations, []);
});

Deno.test("config: pgd's reluSurrogate is kept when given and absent otherwise", () => {
  const c = resolveConfig({
    ...BASE,
    evaluation: { attacks: [{ name: "pgd" }, { name: "pgd", reluSurrogate: 10 }] },
  });
  assertEquals("reluSurrogate" in c.evaluation.attacks[0], false);
  assertEquals(c.evaluation.attacks[1].reluSurrogate, 10);
});

Deno.test("config: bad values name the key and what is allowed", () => {
  const cases: [string, unknown, string, RegExp][] = [
    ["model.name", "resnet50", "model.name", /one of .*small_cnn/],
    ["data.name", "imagenet", "data.name", /one of mnist, fashion-mnist, cifar10, synthetic/],
    ["training.optimizer.lr", -1, "training.optimizer.lr", />= 0/],
    [
      "training.optimizer.nmae",
      "sgd",
      "training.optimizer.nmae",
      /unknown key; allowed here: name, lr/,
    ],
    ["threat.norm", "l1", "threat.norm", /linf, l2/],
    ["threat.eps", "big", "threat.eps", /number/],
    ["training.epochs", 2.5, "training.epochs", /integer/],
    [
      "training.objective.name",
      "free",
      "training.objective.name",
      /clean, pgd, fgsm, trades, mixed/,
    ],
    ["evaluation.attacks", [], "evaluation.attacks", /must not be empty/],
    ["evaluation.attacks", [{ name: "cw" }], "evaluation.attacks[0].name", /fgsm, pgd/],
    [
      "evaluation.attacks",
      [{ name: "square", reluSurrogate: 10 }],
      "evaluation.attacks[0].reluSurrogate",
      /applies to pgd and the apgd attacks only/,
    ],
    ["pipeline", [{ stage: "distill" }], "pipeline[0].stage", /one of train, prune/],
    ["pipeline", [{ stage: "prune" }], "pipeline[0].method", /lwm, random, hydra/],
    ["pipeline", [{ stage: "prune", method: "lwm" }], "pipeline[0].sparsity", /required/],
    [
      "pipeline",
      [{ stage: "prune", method: "lwm", sparsity: 1.5 }],
      "pipeline[0].sparsity",
      /in \[0, 1\]/,
    ],
    [
      "pipeline",
      [{ stage: "prune", method: "lwm", sparsity: 0.9, epochs: 3 }],
      "pipeline[0].epochs",
      /hydra and edgepopup only/,
    ],
    [
      "pipeline",
      [{ stage: "train", momentum: 1 }],
      "pipeline[0].momentum",
      /allowed here: stage, name, epochs, lr/,
    ],
    ["training.schedule.name", "step", "training.schedule.every", /required/],
    ["seeds", [0, 0], "seeds", /repeated/],
    ["bogus", 1, "bogus", /unknown key/],
  ];
  for (const [path, value, key, msg] of cases) {
    const e = errorOf(withKey(path, value));
    assertEquals(e.key, key, `${path} = ${JSON.stringify(value)}: ${e.message}`);
    assert(msg.test(e.message), `${path}: ${e.message}`);
    assert(e.message.startsWith(`test.yaml: "${key}"`), e.message);
  }
  assertEquals(errorOf({ ...BASE, threat: {} }).key, "threat.eps");
  assertEquals(errorOf([1, 2]).key, "");
});

Deno.test("config: a preset supplies settings and overrides become deviations", () => {
  const c = resolveConfig({
    name: "fast",
    preset: "wong-fast-mnist",
    training: { epochs: 3, batchSize: 100 },
    deviations: { "training.epochs": "CPU budget" },
  });
  assertEquals(c.training.objective.name, "fgsm");
  assertEquals(c.training.objective.stepSize, 0.375);
  assertEquals(c.training.batchSize, 100);
  assertEquals(c.deviations, [
    { key: "training.epochs", preset: 10, used: 3, reason: "CPU budget" },
  ]);
  const unstated = resolveConfig({ name: "f", preset: "wong-fast-mnist", training: { epochs: 2 } });
  assertEquals(unstated.deviations[0].reason, "not stated");
  assertEquals(
    errorOf({ name: "f", preset: "wong-fast-mnist", deviations: { "model.name": "x" } }).key,
    "deviations.model.name",
  );
  assertEquals(errorOf({ ...BASE, preset: "nope" }).key, "preset");
});

Deno.test("config: YAML files: syntax errors and missing files are named", () => {
  assertThrows(() => parseYaml("a: [1, 2\n", "x.yaml"), /x\.yaml: YAML syntax error/);
  assertThrows(() => parseYaml("a: 1\na: 2\n", "dup.yaml"), /dup\.yaml: YAML syntax error/);
  assertThrows(
    () => loadConfigFile("/nonexistent/c.yaml"),
    /config file \/nonexistent\/c\.yaml does not exist/,
  );
  const c = loadConfigFile(new URL("./fixtures/tiny.yaml", import.meta.url).pathname, 1);
  assertEquals(c.seed, 1);
  assertThrows(
    () => loadConfigFile(new URL("./fixtures/tiny.yaml", import.meta.url).pathname, 5),
    /seed 5 is not one of/,
  );
});

Deno.test("sweep: a grid expands into runs per point and seed, with checked configs", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/base.yaml`,
      "name: b\nthreat: {eps: 0.3}\ndata: {name: mnist}\nmodel: {name: small_cnn}\n",
    );
    Deno.writeTextFileSync(
      `${dir}/grid.yaml`,
      `name: g\nbase: base.yaml\nseeds: [0, 1]\nout: ${dir}/out\ngrid:\n  training.objective.name: [pgd, fgsm]\n  model.name: [small_cnn, lenet5]\nset:\n  evaluation.subset: 1000\n`,
    );
    const spec = loadSweep(`${dir}/grid.yaml`);
    const runs = expandSweep(spec);
    assertEquals(runs.length, 8);
    assertEquals(new Set(runs.map((r) => r.dir)).size, 8);
    assertEquals(runs[0].values, { "training.objective.name": "pgd", "model.name": "small_cnn" });
    // Seed-major: the four grid points of seed 0, then those of seed 1.
    assertEquals(runs.map((r) => r.seed), [0, 0, 0, 0, 1, 1, 1, 1]);
    assertEquals(runs[3].config.model.name, "lenet5");
    assertEquals(runs[7].config.model.name, "lenet5");
    assertEquals(runs[7].config.seed, 1);
    assertEquals(runs.map((r) => r.index), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert(runs.every((r) => r.config.evaluation.subset === 1000 && r.config.name === "g"));
    Deno.writeTextFileSync(
      `${dir}/bad.yaml`,
      `name: g\nbase: base.yaml\ngrid:\n  model.name: [small_cnn, alexnet]\n`,
    );
    assertThrows(
      () => expandSweep(loadSweep(`${dir}/bad.yaml`)),
      /"model.name": must be one of .*grid point model.name=alexnet/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("config: every preset resolves into a valid config", async () => {
  const { listPresets } = await import("../../experiments/config/presets.ts");
  for (const p of listPresets()) {
    Deno.env.set("TOPIARY_CIFAR10_DIR", "/nonexistent"); // cifar10 presets need a folder name
    try {
      const c = resolveConfig({ name: "p", preset: p.name, threat: { eps: 0.1 } });
      assertEquals(c.preset, p.name);
      assert(c.pipeline.length >= 1);
    } finally {
      Deno.env.delete("TOPIARY_CIFAR10_DIR");
    }
  }
});
