#!/usr/bin/env bash
# Re-extraction at scale: generates an archive of N captures from the fixture templates (varied
# text, original charsets) in a private cluster under target/, extracts it once (as the crawl
# would have; untimed, search indexes built in bulk afterwards), then times a full
# `caiji extract --rerun --force` end to end, and extraction alone on the same kind of pages
# in memory on the same cores (the limit). Prints both, their ratio, and caiji's peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
cargo build -q --release -p caiji -p caiji-bench
echo "generating $n captures..."
url=$(target/release/caiji-bench gen-archive target/bench-pg bench_rerun "$n" fixtures/sites)
echo "initial extraction (untimed; search indexes rebuilt in bulk after it)..."
psql -q "$url" -c "DROP INDEX texts_words_idx; DROP INDEX texts_text_trgm_idx;"
DATABASE_URL="$url" target/release/caiji extract --rerun 2>/dev/null | head -1
psql -q "$url" -c "CREATE INDEX texts_words_idx ON texts USING gin (words)" \
  -c "CREATE INDEX texts_text_trgm_idx ON texts USING gin (text gin_trgm_ops)" -c "VACUUM ANALYZE"
limit=$(target/release/caiji-bench extract-generated fixtures/sites "$(( n < 20000 ? n : 20000 ))")
echo "timed: caiji extract --rerun --force over $n captures"
start=$(date +%s.%N)
out=$(DATABASE_URL="$url" target/release/caiji extract --rerun --force 2>/dev/null)
end=$(date +%s.%N)
echo "$out"
python3 - "$n" "$start" "$end" "$limit" <<'PY'
import json, sys
n, start, end, limit = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
e2e = n / (end - start)
print(f"end to end: {e2e:.0f} captures/s ({end - start:.1f} s for {n}, process start to exit)")
print(f"limit (extraction alone, in memory, {limit['threads']} threads): {limit['pages_per_second']:.0f} pages/s")
print(f"ratio: {e2e / limit['pages_per_second']:.2f} of the limit")
PY
