//! caiji-extract's integration tests, as one binary with a module per subject.

mod common;

mod gold;
mod robustness;
mod snapshots;
