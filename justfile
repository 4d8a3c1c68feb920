# caiji tasks. `cargo install just` to use them.

# crawl the recorded sites into the default archive and print what landed
demo:
    cargo run --release -p caiji -- demo

# put `caiji` on PATH (~/.cargo/bin)
install:
    cargo install --path crates/caiji --locked

# every test (real PostgreSQL, loopback HTTP)
test:
    scripts/install-deps.sh && scripts/test.sh

# formatting and lints, as CI expects them
lint:
    cargo fmt --all --check
    cargo clippy --all-targets -- -D warnings

# psql on the archive
db:
    psql "$(cargo run -q -p caiji -- db url)"

db-stop:
    cargo run -q -p caiji -- db stop

# the five site extractors against the fixture gold (char F1, paragraph F1, titles, dates)
eval-sites:
    cargo build --release -p caiji
    scripts/score-sites.sh

# the generic extractor on the CWCED Chinese benchmark (mean char F1)
eval-generic:
    cargo build --release -p caiji
    scripts/eval-generic.sh

# the generic extractor's published date and author on CWCED against its metadata gold
eval-generic-meta:
    cargo build --release -p caiji
    scripts/eval-generic-meta.sh

# the same score for the Rust crates caiji could have used instead (dom_smoothie, rs-trafilatura)
eval-peers:
    scripts/eval-peers.sh

# generic extractor speed vs trafilatura, readability-lxml, resiliparse (creates a Python venv)
bench-extract:
    scripts/bench-extract.sh

# 10,000-capture WARC export and import timed against warcio reading and writing the same records
bench-warc:
    scripts/bench-warc.sh

# warcio checks and indexes caiji's WARC export, pyarrow reads its Parquet (creates a venv)
check-interop:
    scripts/check-interop.sh

# a second crawl of a 1,000-article loopback site with 5% changed, with and without validators,
# against a full refetch: requests, bytes, rows written (caiji-bench revisit N PCT for others)
bench-revisit n="1000" pct="5":
    scripts/bench-revisit.sh {{n}} {{pct}}

# re-extraction of a generated 100,000-capture archive vs extraction alone (N=... to change)
bench-rerun:
    scripts/bench-rerun.sh

# caiji (1 and 2 workers) against Scrapy on a generated loopback web of H hosts, H:INTERVAL_MS
# pairs (default 10:200 200:200 1000:2000): pages/s, efficiency, RSS, CPU per page (caiji,
# PostgreSQL), politeness gaps from the server's log, database bytes per page
bench-crawl *cases:
    scripts/bench-crawl.sh {{cases}}
