#!/usr/bin/env bash
# Both documented pruning experiments on MNIST, one after the other (each resumable and
# archived as it goes): Pruning I (LWM, HYDRA, lottery tickets; docs/results/pruning_mnist.md),
# then Pruning II (ADMM, ATMC, edge-popup, analysis; docs/results/pruning2_mnist.md), then the
# strong evaluation of both experiments' 90% and 95% models.
#   bash experiments/configs/run_all.sh
set -euo pipefail
cd "$(dirname "$0")"
bash prune_mnist/run.sh
bash prune2_mnist/run.sh
bash prune_mnist/run.sh --rest
bash prune2_mnist/run.sh --rest
