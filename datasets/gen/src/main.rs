//! `wirehouse-gen`: see the library documentation for what it generates.

use clap::Parser;

fn main() {
    let a = wirehouse_gen::Args::parse();
    match wirehouse_gen::generate(&a) {
        Ok(s) => eprintln!(
            "wirehouse-gen: {} bytes, {} packets, {} connections, {} requests in {:.2} s ({:.0} MB/s)",
            s.bytes,
            s.packets,
            s.connections,
            s.requests,
            s.seconds,
            s.bytes as f64 / 1e6 / s.seconds.max(1e-9)
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
