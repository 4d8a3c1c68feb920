//! caiji-crawl's integration tests, as one binary with a module per subject (as ripgrep and
//! cargo do): one link of the whole dependency tree instead of one per file.

mod support;

mod faults;
mod replay_crawl;
mod rerun;
mod resume;
mod revisits;
mod schema_doc;
mod sixth_site;
mod unattended;
mod warc;
mod web;
mod workers;
