#!/usr/bin/env bash
# Runs `caiji parse` over every fixture site's pages and scores the records against the gold
# with the project's scorer (tools/, a copy of the shared one) (char F1, paragraph F1, titles, dates).
set -euo pipefail
cd "$(dirname "$0")/.."
caiji=${CAIJI:-target/release/caiji}
out=${1:-target/eval-sites}
scorer=${SCORER:-tools/score_sites.py}
rm -rf "$out"
for dir in fixtures/sites/*/; do
  site=$(basename "$dir")
  host=$(sed -n 's/^host = "\(.*\)"/\1/p' "$dir/site.toml")
  scheme=$(sed -n 's/^scheme = "\(.*\)"/\1/p' "$dir/site.toml")
  "$caiji" parse --url-prefix "$scheme://$host/" --out "$out/$site/expected" "$dir/pages" 2>/dev/null
done
# The files under pages/ are named by URL path; the gold is <path>.json like our output.
python3 "$scorer" fixtures/sites "$out"
