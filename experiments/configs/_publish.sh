# Sourced by the experiments' run.sh: one results database and report of the given run
# folders, the report copied next to the experiment's page, then the page's tables.
#   publish NAME HERE ROOT...
# NAME names runs/NAME.sqlite and runs/NAME-report; HERE is experiments/configs/<x>, whose
# tables.ts writes the page and whose report copy goes to docs/results/<x>/report.
publish() {
  local name=$1 here=$2
  shift 2
  local docs
  docs=docs/results/$(basename "$here")/report
  rm -f "runs/$name.sqlite"
  deno task exp collect "$@" --db "runs/$name.sqlite"
  deno task exp report --db "runs/$name.sqlite" --out "runs/$name-report"
  rm -rf "$docs" && mkdir -p "$docs"
  cp -r "runs/$name-report/results.md" "runs/$name-report/figures" "$docs/"
  deno fmt --quiet "$docs/results.md"
  deno run -A "$here/tables.ts" --write
}
