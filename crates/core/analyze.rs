//! `wirehouse analyze`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use wirehouse_engine::{Config, Progress, RunSummary, expand};
use wirehouse_output::Dataset;

/// Arguments of `wirehouse analyze`.
#[derive(Args, Debug)]
pub(crate) struct AnalyzeArgs {
    /// Capture files, directories (searched recursively) or glob patterns. Formats are
    /// recognised by content: pcap, pcapng, and gzip/zstd-compressed captures.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// Output directory: one sub-directory of Parquet files per table.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Replace the tables of an existing, non-empty output directory.
    #[arg(long)]
    force: bool,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
    /// Treat the inputs as one time-ordered stream (rotated files: file-0001, file-0002...),
    /// so connections crossing a file boundary are one connection.
    #[arg(long)]
    merge: bool,
    /// Close connections idle this many seconds of capture time (Zeek's default is 300 for
    /// established TCP).
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    idle_timeout: f64,
    /// Cap on live connections per input stream; past it the least recently active are
    /// evicted (counted in captures.connections_evicted and events).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_connections: usize,
    /// Cap on closed connections kept per input stream for late packets (Zeek keeps them
    /// 5 s of capture time, as does wirehouse below this cap); past it those closed longest
    /// ago are retired, and their late packets within the 5 s are dropped and counted (event
    /// late_packets_of_retired_connections). Bounds memory when connections close faster.
    #[arg(long, value_name = "N", default_value_t = 16_384)]
    max_closed: usize,
    /// Cap on out-of-order bytes buffered per connection direction, in MiB; past it the
    /// earliest hole is given up as a gap (counted in connections.ooo_cap_hits).
    #[arg(long, value_name = "MIB", default_value_t = 4)]
    max_ooo_mib: usize,
    /// Cap on out-of-order bytes buffered by all connections of an input stream together, in
    /// MiB (split evenly over the shards); past a shard's share, the connections holding the
    /// most give up their holes as gaps (counted in connections.ooo_cap_hits). Bounds memory
    /// when many connections wait on holes at once, as on a one-sided capture with loss.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    max_ooo_total_mib: usize,
    /// Take the general reassembly path for every segment (for tests that check the plain
    /// segment shortcut changes no result).
    #[arg(long, hide = true)]
    no_fast_path: bool,
    /// Window size in MiB: how much of a capture is framed at once (memory use is about
    /// two windows per input being read).
    #[arg(long, value_name = "MIB", default_value_t = wirehouse_engine::DEFAULT_WINDOW_MIB)]
    window_mib: usize,
    /// Shards per input stream (connections are spread over them by flow hash). Results do
    /// not depend on this or on --threads.
    #[arg(long, value_name = "N", default_value_t = 64)]
    shards: usize,
    /// Print per-stage timings and throughput at the end.
    #[arg(long)]
    stats: bool,
    /// Show progress on stderr (default: when stderr is a terminal).
    #[arg(long)]
    progress: bool,
    /// Keep only packets matching this tcpdump-style filter: host, net, port, portrange,
    /// src/dst, tcp, ip, ip6, and/or/not, parentheses (e.g. "host 10.0.0.5 and port 80").
    /// Applied per packet, like tcpdump.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Print nothing on success.
    #[arg(short, long)]
    quiet: bool,
}

pub(crate) fn run(a: AnalyzeArgs) -> ExitCode {
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        eprintln!("error: cannot start {threads} worker threads: {e}");
        return ExitCode::from(1);
    }
    let filter = match a.filter.as_deref().map(wirehouse_engine::filter::parse) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            eprintln!("error: --filter: {e}");
            return ExitCode::from(1);
        }
    };
    let (files, input_errors) = expand(&a.inputs);
    for e in &input_errors {
        eprintln!("warning: {}: {}", e.name, e.message);
    }
    if files.is_empty() && input_errors.len() == a.inputs.len() {
        eprintln!("error: none of the inputs exist or match");
        return ExitCode::from(1);
    }
    let ds = match Dataset::create(&a.out, a.force, threads) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let cfg = Config {
        threads,
        shards: a.shards.max(1),
        window_bytes: a.window_mib.max(1) << 20,
        idle_timeout_ns: (a.idle_timeout * 1e9) as i64,
        max_connections: a.max_connections.max(1),
        max_ooo_total_bytes: a.max_ooo_total_mib.max(1) << 20,
        max_lingering: a.max_closed.max(1),
        merge: a.merge,
        filter,
        tcp: wirehouse_tcp::Config {
            max_ooo_bytes: a.max_ooo_mib.max(1) << 20,
            plain_fast_path: !a.no_fast_path,
            ..wirehouse_tcp::Config::default()
        },
        ..Config::default()
    };
    let progress = Arc::new(Progress::default());
    let show_progress = a.progress || (!a.quiet && std::io::stderr().is_terminal());
    let done = Arc::new(AtomicBool::new(false));
    let reporter = show_progress.then(|| {
        let (progress, done) = (progress.clone(), done.clone());
        let total_files = files.len();
        std::thread::spawn(move || report_progress(&progress, &done, total_files))
    });
    let result = wirehouse_engine::run(&cfg, &files, &input_errors, Some(&ds), &progress);
    done.store(true, Ordering::Relaxed);
    if let Some(r) = reporter {
        let _ = r.join();
    }
    let mut summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // Closing the part files encodes their last row groups: part of the run's time.
    let t = Instant::now();
    let tables = match ds.finish() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let finish = t.elapsed();
    summary.elapsed_s += finish.as_secs_f64();
    summary
        .stages
        .write_ns
        .fetch_add(finish.as_nanos() as u64, Ordering::Relaxed);
    if !a.quiet {
        print_summary(&summary, &tables, &a.out, threads, a.stats.then_some(&a));
    }
    if summary.files_with_errors > 0 {
        eprintln!(
            "warning: {} of {} inputs had errors (see captures.error and the events table)",
            summary.files_with_errors, summary.files
        );
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn report_progress(p: &Progress, done: &AtomicBool, total_files: usize) {
    let start = Instant::now();
    let mut err = std::io::stderr();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(500));
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let bytes = p.bytes.load(Ordering::Relaxed) as f64;
        let _ = write!(
            err,
            "\r{:>4}/{} files  {:>10.1} MB  {:>12} packets  {:>7.1} MB/s ",
            p.files.load(Ordering::Relaxed),
            total_files,
            bytes / 1e6,
            p.packets.load(Ordering::Relaxed),
            bytes / 1e6 / secs
        );
    }
    let _ = writeln!(err);
}

