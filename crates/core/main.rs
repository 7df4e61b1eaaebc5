//! `wirehouse`: packet-capture archives in, queryable Parquet tables out.
#![deny(missing_docs)]

mod analyze;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
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
    }
}
