#!/usr/bin/env bash
# Validates the CUDA backend on a GPU machine, in one call. From a machine with network:
#   ../shared/tools/gpu-prep && deno task build     # .gpu/ (Deno, node_modules) and the library
# then on the GPU machine (no network, maybe no nvcc), carrying .gpu and native/build:
#   bash .gpu/run.sh 'bash native/cuda/validate.sh'
# Writes its logs under $OUT (or /tmp/topiary-gpu) and prints the summary of each step.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/topiary-gpu}
mkdir -p "$out"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
echo "== build (rebuilt where nvcc is; vendor-header ABI check when TOPIARY_CUDA_INCLUDES is set)"
TOPIARY_BUILD_CUDA=${TOPIARY_BUILD_CUDA:-} deno run -A native/build.ts 2>&1 | tee "$out/build.log"
echo "== backend"
deno eval 'import { getBackend } from "./ffi/mod.ts";
  try { console.log(JSON.stringify(getBackend("cuda").info(), null, 1)); }
  catch (e) { console.log(String(e)); }' 2>&1 | tee "$out/info.json"
echo "== CUDA tests"
deno test -A --no-check=remote tests/ffi/cuda_test.ts >"$out/cuda_test.log" 2>&1
grep -E "^(ok|FAILED)|\.\.\. |error" "$out/cuda_test.log" | tail -20
echo "== whole suite (every op test runs on cpu and cuda)"
deno test -A --no-check=remote tests/ >"$out/test.log" 2>&1
grep -E "FAILED|\[cuda\] \.\.\. .*(FAILED|ok)" "$out/test.log" | grep -c "ok" | sed 's/^/cuda op tests ok: /'
grep -E "FAILED" "$out/test.log" | head -40
tail -3 "$out/test.log"
