import { augmentCounter, augmentParams, cropFlipInto } from "../../../core/data/mod.ts";
import { philoxBits } from "@topiary/core";
import { assertSameArray, check, referenceCropFlip } from "./_util.ts";

Deno.test("cropFlipInto matches pad-crop-flip for every offset, flip and padding", () => {
  const c = 2, h = 5, w = 7, per = c * h * w;
  const src = Float32Array.from({ length: 3 * per }, (_, i) => 1 + i); // no zeros in the source
  for (const p of [0, 1, 3, 8]) {
    for (let dy = 0; dy <= 2 * p; dy++) {
      for (let dx = 0; dx <= 2 * p; dx++) {
        for (const flip of [false, true]) {
          const dst = new Float32Array(2 * per).fill(-1);
          cropFlipInto(src, per, dst, per, c, h, w, p, dy, dx, flip); // image 1 -> slot 1
          const want = referenceCropFlip(src.subarray(per, 2 * per), c, h, w, p, dy, dx, flip);
          assertSameArray(dst.subarray(per), want, `p=${p} dy=${dy} dx=${dx} flip=${flip}`);
          check(dst.subarray(0, per).every((v) => v === -1), "slot 0 must stay untouched");
        }
      }
    }
  }
});

Deno.test("cropFlipInto without padding and flip is a copy; a flip mirrors each row", () => {
  const src = Float32Array.from({ length: 12 }, (_, i) => i);
  const dst = new Float32Array(12);
  cropFlipInto(src, 0, dst, 0, 1, 3, 4, 0, 0, 0, false);
  assertSameArray(dst, src, "identity");
  cropFlipInto(src, 0, dst, 0, 1, 3, 4, 0, 0, 0, true);
  assertSameArray(dst, [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8], "mirror");
  // Padding 1, crop at (0, 0): shifted down-right by one, zeros enter at the top and left.
  cropFlipInto(src, 0, dst, 0, 1, 3, 4, 1, 0, 0, false);
  assertSameArray(dst, [0, 0, 0, 0, 0, 0, 1, 2, 0, 4, 5, 6], "shift");
});

Deno.test("augmentParams: the documented words of the draw (seed, 'augment', epoch << 32 | batch)", () => {
  check(augmentCounter(3, 7) === (3n << 32n) + 7n, "counter layout");
  const n = 50, p = 4;
  const got = augmentParams(n, 11, 3, 7, { padding: p, flip: true });
  const bits = philoxBits(3 * n, 11, "augment", (3n << 32n) + 7n);
  for (let i = 0; i < n; i++) {
    check(got[3 * i] === Math.floor((bits[3 * i] / 2 ** 32) * 9), `dy ${i}`);
    check(got[3 * i + 1] === Math.floor((bits[3 * i + 1] / 2 ** 32) * 9), `dx ${i}`);
    check(got[3 * i + 2] === bits[3 * i + 2] >>> 31, `flip ${i}`);
  }
  const other = augmentParams(n, 11, 4, 7, { padding: p, flip: true });
  check(other.some((v, i) => v !== got[i]), "another epoch must draw other parameters");
  const noFlip = augmentParams(n, 11, 3, 7, { padding: p });
  check(noFlip.every((v, i) => i % 3 !== 2 || v === 0), "no flips unless asked");
  const noPad = augmentParams(n, 11, 3, 7, { flip: true });
  check(noPad.every((v, i) => i % 3 === 2 || v === 0), "no offsets without padding");
});

Deno.test("augmentParams: offsets uniform over 0..2p, flips about half", () => {
  const n = 9000, p = 4;
  const got = augmentParams(n, 1, 0, 0, { padding: p, flip: true });
  const dy = new Array(9).fill(0), dx = new Array(9).fill(0);
  let flips = 0;
  for (let i = 0; i < n; i++) {
    dy[got[3 * i]]++;
    dx[got[3 * i + 1]]++;
    flips += got[3 * i + 2];
  }
  for (const h of [dy, dx]) check(h.every((c) => c > 850 && c < 1150), `offset histogram ${h}`);
  check(flips > 4300 && flips < 4700, `${flips} flips of ${n}`);
});
