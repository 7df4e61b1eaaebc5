//! `wirehouse flows`: tcpflow-compatible export of reassembled TCP streams.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::Args;
use wirehouse_engine::{Config, FlowsOut, Progress, expand};

/// Arguments of `wirehouse flows`.
#[derive(Args, Debug)]
pub(crate) struct FlowsArgs {
    /// Capture files, directories or glob patterns.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// Directory for the flow files (one per direction of each connection, named like
    /// tcpflow's: SRCIP.SPORT-DSTIP.DPORT with zero-padded IPv4 octets and ports).
    #[arg(short, long, value_name = "DIR", required_unless_present = "console")]
    out: Option<PathBuf>,
    /// Print each direction's bytes to standard output instead, prefixed with the flow name,
    /// as `tcpflow -c` does (runs on one thread, to keep the order).
    #[arg(short = 'c', long)]
    console: bool,
    /// tcpdump-style filter (see `wirehouse analyze --help`).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Treat the inputs as one time-ordered stream (rotated files).
    #[arg(long)]
    merge: bool,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
}

pub(crate) fn run(a: FlowsArgs) -> ExitCode {
    let threads = if a.console {
        1
    } else {
        a.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    };
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
    let out = if a.console {
        FlowsOut::Console(Mutex::new(std::io::stdout()))
    } else {
        let Some(dir) = a.out else {
            eprintln!("error: give an output directory (-o) or -c");
            return ExitCode::from(1);
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("error: {}: {e}", dir.display());
            return ExitCode::from(1);
        }
        FlowsOut::Dir(dir)
    };
    let (files, input_errors) = expand(&a.inputs);
    for e in &input_errors {
        eprintln!("warning: {}: {}", e.name, e.message);
    }
    let cfg = Config {
        threads,
        // One shard keeps -c output in capture order.
        shards: if a.console { 1 } else { 64 },
        merge: a.merge,
        filter,
        flows: Some(out),
        ..Config::default()
    };
    match wirehouse_engine::run(&cfg, &files, &input_errors, None, &Progress::default()) {
        Ok(s) if s.files_with_errors > 0 => {
            eprintln!(
                "warning: {} of {} inputs had errors",
                s.files_with_errors, s.files
            );
            ExitCode::from(2)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
