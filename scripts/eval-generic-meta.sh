#!/usr/bin/env bash
# Scores the generic extractor's published date and author on the CWCED pages against the
# benchmark's metadata gold (accuracy, recall, precision). `-v` lists the misses.
set -euo pipefail
cd "$(dirname "$0")/.."
caiji=${CAIJI:-target/release/caiji}
bench=${BENCH:-bench/cwced-zh}
out=target/eval-generic-meta
rm -rf "$out" && mkdir -p "$out"
"$caiji" parse --site generic --format json --out "$out" "$bench/html"
for f in "$out"/*.html.json; do mv "$f" "${f%.html.json}.json"; done
python3 bench/score_meta.py "$bench/meta" "$out" "$@"
# The same score for trafilatura's metadata extraction, when bench-extract's venv exists.
venv=target/bench-venv
if "$venv/bin/python" -c 'import trafilatura' 2>/dev/null; then
  echo "trafilatura $("$venv/bin/python" -c 'import trafilatura; print(trafilatura.__version__)'):"
  "$venv/bin/python" bench/trafilatura_meta.py "$bench/html" target/eval-generic-meta-trafilatura
  python3 bench/score_meta.py "$bench/meta" target/eval-generic-meta-trafilatura
fi
