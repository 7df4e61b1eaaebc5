//! Output: typed rows -> Arrow record batches -> a Parquet dataset.
//!
//! A dataset is a directory with one sub-directory per table (`captures/`, `connections/`,
//! `http/`, `events/`), each holding `part-NNNNN.parquet` files, so that DuckDB's
//! `read_parquet('OUT/http/*.parquet')`, `pandas.read_parquet('OUT/http')` and Polars'
//! `scan_parquet` read a table directly.
//!
//! Each table is declared once ([`tables`]): the row struct, its Arrow schema and its
//! builder come from the same declaration, so they cannot drift apart. Rows are appended by
//! many workers into per-worker builders; full batches go to a small pool of Parquet writers
//! per table ([`Dataset`]), so neither encoding nor compression is serialised behind one lock.
//!
//! Timestamps are `Timestamp(Nanosecond, "UTC")` (DuckDB: TIMESTAMPTZ; pandas:
//! `datetime64[ns, UTC]`); durations are integer microseconds with `_us` in the name.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod dataset;
#[macro_use]
mod table;
pub mod tables;

pub use dataset::{Dataset, DatasetSummary, OutputError, Table, TableBuilders};
