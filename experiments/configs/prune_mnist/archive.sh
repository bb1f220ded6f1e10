#!/usr/bin/env bash
# Keeps the MNIST pruning experiment across machines (see ../_archive.sh): finished runs'
# records go to docs/results/prune_mnist/runs, with the dense models the pruning runs start
# from and the final pruned models (which `deno task exp evaluate` re-evaluates); `restore`
# brings them back into runs/, so run.sh continues in a fresh clone.
#   bash experiments/configs/prune_mnist/archive.sh archive|restore
set -euo pipefail
here=$(dirname "$0")
bash "$here/../_archive.sh" "${1:-}" docs/results/prune_mnist/runs \
  runs/prune-mnist-dense=model-train.safetensors runs/prune-mnist=model-finetune.safetensors \
  runs/prune-mnist-imp=model-lottery.safetensors \
  runs/prune-mnist-imp-targets=model-lottery.safetensors
