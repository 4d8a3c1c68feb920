#!/usr/bin/env bash
# Re-extraction at scale: generates an archive of N captures from the fixture templates (varied
# text, original charsets) in a private cluster under target/, extracts it once (as the crawl
# would have; untimed, search indexes built in bulk afterwards), then times a full
# `caiji extract --rerun --force` end to end, and extraction alone on the same kind of pages
# in memory on the same cores (the limit). Prints both, their ratio, and caiji's peak memory,
# then times the documented searches. REUSE=1 skips generation and times the last archive again.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
cargo build -q --release -p caiji -p caiji-bench
if [ -n "${REUSE:-}" ]; then
  # Time again on the archive the last run generated (must hold $n captures).
  url=$(target/release/caiji-bench archive-url target/bench-pg bench_rerun)
  # Back to the state the timed run expects: one extraction per capture (the initial one).
  psql -q "$url" -c "DELETE FROM extraction_records WHERE crawl_run_id > (SELECT min(crawl_run_id) FROM extraction_records)" \
    -c "VACUUM FULL ANALYZE extraction_records" -c "CHECKPOINT"
else
  echo "generating $n captures..."
  url=$(target/release/caiji-bench gen-archive target/bench-pg bench_rerun "$n" fixtures/sites)
  echo "initial extraction (untimed; search indexes rebuilt in bulk after it)..."
  psql -q "$url" -c "DROP INDEX texts_words_idx; DROP INDEX texts_text_trgm_idx;"
  DATABASE_URL="$url" target/release/caiji extract --rerun 2>/dev/null
  psql -q "$url" -c "SET maintenance_work_mem = '512MB'; CREATE INDEX texts_words_idx ON texts USING gin (words)" \
    -c "SET maintenance_work_mem = '512MB'; CREATE INDEX texts_text_trgm_idx ON texts USING gin (text gin_trgm_ops)" -c "VACUUM ANALYZE"
fi
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

# Search on the same archive: the two search queries of docs/schema.md (3 and 4), with their
# GIN indexes and, as the baseline in the same run, with index scans disabled (sequential).
search() { # $1 = label, $2 = WHERE clause on texts t
  for mode in index sequential; do
    set_off=""; [ "$mode" = sequential ] && set_off="SET enable_bitmapscan = off; SET enable_indexscan = off;"
    psql -qtA "$url" -c "$set_off SELECT 1" -c "\timing on" \
      -c "SELECT count(*) FROM documents d JOIN texts t ON t.sha256 = d.text_sha256 WHERE $2" \
      -c "SELECT count(*) FROM texts t WHERE $2" |
      awk -v l="$1" -v m="$mode" '/^Time:/ {t[++n]=$2} /^[0-9]+$/ {c[++k]=$1}
        END {printf "%-28s %-10s documents: %s rows %8.1f ms   texts only: %s rows %8.1f ms\n", l, m, c[2], t[1], c[3], t[2]}'
  done
}
echo "search over $(psql -qtA "$url" -c 'SELECT count(*) FROM texts') texts:"
search "phrase 高质量发展 (trigram)" "t.text LIKE '%高质量发展%'"
search "word 改革 (jieba words)" "t.words @@ to_tsquery('simple', '改革')"
# Those two are in most generated pages (they are the fixtures' own words); selective searches
# are what the indexes are for: a ten-character phrase from one generated text, and a
# two-character word found in a few dozen texts.
phrase=$(psql -qtA "$url" -c "SELECT substr(text, 100, 10) FROM texts ORDER BY sha256 LIMIT 1")
word=$(psql -qtA "$url" -c "SELECT word FROM ts_stat('SELECT words FROM texts') WHERE length(word) = 2
  AND ndoc BETWEEN 10 AND 100 ORDER BY ndoc DESC, word LIMIT 1")
search "phrase $phrase" "t.text LIKE '%$phrase%'"
search "word $word" "t.words @@ to_tsquery('simple', '$word')"
