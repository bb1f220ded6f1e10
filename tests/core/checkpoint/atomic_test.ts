import * as T from "@topiary/core";
import { tensor } from "@topiary/core";
import {
  loadSafetensors,
  saveSafetensors,
  saveSafetensorsSync,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../../../core/checkpoint/mod.ts";
import { assertRejects, listDir, withTempDir } from "./_util.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const read = (p: string) => new TextDecoder().decode(Deno.readFileSync(p));

Deno.test("writeFileAtomic replaces the file and leaves no temporary file", async () => {
  await withTempDir(async (dir) => {
    const p = `${dir}/state.bin`;
    await writeFileAtomic(p, enc("first"));
    writeFileAtomicSync(p, enc("second, longer"));
    await writeFileAtomic(p, enc("3rd"));
    if (read(p) !== "3rd") throw new Error(`content ${read(p)}`);
    if (listDir(dir).join() !== "state.bin") throw new Error(`folder holds ${listDir(dir)}`);
    await writeFileAtomic(`${dir}/empty.bin`, new Uint8Array(0));
    if (Deno.statSync(`${dir}/empty.bin`).size !== 0) throw new Error("empty file");
  });
});

Deno.test("a crash between write and rename leaves the old checkpoint intact", async () => {
  await withTempDir(async (dir) => {
    const p = `${dir}/model.safetensors`;
    using old = tensor([1, 2, 3]);
    using fresh = tensor([9, 9, 9, 9]);
    await saveSafetensors(p, [["w", old]]);
    const before = Deno.readFileSync(p);
    for (const sync of [false, true]) {
      let tmpSeen = "";
      const beforeRename = (tmp: string) => {
        // The new data is complete on disk, under another name in the same folder.
        tmpSeen = tmp;
        if (!tmp.startsWith(`${dir}/.model.safetensors.`) || !Deno.statSync(tmp).isFile) {
          throw new Error(`unexpected temporary file ${tmp}`);
        }
        throw new Error("simulated crash");
      };
      const save = () =>
        sync
          ? saveSafetensorsSync(p, [["w", fresh]], { beforeRename })
          : saveSafetensors(p, [["w", fresh]], { beforeRename });
      await assertRejects(save, /cannot write .*model.safetensors: simulated crash/);
      if (!tmpSeen) throw new Error("the hook did not run");
      const after = Deno.readFileSync(p);
      if (after.length !== before.length || after.some((b, i) => b !== before[i])) {
        throw new Error("the old file changed");
      }
      const { tensors } = await loadSafetensors(p);
      const w = tensors.get("w")!;
      if (w.toArray().join() !== "1,2,3") throw new Error(`loaded ${w.toArray()}`);
      T.dispose(tensors);
      if (listDir(dir).join() !== "model.safetensors") throw new Error(`left ${listDir(dir)}`);
    }
  });
});

Deno.test("a process killed between write and rename leaves the old file readable", async () => {
  await withTempDir(async (dir) => {
    const p = `${dir}/run.bin`;
    await writeFileAtomic(p, enc("old complete checkpoint"));
    const mod = new URL("../../../core/checkpoint/atomic.ts", import.meta.url).href;
    const code = `import { writeFileAtomic } from "${mod}";
      await writeFileAtomic(${JSON.stringify(p)}, new Uint8Array(1 << 20).fill(7), {
        beforeRename: () => Deno.exit(3),
      });`;
    const r = await new Deno.Command(Deno.execPath(), { args: ["eval", code] }).output();
    if (r.code !== 3) {
      throw new Error(`child exited ${r.code}: ${new TextDecoder().decode(r.stderr)}`);
    }
    if (read(p) !== "old complete checkpoint") throw new Error("the target changed");
    // Only a hidden temporary file is left behind, never a partial target.
    const left = listDir(dir).filter((n) => n !== "run.bin");
    if (left.length !== 1 || !/^\.run\.bin\.\d+\.\d+\.tmp$/.test(left[0])) {
      throw new Error(`left behind: ${left}`);
    }
  });
});
