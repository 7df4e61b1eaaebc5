//! The engine: runs captures through framing, decode, sharding and per-connection analysis
//! on all cores, and writes the rows.
//!
//! ## Shape
//! Inputs form *streams*: each file is its own stream, or with `merge` a rotated set of files
//! is one stream whose connections continue across file boundaries. A stream is read in
//! windows; each window is framed and decoded in parallel byte ranges ([`framing`]), its TCP
//! segments routed to a fixed number of shards by a direction-independent flow hash, and the
//! shards then run in parallel, each owning its connections. The next window is framed while
//! the shards process the current one.
//!
//! ## Determinism
//! Every decision about a connection's life (idle expiry, linger after close, eviction under
//! the connection cap, periodic sweeps) is a function of the shard's own packet sequence and
//! a shard-local clock. The shard count is fixed by configuration, not by the thread count,
//! and a shard sees its packets in capture order whatever the window size. So the set of rows
//! written is the same for any number of threads and any window size.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod app;
pub mod filter;
mod flows;
mod framing;
pub mod inputs;
mod next_files;
mod shard;
mod socks;
mod stats;
mod table;
mod walk;

pub use walk::{WalkStats, walk};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;
use wirehouse_capture::source::Source;
use wirehouse_capture::{FrameError, FrameErrorKind, Framer, Stop};
use wirehouse_decode::defrag::Defragmenter;
use wirehouse_decode::{Decoded, Fate, decode_transport, linktype_name};
use wirehouse_output::tables::{CaptureRow, EventRow};
use wirehouse_output::{Dataset, OutputError, Table, TableBuilders};

pub use flows::FlowsOut;
pub use inputs::{InputError, InputFile, expand};

use framing::{FrameCtx, FramedWindow, PayloadRef, QueuePool, SegRef, frame_window};
use next_files::NextFiles;
use shard::{Shard, ShardCtx};
use stats::Counts;

/// Engine settings.
pub struct Config {
    /// Worker threads (the caller builds the rayon pool; this sizes ranges and writers).
    pub threads: usize,
    /// Shards per stream. Fixed independently of `threads` so results do not depend on it.
    pub shards: usize,
    /// Bytes per window.
    pub window_bytes: usize,
    /// Connections idle this long (capture time) are closed with `idle_timeout`.
    pub idle_timeout_ns: i64,
    /// A closed connection (FIN both ways, or RST) absorbs stray packets this long.
    pub close_linger_ns: i64,
    /// Closed connections kept at once per stream for that; past it the ones closed longest
    /// ago are retired early. Keeps memory flat when connections close faster than
    /// `close_linger_ns` lets them go (a dense capture, or a busy link).
    pub max_lingering: usize,
    /// Live connections per stream; past it the least recently active are evicted.
    pub max_connections: usize,
    /// Out-of-order bytes all connections of a stream may buffer together (split evenly
    /// over the shards); past a shard's share the connections holding most give up their
    /// holes. The per-connection cap is `tcp.max_ooo_bytes`.
    pub max_ooo_total_bytes: usize,
    /// Treat all inputs as one time-ordered stream (rotated files).
    pub merge: bool,
    /// Packet filter (`--filter`).
    pub filter: Option<filter::FilterExpr>,
    /// TCP reassembly settings.
    pub tcp: wirehouse_tcp::Config,
    /// HTTP/1 analyzer settings.
    pub http: wirehouse_http1::Config,
    /// Write reassembled flows (`wirehouse flows`) instead of analysing protocols.
    pub flows: Option<FlowsOut>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            threads: 1,
            shards: 64,
            window_bytes: DEFAULT_WINDOW_MIB << 20,
            idle_timeout_ns: 300 * 1_000_000_000,
            close_linger_ns: 5 * 1_000_000_000,
            max_lingering: 16 * 1024,
            max_connections: 1_000_000,
            max_ooo_total_bytes: 256 << 20,
            merge: false,
            filter: None,
            tcp: wirehouse_tcp::Config::default(),
            http: wirehouse_http1::Config::default(),
            flows: None,
        }
    }
}

