#!/usr/bin/env bash
# caiji against Scrapy on a generated loopback web (crates/caiji-bench/src/web.rs): H hosts,
# each 5 list pages + 40 articles of ~20 KB Chinese HTML (half GBK), every host limited to one
# request per INTERVAL ms. For each (H, INTERVAL): caiji (1 worker), caiji (2 workers: one
# `crawl`, one `crawl --join`), Scrapy (DOWNLOAD_DELAY, CONCURRENT_REQUESTS_PER_DOMAIN = 1,
# robots obeyed, raw bodies to a JSONL feed). Reports pages/s, efficiency (pages/s over
# H × 1000/INTERVAL), peak RSS, CPU per page for caiji and for PostgreSQL separately, gaps under
# the interval from the server's log, database bytes per page. Each caiji run gets a fresh
# private cluster (its CPU read from /proc). Prints the machine's load.
#
# Usage: scripts/bench-crawl.sh [H:INTERVAL_MS ...]   (default: 10:200 200:200 1000:2000)
# `scripts/bench-crawl.sh sizes`: only the database-size measures (fixtures, CWCED pages).
# SKIP_SCRAPY=1 skips Scrapy; REPEAT=N runs every case N times and prints medians (ratios to
# Scrapy and to one worker taken within a round); results go to target/bench-crawl/results.jsonl too.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(10:200 200:200 1000:2000)
cargo build -q --release -p caiji -p caiji-bench
caiji=$PWD/target/release/caiji
bench=$PWD/target/release/caiji-bench
work=$PWD/target/bench-crawl
mkdir -p "$work"
results=$work/results.jsonl
: > "$results"
venv=$PWD/target/crawl-venv
if [ -z "${SKIP_SCRAPY:-}" ] && ! "$venv/bin/python" -c 'import scrapy' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q scrapy
fi
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true
port=18080
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

# CPU seconds of a PostgreSQL cluster: the postmaster, its live children, and its reaped ones.
pg_cpu() {
  local pm=$1 tck
  tck=$(getconf CLK_TCK)
  { cat "/proc/$pm/stat"; for c in $(pgrep -P "$pm"); do cat "/proc/$c/stat" 2>/dev/null || true; done; } |
    awk -v pm="$pm" -v t="$tck" '{ sub(/^[0-9]+ \(.*\) /, ""); s += $12 + $13; if (NR == 1) s += $14 + $15 } END { printf "%.3f", s / t }'
}

start_web() { # hosts log
  "$bench" web "$1" "$port" "$2" 2>/dev/null &
  web_pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://$("$bench" web-hosts "$1" "$port" | tail -1)/__ready" && return 0
    sleep 0.1
  done
  echo "web server did not start" >&2; exit 1
}
stop_web() { kill -TERM "$web_pid"; wait "$web_pid" 2>/dev/null || true; }

caiji_config() { # dir hosts interval
  local dir=$1 h=$2 interval=$3
  mkdir -p "$dir/sites"
  cat > "$dir/caiji.toml" <<TOML
[database]
data_dir = "pg"
[fetch]
min_interval_ms = $interval
allow_private_addresses = true
max_retries = 1
[crawl]
max_concurrent_sites = 1
max_hosts_in_flight = $h
TOML
  "$bench" web-hosts "$h" "$port" > "$dir/hosts.txt"
  {
    echo 'name = "bench"'
    echo "hosts = [$(sed 's/.*/"&"/' "$dir/hosts.txt" | paste -sd,)]"
    echo "start_urls = [$(sed 's|.*|"http://&/list/1.html"|' "$dir/hosts.txt" | paste -sd,)]"
    echo "follow = ['/list/\\d+\\.html\$']"
    echo "articles = ['/a/\\d+\\.html\$']"
    echo 'extractor = "generic"'
  } > "$dir/sites/bench.toml"
}

