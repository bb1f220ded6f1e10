#!/usr/bin/env bash
# Archives (or restores) the finished runs of the Pruning II experiment in
# docs/results/prune2_mnist/runs (see ../_archive.sh): records, and the final models that
# `deno task exp evaluate` re-evaluates (the robust-dense references: records only).
#   bash experiments/configs/prune2_mnist/archive.sh archive|restore
set -euo pipefail
here=$(dirname "$0")
r=runs/prune2-mnist
bash "$here/../_archive.sh" "${1:-}" docs/results/prune2_mnist/runs "$r/robust-dense" \
  "$r/clean-dense=model-train.safetensors" "$r/clean-lwm99=model-finetune.safetensors" \
  "$r/admm=model-retrain.safetensors" "$r/atmc=model-atmc.safetensors" \
  "$r/edgepopup=model-prune.safetensors" "$r/edgepopup-biases=model-prune.safetensors"