/// Window size in MiB when none is given (`--window-mib`, for `analyze` and `walk` alike).
///
/// 24, not 32: two mapped windows and the run's working set fit this machine's 32 MiB L3
/// better. 10 GB generated capture, 2 threads: peak RSS 223-255 MB with 32 MiB windows,
/// 199-223 MB with 24, wall 2.89-3.97 -> 2.83-3.32 s over 4 interleaved pairs; 1 GB at 1 and
/// 2 threads within 2 % (8 interleaved runs).
pub const DEFAULT_WINDOW_MIB: usize = 24;

/// Live progress, readable from another thread.
#[derive(Debug, Default)]
pub struct Progress {
    /// Capture bytes framed so far.
    pub bytes: AtomicU64,
    /// Packets framed so far.
    pub packets: AtomicU64,
    /// Files finished.
    pub files: AtomicU64,
}

/// Time spent per stage, summed over threads (nanoseconds).
#[derive(Debug, Default)]
pub struct StageTimes {
    /// Reading windows (mapping or decompressing).
    pub read_ns: AtomicU64,
    /// Framing, decoding and routing.
    pub frame_ns: AtomicU64,
    /// Reassembly and protocol analysis in shards.
    pub analyze_ns: AtomicU64,
    /// Building batches and writing Parquet (the part done while analysing is also in
    /// `analyze_ns`).
    pub write_ns: AtomicU64,
    /// Time threads spent inside the window loop's parallel tasks (framing ranges, shard
    /// jobs, and ending the connections still open at the end of a stream), summed over
    /// threads.
    pub tasks_ns: AtomicU64,
    /// Wall time of the phase that runs the window loops, from the first window read to the
    /// last window analysed (streams read side by side overlap inside it).
    pub loop_wall_ns: AtomicU64,
}

/// Add the time since `t` to a stage counter.
pub(crate) fn add_elapsed(ns: &AtomicU64, t: Instant) {
    ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

impl StageTimes {
    /// How busy the threads were in the window loop: task time over `threads` times its wall
    /// time. What is missing is time spent waiting at window hand-offs or on the serial
    /// steps between windows (stitching ranges, IP fragments), the part that would grow with
    /// the core count if the loop serialised. `None` before any window ran.
    pub fn loop_utilisation(&self, threads: usize) -> Option<f64> {
        let wall = self.loop_wall_ns.load(Ordering::Relaxed) as f64 * threads.max(1) as f64;
        (wall > 0.0).then(|| (self.tasks_ns.load(Ordering::Relaxed) as f64 / wall).min(1.0))
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Input files (including ones that failed).
    pub files: u64,
    /// Files with an error.
    pub files_with_errors: u64,
    /// Packets read.
    pub packets: u64,
    /// Capture bytes read.
    pub bytes: u64,
    /// TCP connections.
    pub connections: u64,
    /// HTTP requests.
    pub requests: u64,
    /// Out-of-order bytes buffered at once: each shard's peak, summed over shards and
    /// streams (so at least the true peak).
    pub ooo_peak_bytes: u64,
    /// Per-stage CPU time.
    pub stages: StageTimes,
    /// Wall-clock seconds.
    pub elapsed_s: f64,
}

/// Rows go to per-worker builders, flushed to the dataset in batches of this many rows
/// (a few MB of builder memory per worker; larger batches did not write faster).
const BATCH_ROWS: usize = 16 * 1024;
/// Batch size while the connections still open at the end of a stream are ended (see
/// `run_stream`). Twice the usual batch leaves room for a worker's share of the tens of
/// thousands of connections a busy capture ends with, on top of a part-filled batch, and
/// still bounds the builders (about 12 MB per worker) when a million end at once.
const FINISH_BATCH_ROWS: usize = 2 * BATCH_ROWS;

struct Run<'a> {
    cfg: &'a Config,
    /// `None` for `flows`, which writes no tables.
    ds: Option<&'a Dataset>,
    builders: Vec<Mutex<TableBuilders>>,
    progress: &'a Progress,
    summary: Mutex<RunSummary>,
    stages: StageTimes,
    write_error: Mutex<Option<OutputError>>,
}

impl Run<'_> {
    fn worker(&self) -> usize {
        rayon::current_thread_index().unwrap_or(0) % self.builders.len()
    }

    /// Run `f` with this worker's builders, then flush full batches.
    fn with_rows<R>(&self, f: impl FnOnce(&mut TableBuilders) -> R) -> R {
        self.with_rows_flushing_at(BATCH_ROWS, f)
    }

    /// [`Run::with_rows`], flushing only tables that hold `batch_rows` rows.
    fn with_rows_flushing_at<R>(
        &self,
        batch_rows: usize,
        f: impl FnOnce(&mut TableBuilders) -> R,
    ) -> R {
        let w = self.worker();
        let mut b = self.builders[w].lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut b);
        let t = Instant::now();
        let Some(ds) = self.ds else {
            *b = TableBuilders::default();
            return r;
        };
        if let Err(e) = b.flush(ds, batch_rows, w) {
            self.write_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e);
        }
        self.stages
            .write_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }
}

