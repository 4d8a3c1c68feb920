#!/usr/bin/env bash
# Scores the Rust crates caiji could have used instead of its generic extractor (dom_smoothie, a
# Readability port; rs-trafilatura) on the same CWCED pages and with the same scorer as
# scripts/eval-generic.sh. Pages are decoded by caiji's charset pipeline for both.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BENCH:-bench/cwced-zh}
out=${1:-target/eval-peers}
cargo build -q --release --manifest-path bench/peers/Cargo.toml --target-dir target/peers
rm -rf "$out"
target/peers/release/caiji-peers text "$bench/html" "$out"
for tool in "$out"/*/; do
  echo "$(basename "$tool"): $(python3 "${SCORER:-tools/score_text.py}" "$bench/gold" "$tool" | tail -1)"
done
