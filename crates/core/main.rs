//! `wirehouse`: packet-capture archives in, queryable Parquet tables out.
#![deny(missing_docs)]

mod allocator;
mod analyze;
mod flows;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Shards move between worker threads from one window to the next, so memory is often freed
/// by another thread than the one that allocated it. glibc's malloc serialises those frees on
/// the allocating thread's arena lock: at 2 threads most of the workers' waits were there.
/// mimalloc frees cross-thread without a lock (1G generated capture, 2 threads: 0.45-0.47 s
/// -> 0.37-0.45 s; 10 GB capture 5.2 -> 4.3 s). Its v2 keeps RSS lower than v3 (176 vs 211 MB).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turn packet captures into Parquet tables of connections, HTTP transactions and events.
#[derive(Parser, Debug)]
#[command(name = "wirehouse", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyze captures (files, directories, globs) into a Parquet dataset.
    Analyze(analyze::AnalyzeArgs),
    /// Print a human summary of a dataset: connections, reuse, latency, top hosts, anomalies.
    Summary(summary::SummaryArgs),
    /// Write each TCP direction's reassembled bytes to a file, named as tcpflow names them.
    Flows(flows::FlowsArgs),
    /// Benchmark floor: walk every record header of a capture (no decoding) and report the
    /// rate. `analyze` throughput is measured against this.
    Walk(WalkArgs),
}

/// Arguments of `wirehouse walk`.
#[derive(clap::Args, Debug)]
struct WalkArgs {
    /// Capture file.
    file: std::path::PathBuf,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
    /// Window size in MiB.
    #[arg(long, value_name = "MIB", default_value_t = wirehouse_engine::DEFAULT_WINDOW_MIB)]
    window_mib: usize,
}

fn walk(a: WalkArgs) -> ExitCode {
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
    let st = wirehouse_engine::walk(&a.file, a.window_mib.max(1) << 20, threads * 2);
    let secs = st.seconds.max(1e-9);
    println!("{} packets", st.packets);
    println!("{} bytes", st.bytes);
    println!(
        "{:.3} s, {:.2} GB/s, {:.2} M packets/s, {threads} threads",
        st.seconds,
        st.bytes as f64 / secs / 1e9,
        st.packets as f64 / secs / 1e6
    );
    match st.error {
        Some(e) => {
            eprintln!("{}: {e}", a.file.display());
            ExitCode::from(2)
        }
        None => ExitCode::SUCCESS,
    }
}

fn main() -> ExitCode {
    let _ = allocator::configure();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Summary(a) => summary::run(a),
        Command::Flows(a) => flows::run(a),
        Command::Walk(a) => walk(a),
    }
}