/// Analyze `files` into `ds`. `input_errors` (inputs that could not be expanded) become
/// `captures` rows with their error. Returns an error only when the dataset cannot be
/// written; problems with inputs are reported in the rows.
pub fn run(
    cfg: &Config,
    files: &[InputFile],
    input_errors: &[InputError],
    ds: Option<&Dataset>,
    progress: &Progress,
) -> Result<RunSummary, OutputError> {
    // The whole run goes on the pool's threads: called from outside, each window's
    // `rayon::join` would be handed to a worker and the caller put to sleep until it is
    // done, two thread switches per window.
    rayon::scope(|_| run_on_pool(cfg, files, input_errors, ds, progress))
}

fn run_on_pool(
    cfg: &Config,
    files: &[InputFile],
    input_errors: &[InputError],
    ds: Option<&Dataset>,
    progress: &Progress,
) -> Result<RunSummary, OutputError> {
    let started = Instant::now();
    let run = Run {
        cfg,
        ds,
        builders: (0..cfg.threads.max(1)).map(|_| Mutex::default()).collect(),
        progress,
        summary: Mutex::default(),
        stages: StageTimes::default(),
        write_error: Mutex::new(None),
    };
    run.with_rows(|b| {
        for e in input_errors {
            b.captures.append(&CaptureRow {
                file: e.name.clone(),
                error: Some(e.message.clone()),
                ..Default::default()
            });
            b.events.append(&EventRow {
                file: e.name.clone(),
                kind: "input_error".into(),
                detail: e.message.clone(),
                ..Default::default()
            });
        }
    });
    let loop_started = Instant::now();
    if cfg.merge {
        let files = merge_order(files);
        run_stream(
            &run,
            &files,
            Some((&NextFiles::new(&files, cfg.window_bytes), 0)),
        );
    } else {
        // Every file is its own stream. Files of at most one window run side by side;
        // larger ones one at a time, each using every core for its own windows. Compressed
        // files are the exception: one core inflates each however many the run has (gzip
        // at about 300 MB/s of capture here, a fifth of what the analysis keeps up with), so
        // they run side by side too, as many at once as there are threads: each holds its
        // own windows and connections, and a small file on disk may inflate to any size.
        let mut small = Vec::new();
        let mut compressed = Vec::new();
        let mut large = Vec::new();
        for f in files {
            let size = std::fs::metadata(&f.path).map_or(0, |m| m.len());
            if is_compressed(&f.path) {
                compressed.push((size, f));
            } else if size <= cfg.window_bytes as u64 {
                small.push(f);
            } else {
                large.push(f);
            }
        }
        small
            .par_iter()
            .for_each(|f| run_stream(&run, std::slice::from_ref(*f), None));
        // Largest first, so the files read at once take about as long as each other.
        compressed.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
        for group in compressed.chunks(cfg.threads.max(1)) {
            group
                .par_iter()
                .for_each(|(_, f)| run_stream(&run, std::slice::from_ref(*f), None));
        }
        let large: Vec<InputFile> = large.into_iter().cloned().collect();
        let next = NextFiles::new(&large, cfg.window_bytes);
        for (i, f) in large.iter().enumerate() {
            run_stream(&run, std::slice::from_ref(f), Some((&next, i)));
        }
    }
    run.stages
        .loop_wall_ns
        .fetch_add(loop_started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    if let Some(ds) = ds {
        // The rows left in each worker's builders are written by `Dataset::finish`, together
        // with closing the part files: one set of jobs on the run's threads, biggest first.
        for b in &run.builders {
            let mut b = b.lock().unwrap_or_else(|p| p.into_inner());
            ds.write_at_finish(Table::Captures, b.captures.finish());
            ds.write_at_finish(Table::Connections, b.connections.finish());
            ds.write_at_finish(Table::Http, b.http.finish());
            ds.write_at_finish(Table::Events, b.events.finish());
        }
    }
    if let Some(e) = run
        .write_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Err(e);
    }
    let mut summary = run.summary.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.files += input_errors.len() as u64;
    summary.files_with_errors += input_errors.len() as u64;
    summary.stages = run.stages;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// How much of a capture's head is framed to find its first packet's timestamp: a small
/// read first (a compressed file has to be inflated that far), then a larger one when no
/// packet was whole in it (a first record of jumbo size, or many leading pcapng blocks).
const HEAD_READS: [usize; 2] = [64 << 10, 1 << 20];

/// The files of a merged stream in capture-time order: by their first packet's timestamp,
/// files without one (unreadable, empty, no timestamped packet in the head) last, ties in the
/// order given.
///
/// The name order is the time order for most rotated sets, but not for all: `tcpdump -C 100
/// -w f.pcap` writes `f.pcap`, `f.pcap1`, ..., `f.pcap10`, which a directory listing or a glob
/// sorts as `f.pcap`, `f.pcap1`, `f.pcap10`, `f.pcap2`; read in that order, every connection
/// crossing a boundary after the second file would be cut, and its halves misread.
fn merge_order(files: &[InputFile]) -> Vec<InputFile> {
    let firsts: Vec<Option<i64>> = files.par_iter().map(|f| first_packet_ts(&f.path)).collect();
    let mut order: Vec<usize> = (0..files.len()).collect();
    // Stable: equal keys keep the order given.
    order.sort_by_key(|&i| (firsts[i].is_none(), firsts[i]));
    order.into_iter().map(|i| files[i].clone()).collect()
}

/// The timestamp of the first packet in the head of a capture (see [`HEAD_READS`]).
/// Problems are `None` here: the file is read in full later, and its row reports them.
fn first_packet_ts(path: &std::path::Path) -> Option<i64> {
    let mut source = Source::open(path).ok()?;
    let (framer, first) = Framer::new(source.format(), source.head()).ok()?;
    for size in HEAD_READS {
        let window = source.window(first as u64, size, None).ok()?;
        let mut ts = None;
        framer
            .clone()
            .frame(&window, window.base, 0, window.len(), |p| {
                if ts.is_none() && p.ts_ns != wirehouse_capture::TS_UNKNOWN {
                    ts = Some(p.ts_ns);
                }
            });
        if ts.is_some() || window.at_eof {
            return ts;
        }
    }
    None
}

/// Whether the file is a gzip or zstd stream (judged by its first bytes, as opening it
/// would; a file that cannot be read is not, and fails when it is opened).
fn is_compressed(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .is_ok()
        && matches!(
            wirehouse_capture::detect(&head),
            wirehouse_capture::Detected::Compressed(_)
        )
}

/// State that lives as long as a stream: the shards and IP fragment reassembly.
struct StreamState {
    shards: Vec<Shard>,
    defrag: Defragmenter,
    /// The file whose windows are being processed (connections started now belong to it).
    file: Arc<str>,
}

impl Run<'_> {
    fn shard_ctx<'s>(&'s self, file: &'s Arc<str>) -> ShardCtx<'s> {
        ShardCtx {
            tcp: &self.cfg.tcp,
            http: &self.cfg.http,
            idle_timeout_ns: self.cfg.idle_timeout_ns,
            close_linger_ns: self.cfg.close_linger_ns,
            cap: (self.cfg.max_connections / self.cfg.shards.max(1)).max(1),
            linger_cap: (self.cfg.max_lingering / self.cfg.shards.max(1)).max(16),
            ooo_budget: (self.cfg.max_ooo_total_bytes / self.cfg.shards.max(1)).max(64 << 10),
            file,
            flows: self.cfg.flows.as_ref(),
        }
    }
}

