#!/usr/bin/env bash
# Keeps an experiment across machines. `archive` copies every finished run's records (config,
# result, metrics, stage markers, re-evaluations) under the run roots into STORE, plus the
# model files named with ROOT=MODEL (the models later runs start from); `restore` copies them
# back into runs/ where a run is not there yet (and re-evaluations a run lacks), so the
# experiment's run.sh continues from them in a fresh clone. Runs are deterministic (same seed,
# same thread count), so a restored run equals the one that would be recomputed.
#   bash experiments/configs/_archive.sh archive|restore STORE ROOT[=MODEL] ...
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-}
store=${2:-}
if [ -z "$store" ] || { [ "$mode" != archive ] && [ "$mode" != restore ]; }; then
  echo "usage: $0 archive|restore STORE ROOT[=MODEL] ..." >&2
  exit 2
fi
shift 2
case "$mode" in
  archive)
    for spec in "$@"; do
      root=${spec%%=*}
      model=""
      [ "$spec" != "$root" ] && model=${spec#*=}
      { find "$root" -name result.json 2>/dev/null || true; } | while read -r result; do
        dir=$(dirname "$result")
        dest="$store/${dir#runs/}"
        mkdir -p "$dest"
        cp "$dir"/config.json "$dir"/result.json "$dest"/
        # A run without training (load, then evaluate) has no metrics.jsonl.
        for f in "$dir"/metrics.jsonl "$dir"/done-*.json "$dir"/evaluation-*.json; do
          if [ -f "$f" ]; then cp "$f" "$dest"/; fi
        done
        if [ -n "$model" ]; then cp "$dir/$model" "$dest"/; fi
      done
    done
    echo "archived $(find "$store" -name result.json 2>/dev/null | wc -l) finished runs into $store"
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
      else
        # Re-evaluations (evaluation-NAME.json) archived since the run was restored.
        find "$src" -maxdepth 1 -name 'evaluation-*.json' | while read -r f; do
          [ -f "$dir/$(basename "$f")" ] || cp "$f" "$dir"/
        done
      fi
    done
    ;;
esac
