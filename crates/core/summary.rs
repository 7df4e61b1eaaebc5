//! `wirehouse summary`: what a dataset says, for a person.
//!
//! Reads only the columns it needs, batch by batch, and prints: captures read, connections
//! and how they were set up and closed, requests per connection, connection reuse per
//! client/server pair (flagging clients that open a new connection for every request),
//! handshake and time-to-first-byte percentiles, top hosts, URIs and statuses, anomalies.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampNanosecondType, UInt16Type};
use arrow_array::{Array, RecordBatch};
use clap::Args;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Arguments of `wirehouse summary`.
#[derive(Args, Debug)]
pub(crate) struct SummaryArgs {
    /// A dataset written by `wirehouse analyze`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// How many entries the top-N lists show.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

/// Read `columns` of every part file of `dir/table`.
fn read(dir: &Path, table: &str, columns: &[&str]) -> Result<Vec<RecordBatch>, String> {
    let tdir = dir.join(table);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tdir)
        .map_err(|e| format!("{}: {e} (is this a wirehouse dataset?)", tdir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for p in files {
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", p.display());
        let file = File::open(&p).map_err(|e| err(&e))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(&e))?;
        let schema = b.parquet_schema();
        let mut idx = Vec::new();
        for c in columns {
            let i = schema
                .columns()
                .iter()
                .position(|d| d.name() == *c)
                .ok_or_else(|| {
                    err(&format!(
                        "column {c} missing (written by an older version?)"
                    ))
                })?;
            idx.push(i);
        }
        let mask = ProjectionMask::leaves(schema, idx);
        for batch in b.with_projection(mask).build().map_err(|e| err(&e))? {
            out.push(batch.map_err(|e| err(&e))?);
        }
    }
    Ok(out)
}

/// Column accessors by name; nulls come back as `None`.
fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a dyn Array {
    b.column_by_name(name)
        .map_or(&*EMPTY as &dyn Array, |c| c.as_ref())
}

static EMPTY: std::sync::LazyLock<arrow_array::NullArray> =
    std::sync::LazyLock::new(|| arrow_array::NullArray::new(0));

fn s(a: &dyn Array, i: usize) -> Option<&str> {
    (i < a.len() && a.is_valid(i)).then(|| a.as_string::<i32>().value(i))
}
fn i64v(a: &dyn Array, i: usize) -> Option<i64> {
    (i < a.len() && a.is_valid(i)).then(|| match a.data_type() {
        arrow_schema::DataType::UInt16 => i64::from(a.as_primitive::<UInt16Type>().value(i)),
        arrow_schema::DataType::Timestamp(..) => {
            a.as_primitive::<TimestampNanosecondType>().value(i)
        }
        _ => a.as_primitive::<Int64Type>().value(i),
    })
}
fn b(a: &dyn Array, i: usize) -> bool {
    i < a.len() && a.is_valid(i) && a.as_boolean().value(i)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(us: i64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn latency_line(label: &str, mut v: Vec<i64>) {
    if v.is_empty() {
        println!("{label}: none measured");
        return;
    }
    v.sort_unstable();
    println!(
        "{label} (ms, n={}): p50 {}  p90 {}  p99 {}  max {}",
        v.len(),
        ms(percentile(&v, 50.0)),
        ms(percentile(&v, 90.0)),
        ms(percentile(&v, 99.0)),
        ms(*v.last().unwrap_or(&0))
    );
}

fn top(counts: HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

pub(crate) fn run(a: SummaryArgs) -> ExitCode {
    match summarize(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn summarize(a: &SummaryArgs) -> Result<(), String> {
    // Captures.
    let caps = read(
        &a.dir,
        "captures",
        &["file", "packets", "bytes", "first_ts", "last_ts", "error"],
    )?;
    let (mut files, mut packets, mut bytes, mut errors) = (0u64, 0i64, 0i64, Vec::new());
    let (mut first, mut last): (Option<i64>, Option<i64>) = (None, None);
    for bt in &caps {
        for i in 0..bt.num_rows() {
            files += 1;
            packets += i64v(col(bt, "packets"), i).unwrap_or(0);
            bytes += i64v(col(bt, "bytes"), i).unwrap_or(0);
            if let Some(t) = i64v(col(bt, "first_ts"), i) {
                first = Some(first.map_or(t, |f| f.min(t)));
            }
            if let Some(t) = i64v(col(bt, "last_ts"), i) {
                last = Some(last.map_or(t, |l| l.max(t)));
            }
            if let Some(e) = s(col(bt, "error"), i) {
                errors.push(format!("{}: {e}", s(col(bt, "file"), i).unwrap_or("?")));
            }
        }
    }
    let span = match (first, last) {
        (Some(f), Some(l)) => format!(", {:.3} s of traffic", (l - f) as f64 / 1e9),
        _ => String::new(),
    };
    println!(
        "Captures: {files} file(s), {packets} packets, {:.1} MB{span}, {} with errors",
        bytes as f64 / 1e6,
        errors.len()
    );
    for e in errors.iter().take(a.top) {
        println!("  ! {e}");
    }

    // Connections.
    let conns = read(
        &a.dir,
        "connections",
        &[
            "client_ip",
            "server_ip",
            "server_port",
            "handshake",
            "handshake_rtt_us",
            "close_kind",
            "requests",
            "app_protocol",
            "requests_after_server_close",
            "missing_bytes",
            "client_pkts",
            "server_pkts",
            "retransmitted_pkts",
            "out_of_order_pkts",
            "zero_window_events",
        ],
    )?;
    let mut n_conns = 0u64;
    let mut handshakes: HashMap<String, u64> = HashMap::new();
    let mut closes: HashMap<String, u64> = HashMap::new();
    let mut apps: HashMap<String, u64> = HashMap::new();
    let mut rtts = Vec::new();
    let mut per_conn_hist = [0u64; 4];
    let mut pairs: HashMap<(String, String), (u64, u64)> = HashMap::new();
    let (mut after_close, mut missing) = (0i64, 0i64);
    // TCP packets, and those retransmitted or out of order, with zero-window events.
    let (mut tcp_pkts, mut retransmitted, mut out_of_order, mut zero_windows) = (0i64, 0, 0, 0);
    for bt in &conns {
        for i in 0..bt.num_rows() {
            n_conns += 1;
            *handshakes
                .entry(s(col(bt, "handshake"), i).unwrap_or("?").into())
                .or_default() += 1;
            *closes
                .entry(s(col(bt, "close_kind"), i).unwrap_or("?").into())
                .or_default() += 1;
            *apps
                .entry(s(col(bt, "app_protocol"), i).unwrap_or("unknown").into())
                .or_default() += 1;
            if let Some(r) = i64v(col(bt, "handshake_rtt_us"), i) {
                rtts.push(r);
            }
            let reqs = i64v(col(bt, "requests"), i).unwrap_or(0);
            if reqs > 0 {
                per_conn_hist[match reqs {
                    1 => 0,
                    2..=5 => 1,
                    6..=20 => 2,
                    _ => 3,
                }] += 1;
                let server = format!(
                    "{}:{}",
                    s(col(bt, "server_ip"), i).unwrap_or("?"),
                    i64v(col(bt, "server_port"), i).unwrap_or(0)
                );
                let e = pairs
                    .entry((s(col(bt, "client_ip"), i).unwrap_or("?").into(), server))
                    .or_default();
                e.0 += 1;
                e.1 += reqs as u64;
            }
            after_close += i64v(col(bt, "requests_after_server_close"), i).unwrap_or(0);
            missing += i64v(col(bt, "missing_bytes"), i).unwrap_or(0);
            tcp_pkts += i64v(col(bt, "client_pkts"), i).unwrap_or(0)
                + i64v(col(bt, "server_pkts"), i).unwrap_or(0);
            retransmitted += i64v(col(bt, "retransmitted_pkts"), i).unwrap_or(0);
            out_of_order += i64v(col(bt, "out_of_order_pkts"), i).unwrap_or(0);
            zero_windows += i64v(col(bt, "zero_window_events"), i).unwrap_or(0);
        }
    }
    let fmt_counts = |m: HashMap<String, u64>| {
        top(m, 20)
            .into_iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("Connections: {n_conns}");
    println!("  handshake: {}", fmt_counts(handshakes));
    println!("  closed by: {}", fmt_counts(closes));
    println!("  protocols: {}", fmt_counts(apps));

    // HTTP.
    let http = read(
        &a.dir,
        "http",
        &["host", "uri", "status", "ttfb_us", "pipelined", "method"],
    )?;
    let mut n_req = 0u64;
    let mut hosts: HashMap<String, u64> = HashMap::new();
    let mut uris: HashMap<String, u64> = HashMap::new();
    let mut statuses: HashMap<String, u64> = HashMap::new();
    let mut ttfb = Vec::new();
    // Answers that began before their request ended (negative ttfb_us): not a latency, and
    // they would pull the percentiles below zero.
    let mut early = 0u64;
    let mut pipelined = 0u64;
    for bt in &http {
        for i in 0..bt.num_rows() {
            n_req += 1;
            *hosts
                .entry(s(col(bt, "host"), i).unwrap_or("(none)").into())
                .or_default() += 1;
            let uri = format!(
                "{} {}",
                s(col(bt, "method"), i).unwrap_or("?"),
                s(col(bt, "uri"), i).unwrap_or("?")
            );
            *uris.entry(uri).or_default() += 1;
            let st =
                i64v(col(bt, "status"), i).map_or("no response".to_string(), |v| v.to_string());
            *statuses.entry(st).or_default() += 1;
            match i64v(col(bt, "ttfb_us"), i) {
                Some(t) if t < 0 => early += 1,
                Some(t) => ttfb.push(t),
                None => {}
            }
            pipelined += u64::from(b(col(bt, "pipelined"), i));
        }
    }
    let with_reqs: u64 = per_conn_hist.iter().sum();
    println!(
        "HTTP requests: {n_req} on {with_reqs} connection(s){}; {pipelined} pipelined, {after_close} sent after the server closed",
        if with_reqs > 0 {
            format!(" ({:.2} per connection)", n_req as f64 / with_reqs as f64)
        } else {
            String::new()
        }
    );
    println!(
        "  requests per connection: 1: {}  2-5: {}  6-20: {}  >20: {}",
        per_conn_hist[0], per_conn_hist[1], per_conn_hist[2], per_conn_hist[3]
    );
    let mut pair_list: Vec<_> = pairs.into_iter().collect();
    pair_list.sort_by(|a, b| b.1.1.cmp(&a.1.1).then_with(|| a.0.cmp(&b.0)));
    if !pair_list.is_empty() {
        println!("  connection reuse by client -> server:");
        // Column widths from what is shown, so IPv4 pairs do not sit behind IPv6-sized gaps.
        let shown = &pair_list[..pair_list.len().min(a.top)];
        let wc = shown.iter().map(|((c, _), _)| c.len()).max().unwrap_or(0);
        let ws = shown.iter().map(|((_, s), _)| s.len()).max().unwrap_or(0);
        for ((c, srv), (nc, nr)) in shown {
            let flag = if *nr >= 3 && nc == nr {
                "  <- a new connection for every request"
            } else {
                ""
            };
            println!(
                "    {c:>wc$} -> {srv:<ws$} {nr:>6} requests on {nc:>5} connections ({:.1}/conn){flag}",
                *nr as f64 / *nc as f64
            );
        }
    }
    latency_line("Handshake RTT", rtts);
    latency_line("Time to first byte", ttfb);
    if early > 0 {
        println!(
            "  {early} response(s) began before their request ended (negative ttfb_us: an early \
             answer, such as an error before an upload was over), left out of these figures"
        );
    }
    println!("  status: {}", fmt_counts(statuses));
    println!("  top hosts:");
    for (h, n) in top(hosts, a.top) {
        println!("    {n:>8}  {h}");
    }
    println!("  top requests:");
    for (u, n) in top(uris, a.top) {
        let u: String = u.chars().take(100).collect();
        println!("    {n:>8}  {u}");
    }

    // Anomalies.
    let events = read(&a.dir, "events", &["kind"])?;
    let mut kinds: HashMap<String, u64> = HashMap::new();
    for bt in &events {
        for i in 0..bt.num_rows() {
            *kinds
                .entry(s(col(bt, "kind"), i).unwrap_or("?").into())
                .or_default() += 1;
        }
    }
    println!("Anomalies: {missing} bytes missing from the capture");
    let share = |n: i64| {
        if tcp_pkts > 0 {
            format!(" ({:.2} %)", n as f64 * 100.0 / tcp_pkts as f64)
        } else {
            String::new()
        }
    };
    println!(
        "  TCP packets {tcp_pkts}: {retransmitted} retransmitted{}, {out_of_order} out of order{}, \
         {zero_windows} zero-window events",
        share(retransmitted),
        share(out_of_order)
    );
    for (k, n) in top(kinds, a.top) {
        println!("    {n:>8}  {k}");
    }
    Ok(())
}