/// One stream: files whose connections share state.
/// `next`: the run's file order and the place of `files[0]` in it, to read the files after
/// each one ahead of their turn; `None` where files are not read one after the other (small
/// and compressed files, which run side by side).
fn run_stream(run: &Run<'_>, files: &[InputFile], next: Option<(&NextFiles<'_>, usize)>) {
    let mut st = StreamState {
        shards: (0..run.cfg.shards.max(1)).map(Shard::new).collect(),
        defrag: Defragmenter::new(DEFRAG_TIMEOUT_NS, DEFRAG_MAX_PENDING),
        file: Arc::from(""),
    };
    let mut rows: Vec<CaptureRow> = Vec::with_capacity(files.len());
    for (k, f) in files.iter().enumerate() {
        st.file = Arc::from(f.name.as_str());
        let mut row = run_file(run, f, &mut st, next.map(|(n, i)| (n, i + k)));
        add_shard_stats(run, &mut st, &mut row);
        rows.push(row);
        run.progress.files.fetch_add(1, Ordering::Relaxed);
    }
    // End of the stream: every connection still open ends here, and what ending them counts
    // (reassembly caps hit, requests) belongs to the last file's row.
    st.defrag.finish();
    let file = st.file.clone();
    let ctx = run.shard_ctx(&file);
    // The rows of the connections ended here stay in the builders up to a larger batch: a
    // batch written now (a row group to compress) would keep one core busy while the others
    // run out of shards; what is left is written with the part files' close, in parallel.
    st.shards.par_iter_mut().for_each(|s| {
        let t = Instant::now();
        run.with_rows_flushing_at(FINISH_BATCH_ROWS, |b| s.finish(&ctx, b));
        add_elapsed(&run.stages.tasks_ns, t);
    });
    if let Some(last) = rows.last_mut() {
        add_shard_stats(run, &mut st, last);
    }
    let late: u64 = st.shards.iter_mut().map(Shard::take_late_packets).sum();
    if late > 0 {
        run.with_rows(|b| {
            b.events.append(&EventRow {
                ts: None,
                conn_id: None,
                file: file.to_string(),
                kind: "late_packets_of_retired_connections".into(),
                detail: format!(
                    "{late} packets arrived for closed connections retired before their {} s \
                     close delay (more closed connections than --max-closed) and were dropped: \
                     within the delay they would have joined those connections",
                    run.cfg.close_linger_ns / 1_000_000_000
                ),
            });
        });
    }
    let ooo_peak: usize = st.shards.iter().map(Shard::ooo_peak).sum();
    run.summary
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ooo_peak_bytes += ooo_peak as u64;
    // A merged stream is meant to be a rotated set, each file following the last. A file
    // with packets earlier than the latest one read before it overlaps: connections open
    // across the overlap see those packets out of order (retransmissions, gaps).
    let mut latest: Option<(i64, String)> = None;
    for row in rows {
        let overlap = match (row.first_ts, &latest) {
            (Some(first), Some((last, before))) if first < *last => Some(EventRow {
                ts: Some(first),
                conn_id: None,
                file: row.file.clone(),
                kind: "merge_overlap".into(),
                detail: format!(
                    "packets from {:.6} s before the end of {before}, which --merge read before \
                     this file: the merged files overlap in time, and connections open across \
                     the overlap see its packets out of order",
                    (last - first) as f64 / 1e9
                ),
            }),
            _ => None,
        };
        if let Some(last) = row.last_ts
            && latest.as_ref().is_none_or(|(l, _)| last > *l)
        {
            latest = Some((last, row.file.to_string()));
        }
        let mut s = run.summary.lock().unwrap_or_else(|p| p.into_inner());
        s.files += 1;
        s.files_with_errors += u64::from(row.error.is_some());
        s.packets += row.packets as u64;
        s.bytes += row.bytes as u64;
        drop(s);
        run.with_rows_flushing_at(FINISH_BATCH_ROWS, |b| {
            if let Some(e) = &overlap {
                b.events.append(e);
            }
            if let Some(err) = &row.error {
                b.events.append(&EventRow {
                    ts: row.last_ts,
                    conn_id: None,
                    file: row.file.clone(),
                    kind: "capture_error".into(),
                    detail: err.clone(),
                });
            }
            b.captures.append(&row);
        });
    }
}

