//! Helpers shared by the integration tests: run the binary, read tables back, find the
//! shared captures.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampNanosecondType, UInt8Type, UInt16Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The `captures` table's fate columns: every packet is counted in exactly one, so they sum
/// to `packets`.
pub const FATES: [&str; 7] = [
    "packets_tcp",
    "packets_udp",
    "packets_other_ip",
    "packets_non_ip",
    "packets_truncated",
    "packets_malformed",
    "packets_unsupported_linktype",
];

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Say loudly that `test` did not run, and why. Written to the stderr descriptor directly:
/// the test harness swallows `eprintln!` of passing tests, and a skip must show in CI logs.
pub fn skipped(test: &str, why: &str) {
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("\n*** SKIPPED {test}: {why}. It did NOT run. ***\n").as_bytes(),
    );
}

/// `../shared/captures`, or `None` after printing a loud skip notice.
pub fn shared_captures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("WIREHOUSE_SHARED_CAPTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/captures"));
    if dir.join("MANIFEST.tsv").is_file() {
        Some(dir)
    } else {
        skipped(
            test,
            &format!(
                "the shared reference captures are not at {} (set \
                 WIREHOUSE_SHARED_CAPTURES); it checks wirehouse against capinfos/tshark/Zeek figures",
                dir.display()
            ),
        );
        None
    }
}

/// A test's scratch directory, removed when the test ends (passing or failing: the guard
/// drops while a failing test unwinds). CI disks can be small, and the generated captures
/// run to hundreds of MB, so nothing a test writes outlives it unless
/// `WIREHOUSE_KEEP_TEST_DIRS` is set, for looking at what a failing test saw.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("WIREHOUSE_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh temporary directory for one test (not created: `analyze -o` makes its own).
pub fn tmp(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("wirehouse-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    Scratch(d)
}

/// Run the wirehouse binary.
pub fn wirehouse(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_wirehouse"))
        .args(args)
        .output()
        .expect("run wirehouse");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "wirehouse panicked:\n{stderr}"
    );
    out
}

/// Analyze `inputs` into a fresh directory and return it. Exit code must be 0 or 2.
pub fn analyze(name: &str, inputs: &[&Path], extra: &[&str]) -> Scratch {
    let out = tmp(name);
    let mut args: Vec<String> = vec!["analyze".into(), "-q".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["-o".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = wirehouse(&argv);
    let code = o.status.code();
    assert!(
        matches!(code, Some(0) | Some(2)),
        "exit {code:?}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Every row of a table as a map from column name to a printable value.
pub type Row = HashMap<String, Value>;

/// A cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Str(String),
    Bool(bool),
}

impl Value {
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

pub fn batches(dir: &Path) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    for p in files {
        let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&p).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in r {
            out.push(b.unwrap());
        }
    }
    out
}

/// Read every row of `OUT/table`.
pub fn rows(out: &Path, table: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in batches(&out.join(table)) {
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut row = Row::new();
            for (c, f) in schema.fields().iter().enumerate() {
                let col = b.column(c);
                let v = if col.is_null(i) {
                    Value::Null
                } else {
                    use arrow_schema::DataType as D;
                    match f.data_type() {
                        D::Utf8 => Value::Str(col.as_string::<i32>().value(i).to_string()),
                        D::Int64 => Value::Int(col.as_primitive::<Int64Type>().value(i)),
                        D::UInt32 => Value::Int(col.as_primitive::<UInt32Type>().value(i).into()),
                        D::UInt16 => Value::Int(col.as_primitive::<UInt16Type>().value(i).into()),
                        D::UInt8 => Value::Int(col.as_primitive::<UInt8Type>().value(i).into()),
                        D::Boolean => Value::Bool(col.as_boolean().value(i)),
                        D::Timestamp(..) => {
                            Value::Int(col.as_primitive::<TimestampNanosecondType>().value(i))
                        }
                        other => panic!("unexpected column type {other:?}"),
                    }
                };
                row.insert(f.name().clone(), v);
            }
            rows.push(row);
        }
    }
    rows
}

/// Parse a TSV file with a header line into maps.
pub fn tsv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}
