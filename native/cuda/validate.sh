#!/usr/bin/env bash
# Validates and benchmarks the CUDA backend on a GPU machine, in one call. From a machine with
# network:
#   bash native/cuda/gpu_prep.sh     # .gpu/ (Deno, oneDNN debs, node_modules) and the libraries
# then on the GPU machine (no network), carrying .gpu and native/build:
#   bash .gpu/run.sh 'bash native/cuda/validate.sh [STEP ...]'
# Steps (default: build cuda ops train sparse suite, in the order given):
#   build       rebuild (vendor-header ABI check first), backend info
#   cuda        tests/ffi/cuda_test.ts
#   ops         tests/core and tests/ffi: every op test on cpu and on cuda
#   suite       the whole test suite (default device cpu, op tests on both)
#   cuda-suite  tests/attacks, tests/pruning, tests/experiments with TOPIARY_DEVICE=cuda
#   train       deno task bench --suite gpu (deterministic cuDNN, no TF32: the defaults)
#   train-fast  the same with TOPIARY_CUDA_DETERMINISTIC=0 TOPIARY_CUDA_ALLOW_TF32=1 (both sides)
#   train-tuned the same with TOPIARY_CUDA_BENCHMARK=1 (cuDNN algorithms timed, both sides)
#   sparse      deno task bench --suite sparse on the GPU
#   demo        the demo (adversarial training, HYDRA and LWM pruning, report) on the GPU
#   profile     per-call profiles (TOPIARY_PROFILE=1) of ResNet-18 and VGG-16-BN steps, batch 512
# GPU_CHECK_SECONDS (default 300) bounds the whole call: each step gets its own cap and at most
# what is left. Logs go to $OUT (or /tmp/topiary-gpu), at most 8 files.
set -uo pipefail
export NO_COLOR=1
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/topiary-gpu}
mkdir -p "$out"
steps=("$@")
((${#steps[@]})) || steps=(build cuda ops train sparse suite)
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-300}))
export TOPIARY_TORCH_PYTHON=${TOPIARY_TORCH_PYTHON:-python3}

# Runs "$@" for at most min(cap, time left - 5) seconds; logs to $out/$name.log.
step() {
  local name=$1 cap=$2
  shift 2
  local left=$((deadline - SECONDS - 5))
  ((left < cap)) && cap=$left
  if ((cap < 10)); then
    echo "== $name: skipped (no time left)"
    return
  fi
  echo "== $name (at most ${cap}s)"
  local t0=$SECONDS
  timeout -k 5 "$cap" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "   exit $rc after $((SECONDS - t0))s"
}

for s in "${steps[@]}"; do
  case $s in
  build)
    {
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
      deno --version | head -1
    } >"$out/build.log" 2>&1
    step build_ 120 bash -c 'TOPIARY_BUILD_CUDA=1 deno run -A native/build.ts && deno eval "
      import { getBackend } from \"./ffi/mod.ts\";
      try { console.log(getBackend(\"cuda\").describe());
        console.log(JSON.stringify(getBackend(\"cuda\").info(), null, 1)); }
      catch (e) { console.log(String(e)); }"'
    cat "$out/build_.log" >>"$out/build.log" && rm -f "$out/build_.log"
    tail -n 25 "$out/build.log"
    ;;
  cuda)
    step cuda_test 120 deno test -A --no-check tests/ffi/cuda_test.ts
    grep -E "\.\.\. |^error|passed|failed" "$out/cuda_test.log" | tail -20
    ;;
  ops)
    step ops_test 150 deno test -A --no-check tests/core tests/ffi
    grep -E "FAILED|=> |^error" "$out/ops_test.log" | head -40
    grep -cE "\[cuda\].* \.\.\. .*ok" "$out/ops_test.log" | sed 's/^/cuda cases ok: /'
    tail -n 2 "$out/ops_test.log"
    ;;
  train)
    step bench_gpu 120 env TOPIARY_DEVICE=cuda deno run -A experiments/bench/mod.ts --suite gpu \
      --reps 3 --json "$out/bench_gpu.json"
    cat "$out/bench_gpu.log"
    ;;
  train-tuned)
    step bench_gpu_tuned 150 env TOPIARY_DEVICE=cuda TOPIARY_CUDA_BENCHMARK=1 \
      deno run -A experiments/bench/mod.ts --suite gpu --reps 3 --json "$out/bench_gpu_tuned.json"
    cat "$out/bench_gpu_tuned.log"
    ;;
  sparse)
    step bench_sparse_gpu 200 env TOPIARY_DEVICE=cuda deno run -A experiments/bench/mod.ts \
      --suite sparse --reps 3 --json "$out/bench_sparse_gpu.json"
    grep -E "^\| .*(99%|90%)|skipped|rror" "$out/bench_sparse_gpu.log" | head -60
    ;;
  suite)
    step test 240 deno test -A --no-check tests/
    grep -E "FAILED|^error" "$out/test.log" | head -40
    tail -n 3 "$out/test.log"
    ;;
  cuda-suite)
    step cuda_suite 240 env TOPIARY_DEVICE=cuda deno test -A --no-check tests/attacks \
      tests/pruning tests/experiments
    grep -E "FAILED|^error" "$out/cuda_suite.log" | head -40
    tail -n 3 "$out/cuda_suite.log"
    ;;
  train-fast)
    step bench_gpu_fast 120 env TOPIARY_DEVICE=cuda TOPIARY_CUDA_DETERMINISTIC=0 \
      TOPIARY_CUDA_ALLOW_TF32=1 deno run -A experiments/bench/mod.ts --suite gpu --reps 3 \
      --json "$out/bench_gpu_fast.json"
    cat "$out/bench_gpu_fast.log"
    ;;
  profile)
    step profile 150 env TOPIARY_DEVICE=cuda TOPIARY_PROFILE=1 bash -c '
      p="deno run -A experiments/bench/profile.ts --batch 512 --steps 3"
      $p --model resnet18 && $p --model resnet18 --pgd && $p --model vgg16_bn'
    grep -E "ms per step|^\| cuda|^conv_" "$out/profile.log" | head -150
    ;;
  demo)
    step demo 200 deno run -A experiments/demo.ts --device cuda --out /tmp/topiary-demo
    tail -n 30 "$out/demo.log"
    ;;
  *)
    echo "unknown step $s (build cuda ops suite cuda-suite train train-fast train-tuned sparse demo" \
      "profile)"
    exit 2
    ;;
  esac
done
