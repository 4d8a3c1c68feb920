#!/usr/bin/env bash
# Scores the generic extractor on the CWCED Chinese benchmark (69 real pages with gold text)
# with the project's scorer (tools/, a copy of the shared one): mean char F1 (whitespace removed, difflib alignment).
set -euo pipefail
cd "$(dirname "$0")/.."
caiji=${CAIJI:-target/release/caiji}
bench=${BENCH:-bench/cwced-zh}
out=${1:-target/eval-generic}
rm -rf "$out" && mkdir -p "$out"
"$caiji" parse --site generic --format text --out "$out" "$bench/html"
# parse names outputs <file>.txt; the gold is <id>.txt
for f in "$out"/*.html.txt; do mv "$f" "${f%.html.txt}.txt"; done
python3 "${SCORER:-tools/score_text.py}" "$bench/gold" "$out" | tail -1