/// Move the per-file counters the shards and IP reassembly collected into `row`.
fn add_shard_stats(run: &Run<'_>, st: &mut StreamState, row: &mut CaptureRow) {
    let mut stats = shard::FileStats::default();
    for s in st.shards.iter_mut() {
        stats.add(&s.take_file_stats());
    }
    let d = std::mem::take(&mut st.defrag.stats);
    row.connections += stats.connections as i64;
    row.connections_evicted += stats.evicted as i64;
    row.ooo_cap_hits += stats.ooo_cap_hits as i64;
    row.ip_datagrams_reassembled += d.reassembled as i64;
    row.ip_datagrams_abandoned += d.abandoned as i64;
    let mut sum = run.summary.lock().unwrap_or_else(|p| p.into_inner());
    sum.requests += stats.requests;
    sum.connections += stats.connections;
}

/// IP fragments older than this (capture time) are abandoned, as Linux does after 30 s.
const DEFRAG_TIMEOUT_NS: i64 = 30 * 1_000_000_000;
/// Datagrams in reassembly at once per stream.
const DEFRAG_MAX_PENDING: usize = 4096;

fn error_row(f: &InputFile, message: String) -> CaptureRow {
    CaptureRow {
        file: f.name.clone(),
        file_bytes: std::fs::metadata(&f.path).ok().map(|m| m.len() as i64),
        error: Some(message),
        ..Default::default()
    }
}