run_caiji() { # h interval workers
  local h=$1 interval=$2 workers=$3
  local dir=$work/caiji-$h-$interval-$workers
  rm -rf "$dir"; caiji_config "$dir" "$h" "$interval"
  local cfg=(--config "$dir/caiji.toml" --log-format json)
  "$caiji" "${cfg[@]}" db start > /dev/null 2>&1
  # Migrations applied before the clock starts; the data directory may not be under $dir
  # (as root, a folder the postgres user cannot enter is replaced: docs in README).
  local datadir pm
  datadir=$("$caiji" "${cfg[@]}" sql --format json "SELECT current_setting('data_directory') AS d" | sed 's/.*"d":"\([^"]*\)".*/\1/')
  pm=$(head -1 "$datadir/postmaster.pid")
  start_web "$h" "$dir/server.log"
  local pg0; pg0=$(pg_cpu "$pm")
  local t0; t0=$(date +%s.%N)
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time1" "$caiji" "${cfg[@]}" crawl > "$dir/crawl1.jsonl" 2>&1 &
  local p1=$! exits
  if [ "$workers" = 2 ]; then
    sleep 1
    /usr/bin/time -f '%e %U %S %M' -o "$dir/time2" "$caiji" "${cfg[@]}" crawl --join > "$dir/crawl2.jsonl" 2>&1 &
    local p2=$!
    wait $p2 && exits=0 || exits=$?
  fi
  wait $p1 && exits="0${exits:+,$exits}" || exits="$?${exits:+,$exits}"
  local t1; t1=$(date +%s.%N)
  sleep 1
  local pg1; pg1=$(pg_cpu "$pm")
  stop_web
  local pages dups bytes
  pages=$("$caiji" "${cfg[@]}" sql --format json "SELECT count(*) AS n FROM captures WHERE url NOT LIKE '%/robots.txt'" | sed 's/.*"n":\([0-9]*\).*/\1/')
  dups=$("$caiji" "${cfg[@]}" sql --format json "SELECT count(*) AS n FROM (SELECT canonical_url FROM captures WHERE url NOT LIKE '%/robots.txt' GROUP BY 1 HAVING count(*) > 1) d" | sed 's/.*"n":\([0-9]*\).*/\1/')
  # caiji's tables with their indexes and TOAST (the catalogs of an empty database left out).
  bytes=$("$caiji" "${cfg[@]}" sql --format json "SELECT sum(pg_total_relation_size(c.oid))::bigint AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')" | sed 's/.*"n":\([0-9]*\).*/\1/')
  # The same captures as WARC.gz, for the size ratio.
  local warc=0
  if [ "$workers" = 1 ]; then
    rm -rf "$dir/warc"
    "$caiji" "${cfg[@]}" export warc --out "$dir/warc" > /dev/null 2>&1 || true
    warc=$(cat "$dir"/warc/*.warc.gz 2>/dev/null | wc -c)
  fi
  local gaps; gaps=$("$bench" gaps "$dir/server.log" "$interval")
  local caiji_cpu rss
  # The last line of each: GNU time puts "Command exited with non-zero status N" first.
  caiji_cpu=$(for t in "$dir"/time*; do tail -1 "$t"; done | awk '{ s += $2 + $3 } END { printf "%.3f", s }')
  rss=$(for t in "$dir"/time*; do tail -1 "$t"; done | awk '{ if ($4 > m) m = $4 } END { print m }')
  "$caiji" "${cfg[@]}" db stop > /dev/null 2>&1 || true
  python3 - "$h" "$interval" "$workers" "$t0" "$t1" "$pages" "$dups" "$bytes" "$caiji_cpu" "$pg0" "$pg1" "$rss" "$gaps" "$warc" "$exits" <<'PY' | tee -a "$results"
import json, sys
h, interval, workers, t0, t1, pages, dups, size, ccpu, pg0, pg1, rss, gaps, warc, exits = sys.argv[1:]
h, interval, pages = int(h), int(interval), int(pages)
wall = float(t1) - float(t0)
ideal = h * 1000 / interval
pgcpu = float(pg1) - float(pg0)
print(json.dumps({"tool": f"caiji x{workers}", "hosts": h, "interval_ms": interval, "pages": pages,
                  "seconds": round(wall, 1), "pages_per_s": round(pages / wall, 1),
                  "efficiency": round(pages / wall / ideal, 3), "peak_rss_mb": round(int(rss) / 1024),
                  "cpu_ms_per_page_caiji": round(float(ccpu) * 1000 / max(pages, 1), 2),
                  "cpu_ms_per_page_postgres": round(pgcpu * 1000 / max(pages, 1), 2),
                  "db_bytes_per_page": int(size) // max(pages, 1), "captured_twice": int(dups),
                  "db_over_warc_gz": round(int(size) / int(warc), 2) if int(warc) else None,
                  "gaps": json.loads(gaps), "exit_codes": [int(c) for c in exits.split(",")]}))
PY
}

run_scrapy() { # h interval
  local h=$1 interval=$2
  local dir=$work/scrapy-$h-$interval
  rm -rf "$dir"; mkdir -p "$dir"
  "$bench" web-hosts "$h" "$port" > "$dir/hosts.txt"
  start_web "$h" "$dir/server.log"
  local t0; t0=$(date +%s.%N)
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$venv/bin/scrapy" runspider bench/crawl_spider.py \
    -a hosts_file="$dir/hosts.txt" -o "$dir/out.jsonl" -s LOG_LEVEL=WARNING -s ROBOTSTXT_OBEY=True \
    -s DOWNLOAD_DELAY="$(python3 -c "print($interval/1000)")" -s CONCURRENT_REQUESTS_PER_DOMAIN=1 \
    -s CONCURRENT_REQUESTS="$h" -s TELNETCONSOLE_ENABLED=False > "$dir/scrapy.log" 2>&1 || true
  local t1; t1=$(date +%s.%N)
  stop_web
  local pages; pages=$(wc -l < "$dir/out.jsonl")
  local gaps; gaps=$("$bench" gaps "$dir/server.log" "$interval")
  python3 - "$h" "$interval" "$t0" "$t1" "$pages" "$(cat "$dir/time")" "$gaps" <<'PY' | tee -a "$results"
import json, sys
h, interval, t0, t1, pages, time, gaps = sys.argv[1:]
h, interval, pages = int(h), int(interval), int(pages)
wall = float(t1) - float(t0)
_, user, sys_, rss = time.split()
print(json.dumps({"tool": "scrapy", "hosts": h, "interval_ms": interval, "pages": pages,
                  "seconds": round(wall, 1), "pages_per_s": round(pages / wall, 1),
                  "efficiency": round(pages / wall / (h * 1000 / interval), 3), "peak_rss_mb": round(int(rss) / 1024),
                  "cpu_ms_per_page": round((float(user) + float(sys_)) * 1000 / max(pages, 1), 2),
                  "gaps": json.loads(gaps)}))
PY
}

# Database size against WARC.gz on the recorded fixture sites (real pages, not generated ones).
fixture_size() {
  local dir=$work/fixtures
  rm -rf "$dir"; mkdir -p "$dir"
  cp -r config/sites "$dir/sites"
  printf '[database]\ndata_dir = "pg"\n[fetch]\ncrawl_delay_cap_secs = 0.05\nmin_interval_ms = 20\n' > "$dir/caiji.toml"
  local cfg=(--config "$dir/caiji.toml" --log-format json)
  local q="SELECT sum(pg_total_relation_size(c.oid))::bigint AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')"
  # The empty archive (schema only): what any archive weighs before its first capture.
  "$caiji" "${cfg[@]}" db migrate > /dev/null 2>&1 || true
  local empty; empty=$("$caiji" "${cfg[@]}" sql --format json "$q" | sed 's/.*"n":\([0-9]*\).*/\1/')
  "$caiji" "${cfg[@]}" crawl --replay fixtures/sites > "$dir/crawl.jsonl" 2>&1 || true
  "$caiji" "${cfg[@]}" export warc --out "$dir/warc" > /dev/null 2>&1 || true
  local bytes warc pages
  bytes=$("$caiji" "${cfg[@]}" sql --format json "$q" | sed 's/.*"n":\([0-9]*\).*/\1/')
  pages=$("$caiji" "${cfg[@]}" sql --format json "SELECT count(*) AS n FROM captures" | sed 's/.*"n":\([0-9]*\).*/\1/')
  warc=$(cat "$dir"/warc/*.warc.gz | wc -c)
  "$caiji" "${cfg[@]}" db stop > /dev/null 2>&1 || true
  echo "{\"tool\": \"caiji fixtures\", \"captures\": $pages, \"db_bytes\": $bytes, \"empty_archive_bytes\": $empty, \"warc_gz_bytes\": $warc, \"db_over_warc_gz\": $(python3 -c "print(round($bytes/$warc, 2))"), \"growth_over_warc_gz\": $(python3 -c "print(round(($bytes-$empty)/$warc, 2))")}" | tee -a "$results"
}
[ -n "${SKIP_FIXTURES:-}" ] || fixture_size

# What real pages add to an archive that already has pages: the CWCED pages (bench/cwced-zh,
# mixed GBK/GB2312/UTF-8, as found) served by a loopback replay site in two halves. The first
# half gives every table and index its first pages; the second half's growth is set against the
# WARC.gz of the second half's captures (its robots.txt and list page included).
real_pages_size() {
  local dir=$work/real
  rm -rf "$dir"; mkdir -p "$dir/sites"
  printf '[database]\ndata_dir = "pg"\n[fetch]\ncrawl_delay_cap_secs = 0.05\nmin_interval_ms = 5\n' > "$dir/caiji.toml"
  local half i=0
  for half in a b; do
    local site=$dir/replay/cwced-$half
    mkdir -p "$site/pages/p"
    printf 'name = "cwced-%s"\nhost = "%s.cwced.test"\nscheme = "http"\nhttp_content_type = "text/html"\n' "$half" "$half" > "$site/site.toml"
    printf 'name = "cwced-%s"\nhosts = ["%s.cwced.test"]\nstart_urls = ["http://%s.cwced.test/"]\narticles = [%s]\nextractor = "generic"\n' \
      "$half" "$half" "$half" "'/p/\\d+\\.html\$'" > "$dir/sites/cwced-$half.toml"
    printf 'User-agent: *\nAllow: /\n' > "$site/pages/robots.txt"
  done
  for f in bench/cwced-zh/html/*.html; do
    half=$([ $((i % 2)) = 0 ] && echo a || echo b)
    cp "$f" "$dir/replay/cwced-$half/pages/p/$i.html"
    echo "<a href=\"/p/$i.html\">$i</a>" >> "$dir/replay/cwced-$half/pages/index.html"
    i=$((i + 1))
  done
  local cfg=(--config "$dir/caiji.toml" --log-format json)
  local q="SELECT sum(pg_total_relation_size(c.oid))::bigint AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')"
  "$caiji" "${cfg[@]}" crawl --replay "$dir/replay" --site cwced-a > "$dir/crawl-a.jsonl" 2>&1 || true
  local s1 s2 pages warc
  s1=$("$caiji" "${cfg[@]}" sql --format json "$q" | sed 's/.*"n":\([0-9]*\).*/\1/')
  "$caiji" "${cfg[@]}" crawl --replay "$dir/replay" --site cwced-b > "$dir/crawl-b.jsonl" 2>&1 || true
  s2=$("$caiji" "${cfg[@]}" sql --format json "$q" | sed 's/.*"n":\([0-9]*\).*/\1/')
  pages=$("$caiji" "${cfg[@]}" sql --format json "SELECT count(*) AS n FROM captures WHERE site = 'cwced-b'" | sed 's/.*"n":\([0-9]*\).*/\1/')
  "$caiji" "${cfg[@]}" export warc --site cwced-b --out "$dir/warc" > /dev/null 2>&1 || true
  warc=$(cat "$dir"/warc/*.warc.gz | wc -c)
  "$caiji" "${cfg[@]}" db stop > /dev/null 2>&1 || true
  echo "{\"tool\": \"caiji real pages (CWCED, second half)\", \"captures\": $pages, \"db_bytes_before\": $s1, \"db_bytes_after\": $s2, \"warc_gz_bytes\": $warc, \"growth_over_warc_gz\": $(python3 -c "print(round(($s2-$s1)/$warc, 2))")}" | tee -a "$results"
}
[ -n "${SKIP_FIXTURES:-}" ] || real_pages_size

# Pages like the fixtures at scale: N captures generated from the fixture sites' templates
# (varied text, original charsets; `caiji-bench gen-archive`, as bench-rerun uses), extracted
# by `caiji extract --rerun` (texts and search index written as a crawl writes them), against
# the WARC.gz `caiji export warc` makes of the same captures.
fixture_like_size() {
  local n=${SIZE_N:-5000} dir=$work/fixture-like
  rm -rf "$dir"; mkdir -p "$dir"
  local url; url=$("$bench" gen-archive "$dir/pg" fixture_like "$n" fixtures/sites)
  DATABASE_URL="$url" "$caiji" extract --rerun > /dev/null 2>&1 || true
  DATABASE_URL="$url" "$caiji" export warc --out "$dir/warc" > /dev/null 2>&1 || true
  local bytes texts warc
  bytes=$(DATABASE_URL="$url" "$caiji" sql --format json "SELECT sum(pg_total_relation_size(c.oid))::bigint AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')" | sed 's/.*"n":\([0-9]*\).*/\1/')
  texts=$(DATABASE_URL="$url" "$caiji" sql --format json "SELECT count(*) AS n FROM texts" | sed 's/.*"n":\([0-9]*\).*/\1/')
  warc=$(cat "$dir"/warc/*.warc.gz | wc -c)
  "$caiji" --data-dir "$dir/pg" db stop > /dev/null 2>&1 || true
  echo "{\"tool\": \"caiji fixture-like pages\", \"captures\": $n, \"texts\": $texts, \"db_bytes\": $bytes, \"warc_gz_bytes\": $warc, \"db_over_warc_gz\": $(python3 -c "print(round($bytes/$warc, 2))")}" | tee -a "$results"
}
[ -n "${SKIP_FIXTURES:-}" ] || fixture_like_size
[ "${cases[0]}" != sizes ] || exit 0

for rep in $(seq "${REPEAT:-1}"); do
  for c in "${cases[@]}"; do
    h=${c%%:*}; interval=${c##*:}
    run_caiji "$h" "$interval" 1
    run_caiji "$h" "$interval" 2
    [ -n "${SKIP_SCRAPY:-}" ] || run_scrapy "$h" "$interval"
  done
  echo "load after round $rep: $(cut -d' ' -f1-3 /proc/loadavg)"
done
# Medians over the rounds; a ratio to Scrapy is taken within each round, then its median.
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"hosts"' in l]
cases = sorted({(r["hosts"], r["interval_ms"]) for r in rows})
keys = ["pages_per_s", "efficiency", "peak_rss_mb", "cpu_ms_per_page_caiji", "cpu_ms_per_page_postgres", "cpu_ms_per_page"]
for h, iv in cases:
    case = [r for r in rows if (r["hosts"], r["interval_ms"]) == (h, iv)]
    scrapy = [r for r in case if r["tool"] == "scrapy"]
    for tool in sorted({r["tool"] for r in case}):
        runs = [r for r in case if r["tool"] == tool]
        med = {k: round(statistics.median([r[k] for r in runs]), 3) for k in keys if all(k in r for r in runs)}
        med["gaps_under"] = max(r["gaps"]["under_interval"] for r in runs)
        if tool != "scrapy" and len(scrapy) == len(runs):
            med["vs_scrapy"] = round(statistics.median(a["pages_per_s"] / b["pages_per_s"] for a, b in zip(runs, scrapy)), 2)
        if tool == "caiji x2":
            one = [r for r in case if r["tool"] == "caiji x1"]
            med["vs_one_worker"] = round(statistics.median(a["pages_per_s"] / b["pages_per_s"] for a, b in zip(runs, one)), 2)
        if any(r.get("db_over_warc_gz") for r in runs):
            med["db_over_warc_gz"] = statistics.median(r["db_over_warc_gz"] for r in runs if r.get("db_over_warc_gz"))
        med["captured_twice"] = max(r.get("captured_twice", 0) for r in runs)
        if tool != "scrapy":
            # Worker processes that exited non-zero, over all rounds (0 wanted: a crawl that
            # completed every page exits 0).
            med["workers_failed"] = sum(1 for r in runs for c in r.get("exit_codes", [0]) if c != 0)
        print(json.dumps({"median_of": len(runs), "tool": tool, "hosts": h, "interval_ms": iv, **med}))
PY