fn print_summary(
    s: &RunSummary,
    tables: &wirehouse_output::DatasetSummary,
    out: &std::path::Path,
    threads: usize,
    stats: Option<&AnalyzeArgs>,
) {
    let secs = s.elapsed_s.max(1e-9);
    println!(
        "{} files ({} with errors), {} packets, {:.1} MB in {:.2} s ({:.0} MB/s, {:.2} M packets/s, {} threads)",
        s.files,
        s.files_with_errors,
        s.packets,
        s.bytes as f64 / 1e6,
        s.elapsed_s,
        s.bytes as f64 / 1e6 / secs,
        s.packets as f64 / 1e6 / secs,
        threads
    );
    for (name, rows, files) in &tables.tables {
        println!(
            "  {:<12} {:>10} rows  {}/{name}/ ({files} files)",
            name,
            rows,
            out.display()
        );
    }
    if let Some(a) = stats {
        if let Some((hwm, anon)) = memory() {
            println!(
                "  memory: peak RSS {:.1} MB (private/anonymous now {:.1} MB)",
                hwm as f64 / 1024.0,
                anon as f64 / 1024.0
            );
        }
        if let Some((user, system)) = cpu_times() {
            // The system share is mostly page faults and unmapping: well above a tenth, the
            // capture is likely cached in 4 KiB folios (README, "How the capture is mapped").
            println!(
                "  cpu: {user:.2} s user, {system:.2} s system ({:.0} % system)",
                100.0 * system / (user + system).max(1e-9)
            );
        }
        let ms = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed) as f64 / 1e6;
        println!(
            "  stages (ms summed over threads): read {:.1}, frame+decode {:.1}, analyze {:.1}, write {:.1} (the writes made while analysing count in both)",
            ms(&s.stages.read_ns),
            ms(&s.stages.frame_ns),
            ms(&s.stages.analyze_ns),
            ms(&s.stages.write_ns)
        );
        if let Some(u) = s.stages.loop_utilisation(threads) {
            // Below about 90 % at many cores, the window hand-offs or the serial steps between
            // windows are what limits the run, not the per-packet work.
            println!(
                "  window loop: threads busy {:.0} % of it ({:.1} ms of tasks over {} x {:.1} ms; the rest is waiting at window hand-offs and serial steps)",
                100.0 * u,
                ms(&s.stages.tasks_ns),
                threads,
                ms(&s.stages.loop_wall_ns)
            );
        }
        println!(
            "  out-of-order buffers: peak {} bytes (each shard's peak, summed; cap {} MiB per input stream, {} MiB per connection direction)",
            s.ooo_peak_bytes, a.max_ooo_total_mib, a.max_ooo_mib
        );
    }
}

/// User and system CPU seconds of this process so far (all threads), from /proc/self/stat.
/// Its fields 14 and 15 count clock ticks of USER_HZ, which is 100 on every Linux ABI.
fn cpu_times() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'
    let ticks = |f: Option<&str>| f.and_then(|v| v.parse::<u64>().ok());
    let user = ticks(fields.next())?;
    let system = ticks(fields.next())?;
    Some((user as f64 / 100.0, system as f64 / 100.0))
}

/// Peak resident set and current anonymous (private) memory, in KiB, from /proc. Mapped
/// capture pages count in RSS while mapped, so both are reported.
fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmHWM:")?, field("RssAnon:").unwrap_or(0)))
}
