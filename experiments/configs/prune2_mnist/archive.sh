#!/usr/bin/env bash
# Archives (or restores) the finished runs of the Pruning II experiment in
# docs/results/prune2_mnist/runs (records only; see ../_archive.sh).
#   bash experiments/configs/prune2_mnist/archive.sh archive|restore
set -euo pipefail
here=$(dirname "$0")
bash "$here/../_archive.sh" "${1:-}" docs/results/prune2_mnist/runs runs/prune2-mnist
