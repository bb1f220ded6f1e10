#!/usr/bin/env bash
# The documented MNIST pruning experiment (docs/results/pruning_mnist.md), end to end and
# resumable: run it again after an interruption and it continues where it stopped. Finished
# runs are kept in docs/results/prune_mnist/runs (archive.sh), so a fresh clone continues too.
#   bash experiments/configs/prune_mnist/run.sh [--rest]
# --rest adds the strong evaluation of the 90% and 95% models (run_all.sh runs it last).
set -euo pipefail
if [ $# -gt 1 ] || { [ $# -eq 1 ] && [ "$1" != --rest ]; }; then
  echo "usage: $0 [--rest]" >&2
  exit 2
fi
cd "$(dirname "$0")/../../.."
here=experiments/configs/prune_mnist
bash "$here/archive.sh" restore
trap 'bash "$here/archive.sh" archive' EXIT
. experiments/configs/_publish.sh
deno task exp run "$here/dense.yaml" --quiet
deno task exp sweep "$here/pruned.yaml" --parallel 1 --quiet
# The stronger evaluation (strong.yaml) of the models the conclusions rest on: the 99% and the
# dense models (HYDRA vs LWM at 99%; the reference for the lottery tickets), then the lottery
# tickets after their runs; records already there are kept.
strong=(--attacks "$here/strong.yaml" --quiet)
deno task exp evaluate runs/prune-mnist/pruned/*sparsity=0.99* runs/prune-mnist-dense "${strong[@]}"
deno task exp run "$here/imp.yaml" --quiet
deno task exp evaluate runs/prune-mnist-imp "${strong[@]}"
deno task exp sweep "$here/imp_targets.yaml" --parallel 1 --quiet
if [ "${1:-}" = --rest ]; then
  deno task exp evaluate runs/prune-mnist runs/prune-mnist-imp-targets "${strong[@]}"
fi
# One database and report; the page's copy of the report and its tables (pruning_mnist.md).
publish prune-mnist "$here" runs/prune-mnist-dense runs/prune-mnist runs/prune-mnist-imp \
  runs/prune-mnist-imp-targets