fn run_file(
    run: &Run<'_>,
    f: &InputFile,
    st: &mut StreamState,
    next: Option<(&NextFiles<'_>, usize)>,
) -> CaptureRow {
    let cfg = run.cfg;
    let mut source = match Source::open(&f.path) {
        Ok(s) => s,
        Err(e) => return error_row(f, e.to_string()),
    };
    let (framer, first) = match Framer::new(source.format(), source.head()) {
        Ok(v) => v,
        Err(e) => {
            let mut row = error_row(f, e.to_string());
            row.format = Some(source.format().name().into());
            row.error_offset = Some(e.offset as i64);
            return row;
        }
    };
    let pool = QueuePool::default();
    let ctx = FrameCtx {
        shards: st.shards.len(),
        filter: cfg.filter.as_ref(),
        pool: &pool,
        busy_ns: &run.stages.tasks_ns,
    };
    // Framing ranges per window. The next window is framed while the shards analyse this one,
    // and whichever finishes last holds the other thread at the hand-off: the tail is at most
    // one range, so several threads get four ranges each (3 MiB at 24 MiB windows and two
    // threads). 1 GB generated capture, 2 threads, four batches of 12-16 interleaved runs:
    // median wall 2.4, 2.6, 3.7 and 0 % lower than with two ranges each. One thread has no
    // hand-off to wait at and frames its window as one range (timed equal to two).
    let ranges = if cfg.threads > 1 { cfg.threads * 4 } else { 1 };
    let mut counts = Counts::default();
    let mut error: Option<(String, u64)> = None;
    let mut size = cfg.window_bytes.max(64 << 10);

    // Near the end of this file, its windows' read-ahead carries on into the next files.
    let read_next = |source: &Source| {
        if let Some((files, i)) = next {
            files.after(i, source.read_ahead_past_end());
        }
    };
    let t = Instant::now();
    let mut window = match source.window(first as u64, size, None) {
        Ok(w) => w,
        Err(e) => return error_row(f, format!("read failed: {e}")),
    };
    read_next(&source);
    add_elapsed(&run.stages.read_ns, t);
    let mut framer = framer;
    let t = Instant::now();
    let mut framed = frame_window(&window, window.base, &framer, ranges, &ctx);
    add_elapsed(&run.stages.frame_ns, t);
    // The window analysed last: unmapped while the next one is analysed, not between the two.
    // Unmapping 32 MiB took about a millisecond, with every worker waiting for the loop.
    let mut retired: Option<wirehouse_capture::source::Window> = None;
    loop {
        // Where does the next window start, and is this the last one?
        let whole = framed.end == window.len();
        let next_start = match &framed.stop {
            Stop::Error(e) => {
                error = Some((e.to_string(), e.offset));
                None
            }
            _ if window.at_eof => {
                if let Some((m, at)) = source.fault() {
                    // The stream broke off (a truncated or corrupt .gz): the record cut
                    // there is a consequence, the fault is what to report.
                    error = Some((format!("read failed: {m}"), at));
                } else if !whole {
                    let e = FrameError {
                        offset: window.base + framed.end as u64,
                        kind: FrameErrorKind::Truncated {
                            needed: 0,
                            available: (window.len() - framed.end) as u64,
                        },
                    };
                    error = Some((truncated_message(&e, &window, framed.end), e.offset));
                }
                None
            }
            _ => Some(window.base + framed.end as u64),
        };
        if framed.end == 0 && next_start.is_some() {
            // A record larger than the window: read a bigger one from the same place.
            size = size.saturating_mul(2);
            let t = Instant::now();
            match source.window(window.base, size, Some(&window)) {
                Ok(w) => {
                    window = w;
                    read_next(&source);
                }
                Err(e) => {
                    error = Some((format!("read failed: {e}"), window.base));
                    break;
                }
            }
            add_elapsed(&run.stages.read_ns, t);
            framed = frame_window(&window, window.base, &framer, ranges, &ctx);
            continue;
        }
        framer = framed.framer_after.clone();
        let mut next: Option<(wirehouse_capture::source::Window, FramedWindow)> = None;
        let mut read_error = None;
        let (_, ()) = rayon::join(
            || {
                let t = Instant::now();
                process_window(run, st, &mut framed, &window);
                add_elapsed(&run.stages.analyze_ns, t);
            },
            || {
                if let Some(w) = retired.take() {
                    source.recycle(w);
                }
                if let Some(start) = next_start {
                    let t = Instant::now();
                    match source.window(start, size, Some(&window)) {
                        Ok(w) => {
                            add_elapsed(&run.stages.read_ns, t);
                            read_next(&source);
                            let t = Instant::now();
                            let fw = frame_window(&w, w.base, &framer, ranges, &ctx);
                            add_elapsed(&run.stages.frame_ns, t);
                            next = Some((w, fw));
                        }
                        Err(e) => read_error = Some((format!("read failed: {e}"), start)),
                    }
                }
            },
        );
        for r in &framed.ranges {
            counts.add(&r.counts);
        }
        run.progress
            .bytes
            .fetch_add(framed.end as u64, Ordering::Relaxed);
        run.progress.packets.fetch_add(
            framed.ranges.iter().map(|r| r.counts.packets).sum::<u64>(),
            Ordering::Relaxed,
        );
        if let Some(e) = read_error {
            error = Some(e);
        }
        pool.put(&mut framed);
        match next {
            Some((w, fw)) if error.is_none() => {
                retired = Some(std::mem::replace(&mut window, w));
                framed = fw;
            }
            _ => break,
        }
    }
    CaptureRow {
        file: f.name.clone(),
        format: Some(source.format().name().into()),
        compression: source.compression().map(|c| c.name().into()),
        linktypes: counts
            .linktypes
            .iter()
            .map(|&l| linktype_name(l))
            .collect::<Vec<_>>()
            .join(","),
        file_bytes: std::fs::metadata(&f.path).ok().map(|m| m.len() as i64),
        packets: counts.packets as i64,
        bytes: counts.bytes as i64,
        first_ts: counts.first_ts(),
        last_ts: counts.last_ts(),
        packets_tcp: counts.fate_count(Fate::Tcp),
        packets_udp: counts.fate_count(Fate::Udp),
        packets_other_ip: counts.fate_count(Fate::OtherIp),
        packets_non_ip: counts.fate_count(Fate::NonIp),
        packets_truncated: counts.fate_count(Fate::Truncated),
        packets_malformed: counts.fate_count(Fate::Malformed),
        packets_unsupported_linktype: counts.fate_count(Fate::UnsupportedLinktype),
        tcp_payload_truncated: counts.tcp_payload_truncated as i64,
        ip_fragments: counts.ip_fragments as i64,
        pcapng_other_blocks: counts.other_blocks as i64,
        error_offset: error.as_ref().map(|(_, o)| *o as i64),
        error: error.map(|(m, _)| m),
        // Connection-level counters are added by the stream (add_shard_stats).
        ..CaptureRow::default()
    }
}

fn truncated_message(e: &FrameError, window: &[u8], end: usize) -> String {
    format!(
        "byte offset {}: the capture ends inside a record ({} bytes of it present); the file was cut short",
        e.offset,
        window.len() - end
    )
}

/// Reassemble this window's fragments (serially: they are rare), then run every shard on its
/// queue in parallel.
fn process_window(run: &Run<'_>, st: &mut StreamState, framed: &mut FramedWindow, window: &[u8]) {
    let shards = st.shards.len();
    for k in 0..framed.ranges.len() {
        let frags = std::mem::take(&mut framed.ranges[k].frags);
        for fr in frags {
            st.defrag.expire(fr.ts_ns);
            let Some(dg) = st.defrag.push(fr.ts_ns, &fr.fragment(window)) else {
                continue;
            };
            let idx = framed.datagrams.len();
            framed.datagrams.push(dg.payload);
            let buf = &framed.datagrams[idx];
            let Decoded::Tcp(t) = decode_transport(
                dg.proto,
                buf,
                buf.len(),
                dg.src,
                dg.dst,
                dg.vlans,
                dg.cut,
                fr.ts_ns,
            ) else {
                continue;
            };
            let seg = &t.seg;
            if let Some(f) = &run.cfg.filter
                && !f.matches(&seg.src, &seg.dst)
            {
                continue;
            }
            let off = (seg.payload.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize) as u32;
            let payload = PayloadRef::Datagram {
                idx: idx as u32,
                off,
                len: seg.payload.len() as u32,
            };
            let r = SegRef::new(seg, t.vlans, payload, fr.file_offset);
            let s = wirehouse_flow::shard_index(r.key.hash, shards);
            // Keep the queue in capture order: the datagram completes at its last fragment.
            framed.ranges[k].shards[s].insert_in_order(r);
        }
    }
    let file = st.file.clone();
    let ctx = run.shard_ctx(&file);
    let framed = &*framed;
    st.shards.par_iter_mut().enumerate().for_each(|(i, shard)| {
        let t = Instant::now();
        run.with_rows(|rows| shard.process(i, framed, window, &ctx, rows));
        add_elapsed(&run.stages.tasks_ns, t);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian microsecond pcap of Ethernet records `(seconds, caplen)`.
    fn pcap(records: &[(u32, usize)]) -> Vec<u8> {
        let mut b = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        for v in [0u32, 0, 262_144, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for &(sec, len) in records {
            for v in [sec, 0, len as u32, len as u32] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.resize(b.len() + len, 0);
        }
        b
    }

    #[test]
    fn loop_utilisation_is_task_time_over_thread_time() {
        let s = StageTimes::default();
        assert_eq!(s.loop_utilisation(2), None, "no window ran");
        s.loop_wall_ns.store(100, Ordering::Relaxed);
        s.tasks_ns.store(150, Ordering::Relaxed);
        assert_eq!(s.loop_utilisation(2), Some(0.75));
        assert_eq!(
            s.loop_utilisation(1),
            Some(1.0),
            "timer rounding never exceeds 100 %"
        );
    }

    #[test]
    fn the_first_packet_is_found_past_the_first_read() {
        let dir = std::env::temp_dir().join(format!("wh-first-ts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.pcap");
        let small = [(7, 60), (8, 60)];
        // A first record larger than the first read.
        let jumbo = [(9, 200_000), (10, 60)];
        for (records, want) in [
            (&small[..], Some(7_000_000_000)),
            (&jumbo[..], Some(9_000_000_000)),
            (&[][..], None),
        ] {
            std::fs::write(&path, pcap(records)).unwrap();
            assert_eq!(first_packet_ts(&path), want, "{records:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
