#!/usr/bin/env bash
# Keeps the MNIST pruning experiment across machines: `archive` copies every finished run's
# records (config, result, metrics, stage markers) into docs/results/prune_mnist/runs, with
# the dense models the pruning runs start from; `restore` copies them back into runs/ where a
# run is not there yet, so run.sh continues from them in a fresh clone. Runs are deterministic
# (same seed, same thread count), so a restored run equals the one that would be recomputed.
#   bash experiments/configs/prune_mnist/archive.sh archive|restore
set -euo pipefail
cd "$(dirname "$0")/../../.."
store=docs/results/prune_mnist/runs
case "${1:-}" in
  archive)
    { find runs/prune-mnist-dense runs/prune-mnist runs/prune-mnist-imp -name result.json \
      2>/dev/null || true; } |
      while read -r result; do
        dir=$(dirname "$result")
        dest="$store/${dir#runs/}"
        mkdir -p "$dest"
        cp "$dir"/config.json "$dir"/result.json "$dir"/metrics.jsonl "$dest"/
        cp "$dir"/done-*.json "$dest"/ 2>/dev/null || true
        case "$dir" in runs/prune-mnist-dense/*) cp "$dir"/model-train.safetensors "$dest"/ ;; esac
      done
    echo "archived $(find "$store" -name result.json | wc -l) finished runs into $store"
    ;;
  restore)
    [ -d "$store" ] || exit 0
    find "$store" -name result.json | while read -r result; do
      src=$(dirname "$result")
      dir="runs/${src#"$store"/}"
      if [ ! -f "$dir/result.json" ]; then
        mkdir -p "$dir"
        # result.json last: it marks the run complete.
        find "$src" -maxdepth 1 -type f ! -name result.json -exec cp {} "$dir"/ \;
        cp "$src/result.json" "$dir/result.json"
      fi
    done
    ;;
  *)
    echo "usage: $0 archive|restore" >&2
    exit 2
    ;;
esac
