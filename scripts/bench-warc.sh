#!/usr/bin/env bash
# WARC export and import speed against warcio on the same records, in one run: an archive of N
# generated captures (default 10,000; fixture templates, varied text, original charsets) is
# exported by `caiji export warc`; warcio (in target/interop-venv) then reads every record of
# those files and writes them again (gzip per record); `caiji import warc` reads them into an
# empty database (parsing, decoding, extracting and storing every capture). Prints captures/s and
# MB/s (compressed file bytes) for each, and the machine's load. REUSE=1: the last generated archive.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-10000}
cargo build -q --release -p caiji -p caiji-bench
venv=target/interop-venv
"$venv/bin/python" -c 'import warcio' 2>/dev/null || { python3 -m venv "$venv"; "$venv/bin/pip" install -q 'warcio==1.8.1' 'pyarrow>=15'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${REUSE:-}" ]; then
  url=$(target/release/caiji-bench archive-url target/bench-pg bench_warc)
else
  url=$(target/release/caiji-bench gen-archive target/bench-pg bench_warc "$n" fixtures/sites)
fi
admin=$(target/release/caiji-bench archive-url target/bench-pg postgres)
out=target/bench-warc
rm -rf "$out" && mkdir -p "$out"
# t OUTFILE COMMAND...: runs COMMAND with its stdout in OUTFILE, prints the seconds it took.
t() { local o=$1; shift; local s=$(date +%s.%N); "$@" > "$o"; echo "$(date +%s.%N) - $s" | bc; }
export_s=$(t "$out/export.txt" env DATABASE_URL="$url" target/release/caiji export warc --out "$out/caiji")
cat "$out/export.txt"
bytes=$(cat "$out"/caiji/*.warc.gz | wc -c)
records=$(sed -n 's/.* as \([0-9]*\) records.*/\1/p' "$out/export.txt")
"$venv/bin/python" - "$out" "$records" <<'PY' > "$out/warcio.txt"
import glob, sys, time
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter
out, expected = sys.argv[1], int(sys.argv[2])
files = sorted(glob.glob(out + "/caiji/*.warc.gz"))
t = time.perf_counter(); n = 0
for f in files:
    with open(f, "rb") as fh:
        for rec in ArchiveIterator(fh):
            rec.content_stream().read(); n += 1
read_s = time.perf_counter() - t
assert n == expected, (n, expected)
t = time.perf_counter()
with open(out + "/warcio-rewritten.warc.gz", "wb") as o:
    w = WARCWriter(o, gzip=True)
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh):
                w.write_record(rec)
rw_s = time.perf_counter() - t
print(f"{read_s} {rw_s}")
PY
read -r warcio_read warcio_rw < "$out/warcio.txt"
import_db="bench_warc_import"
psql -q "$admin" -c "DROP DATABASE IF EXISTS $import_db WITH (FORCE)" -c "CREATE DATABASE $import_db"
import_url=$(target/release/caiji-bench archive-url target/bench-pg "$import_db")
import_s=$(t "$out/import.txt" env DATABASE_URL="$import_url" target/release/caiji --log-format json import warc "$out"/caiji/*.warc.gz 2>/dev/null)
cat "$out/import.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$n" "$records" "$bytes" "$export_s" "$warcio_read" "$warcio_rw" "$import_s" <<'PY'
import sys
n, records, mb = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1e6
e, r, rw, i = map(float, sys.argv[4:8])
print(f"{n} captures, {records} records, {mb:.1f} MB of WARC.gz")
rows = [("caiji export warc (archive -> WARC.gz)", e), ("warcio read every record", r),
        ("warcio read + write again (gzip)", rw), ("caiji import warc (WARC.gz -> archive, extracted)", i)]
for name, s in rows:
    print(f"{name:<52} {s:7.2f} s  {n / s:8.0f} captures/s  {mb / s:6.1f} MB/s")
print(f"ratios: caiji export / warcio read+write = {rw / e:.2f}x faster; caiji import / warcio read = {r / i:.2f}x")
PY
