#!/usr/bin/env bash
# Another implementation reads what caiji writes: the recorded fixture sites are crawled into a
# private cluster, exported as WARC (64 KiB files, so several) and checked with warcio's own
# `warcio check` (digests, framing) and `warcio index`; the documents are exported as Parquet and
# read with pyarrow. warcio and pyarrow live in a venv under target/ (created on first use, from
# PyPI). Run by scripts/test.sh after the Rust tests; `just check-interop` alone. Exit 0 or 1.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/interop-venv
if ! "$venv/bin/python" -c 'import warcio, pyarrow' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'warcio==1.8.1' 'pyarrow>=15'
fi
caiji=${CAIJI:-${CARGO_TARGET_DIR:-target}/debug/caiji}
[ -x "$caiji" ] || cargo build -q -p caiji
caiji=$(realpath "$caiji")
work=$(mktemp -d)
chmod 755 "$work"
data="$work/pg"
cleanup() { "$caiji" --data-dir "$data" db stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$caiji" --data-dir "$data" --log-format json crawl --replay fixtures/sites --min-interval-ms 5 --crawl-delay-cap 0.05 \
  > "$work/crawl.jsonl" 2>&1
"$caiji" --data-dir "$data" export warc --out "$work/warc" --max-size 64K > "$work/export.txt"
cat "$work/export.txt"
files=("$work"/warc/*.warc.gz)
[ "${#files[@]}" -gt 1 ] || { echo "interop: expected several WARC files, got ${#files[@]}" >&2; exit 1; }
"$venv/bin/warcio" check -v "${files[@]}" > "$work/check.txt" || { cat "$work/check.txt"; echo "interop: warcio check failed" >&2; exit 1; }
if grep -q "digest failed\|Invalid\|error" "$work/check.txt"; then cat "$work/check.txt"; exit 1; fi
passed=$(grep -c "digest pass" "$work/check.txt")
records=$("$venv/bin/warcio" index "${files[@]}" | wc -l)
expected=$(sed -n 's/.* as \([0-9]*\) records.*/\1/p' "$work/export.txt")
[ "$records" = "$expected" ] || { echo "interop: warcio index found $records records, caiji wrote $expected" >&2; exit 1; }
echo "interop: warcio check passed ${#files[@]} files ($passed digests verified), warcio index read $records records"
documents=$("$caiji" --data-dir "$data" sql --format csv "SELECT count(*) FROM documents" | tail -n 1)
"$caiji" --data-dir "$data" export documents --format parquet --out "$work/docs.parquet"
"$venv/bin/python" - "$work/docs.parquet" "$documents" <<'PY'
import sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
assert table.num_rows == int(sys.argv[2]), (table.num_rows, sys.argv[2])
expected = ["url", "site", "title", "published_at", "author", "text", "paragraphs", "extractor",
            "extractor_version", "capture_id", "body_sha256", "fetched_at", "last_seen_at", "gone_since"]
assert table.column_names == expected, table.column_names
rows = table.to_pylist()
assert all(r["text"] and r["paragraphs"] and "\n\n".join(r["paragraphs"]) == r["text"] for r in rows), "paragraphs join to text"
assert all(r["fetched_at"].tzinfo is not None for r in rows)
print(f"interop: pyarrow read {table.num_rows} documents, {len(expected)} columns, paragraphs join to text")
PY
