/**
 * PyTorch reads our safetensors files: Debian's python3-torch (no safetensors package)
 * parses the file with a few lines of Python and loads it into torch modules by name. Skipped
 * when /usr/bin/python3 cannot import torch, except under CI=true, where it must run.
 */
import * as T from "@topiary/core";
import { tensor } from "@topiary/core";
import { saveSafetensors } from "../../../core/checkpoint/mod.ts";
import { withTempDir } from "./_util.ts";

const PYTHON = "/usr/bin/python3";

function torchAvailable(): boolean {
  try {
    const r = new Deno.Command(PYTHON, { args: ["-c", "import torch"], stderr: "null" })
      .outputSync();
    return r.success;
  } catch {
    return false;
  }
}

const ci = Deno.env.get("CI") === "true";
const haveTorch = torchAvailable();
if (ci && !haveTorch) {
  Deno.test("PyTorch loads our safetensors files (python3-torch is required under CI)", () => {
    throw new Error(`CI=true but ${PYTHON} cannot import torch: install python3-torch`);
  });
}

const SCRIPT = `
import json, struct, sys, torch
DT = {"F32": torch.float32, "I32": torch.int32, "U8": torch.uint8, "I64": torch.int64}
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        buf = bytearray(raw[8 + n + b:8 + n + e])
        t = torch.frombuffer(buf, dtype=DT[info["dtype"]]) if e > b else torch.empty(0, dtype=DT[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out, meta
sd, meta = load(sys.argv[1])
net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
net.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("net.")}, strict=True)
res = {
  "meta": meta,
  "weight": net[0].weight.tolist(), "bias": net[0].bias.tolist(),
  "running_var": net[1].running_var.tolist(),
  "nbt": int(net[1].num_batches_tracked), "nbt_dtype": str(net[1].num_batches_tracked.dtype),
  "labels": sd["labels"].tolist(), "labels_dtype": str(sd["labels"].dtype),
  "mask": sd["mask"].tolist(), "scalar": sd["scalar"].item(), "empty": list(sd["empty"].shape),
}
print(json.dumps(res))
`;

Deno.test({
  name: "PyTorch loads our safetensors file by name (I64 num_batches_tracked, all dtypes)",
  ignore: !haveTorch,
  fn: async () => {
    await withTempDir(async (dir) => {
      const sd = new Map<string, T.Tensor>([
        ["net.0.weight", tensor([0.5, -1.25, 2, 3e-8, -0, 7], [2, 3])],
        ["net.0.bias", tensor([0.125, -0.375])],
        ["net.1.weight", tensor([1, 1])],
        ["net.1.bias", tensor([0, 0])],
        ["net.1.running_mean", tensor([0.25, -0.5])],
        ["net.1.running_var", tensor([1.5, 2.5])],
        ["net.1.num_batches_tracked", tensor([123456], [], { dtype: "i32" })],
        ["labels", tensor([3, -1, 2147483647], [3], { dtype: "i32" })],
        ["mask", tensor([1, 0, 1, 1], [2, 2], { dtype: "u8" })],
        ["scalar", tensor([2.5], [])],
        ["empty", T.zeros([0, 4])],
      ]);
      const path = `${dir}/net.safetensors`;
      await saveSafetensors(path, sd, { metadata: { format: "pt", source: "topiary" } });
      T.dispose(sd);
      const out = await new Deno.Command(PYTHON, { args: ["-c", SCRIPT, path] }).output();
      const err = new TextDecoder().decode(out.stderr);
      if (!out.success) throw new Error(`python failed: ${err}`);
      const got = JSON.parse(new TextDecoder().decode(out.stdout));
      const want = {
        meta: { format: "pt", source: "topiary" },
        weight: [[0.5, -1.25, 2], [Math.fround(3e-8), -0, 7]],
        bias: [0.125, -0.375],
        running_var: [1.5, 2.5],
        nbt: 123456,
        nbt_dtype: "torch.int64",
        labels: [3, -1, 2147483647],
        labels_dtype: "torch.int32",
        mask: [[1, 0], [1, 1]],
        scalar: 2.5,
        empty: [0, 4],
      };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`PyTorch read ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      }
    });
  },
});
