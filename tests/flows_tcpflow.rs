//! `wirehouse flows` against tcpflow itself (Debian's tcpflow, run live): the same file names
//! and the same bytes, for every capture of the corpus's TCP and HTTP directories and the
//! project's loopback capture.
//!
//! One tcpflow artifact is allowed everywhere: tcpflow writes the Ethernet padding of
//! zero-length segments (the FIN/ACK/RST at the end of a connection, padded to the 60-byte
//! minimum frame) as if it were stream data, so its file can end with up to 10 more bytes
//! than ours, and it opens tiny `c1`-style files for such trailing segments. Those extra
//! bytes are not TCP payload (the IP length excludes them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Captures where tcpflow and wirehouse differ beyond the padding artifact, and why.
const DIFFERENT: &[(&str, &str)] = &[
    (
        "zeek/http/basic-auth-with-colon.pcap",
        "raw IPv4 link type: tcpflow writes no flows",
    ),
    (
        "zeek/http/connect-with-header.pcap",
        "BSD loopback link type carrying IPv6: tcpflow writes no flows",
    ),
    (
        "more/http1/ppp__one_http_stream_rst.pcap",
        "VLAN-tagged frames: tcpflow writes no flows",
    ),
    (
        "more/tcp/tcpdump__bigtcp-ipv4.pcap",
        "BIG TCP frames (IP length 0, larger than 64 KiB): tcpflow drops them",
    ),
    (
        "zeek/http/bro.org-filtered.pcap",
        "payloads filtered out of the capture: tcpflow writes files of zeros sized by the FIN's sequence number; there is no captured byte to export",
    ),
    (
        "more/tcp/tcpdump__tcp_rst_data.pcap",
        "data on a RST: tcpflow exports it; RFC 9293 §3.5.3 makes it diagnostic text, not stream data",
    ),
    (
        "more/tcp/arkime__tcpseq_synthetic.pcap",
        "synthetic sequence-number jumps: tcpflow starts new files, wirehouse keeps the hole (a sparse file)",
    ),
    // Captures with retransmitted or overlapping segments (tshark flags them): tcpflow writes
    // every copy where it lands, so the last copy wins; wirehouse keeps the first copy.
    (
        "zeek/tcp/qi_internet_SYNACK_curl_jsonip.pcap",
        "retransmissions with overlaps",
    ),
    (
        "zeek/tcp/reassembly.pcap",
        "overlapping retransmissions with different bytes (Zeek's reassembly test)",
    ),
    ("more/tcp/cs__tcp_dupack.pcapng", "retransmission"),
    (
        "more/tcp/ppp__one_tcp_stream.pcap",
        "retransmissions and out-of-order segments",
    ),
    (
        "more/tcp/ppp__one_tcp_stream_max_seq.pcap",
        "retransmissions and out-of-order segments",
    ),
    (
        "more/tcp/suri__bug-4376_syn_retransmit_with_ts.pcap",
        "retransmitted SYNs and data",
    ),
    (
        "more/tcp/suri__eve-overlap-payload-04-partial-overlap_tcp-overlap2.pcap",
        "conflicting partial overlap",
    ),
    (
        "more/tcp/suri__eve-payload-01-tcp-exact-overlap_tcp-overlap.pcap",
        "conflicting exact overlap",
    ),
];

fn have_tcpflow() -> bool {
    // tcpflow's exit status for --version varies; its banner does not.
    match Command::new("tcpflow").arg("--version").output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).contains("TCPFLOW"),
        Err(e) => {
            eprintln!("tcpflow: {e}");
            false
        }
    }
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != "report.xml")
                .collect()
        })
        .unwrap_or_default()
}

/// Differences between our flow files and tcpflow's that are not the padding artifact.
fn unexplained(ours: &Path, theirs: &Path) -> Vec<String> {
    let a = listing(ours);
    let b = listing(theirs);
    let mut bad = Vec::new();
    for name in a.union(&b) {
        let x = a
            .contains(name)
            .then(|| std::fs::read(ours.join(name)).unwrap());
        let y = b
            .contains(name)
            .then(|| std::fs::read(theirs.join(name)).unwrap());
        let ok = match (&x, &y) {
            (Some(x), Some(y)) => x == y || (y.starts_with(x) && y.len() - x.len() <= 10),
            (None, Some(y)) => y.len() <= 10,
            _ => false,
        };
        if !ok {
            bad.push(format!(
                "{name}: ours {:?} bytes, tcpflow {:?}",
                x.map(|v| v.len()),
                y.map(|v| v.len())
            ));
        }
    }
    bad
}

fn compare(capture: &Path, n: usize) -> Vec<String> {
    let ours = tmp(&format!("flows-ours-{n}"));
    let theirs = tmp(&format!("flows-tcpflow-{n}"));
    std::fs::create_dir_all(&theirs).unwrap();
    let o = wirehouse(&[
        "flows",
        &capture.display().to_string(),
        "-o",
        &ours.display().to_string(),
    ]);
    assert!(matches!(o.status.code(), Some(0) | Some(2)), "{capture:?}");
    // tcpflow exits non-zero on link types it cannot decode; its output (none) is still
    // what is compared.
    Command::new("tcpflow")
        .arg("-r")
        .arg(capture)
        .arg("-o")
        .arg(&theirs)
        .output()
        .unwrap();
    let bad = unexplained(&ours, &theirs);
    let _ = std::fs::remove_dir_all(&ours);
    let _ = std::fs::remove_dir_all(&theirs);
    bad
}

#[test]
fn flow_files_match_tcpflow() {
    if !have_tcpflow() {
        skipped(
            "flow_files_match_tcpflow",
            "tcpflow is not installed (apt-get install tcpflow)",
        );
        return;
    }
    // Always: the project's own capture.
    let loopback = repo().join("datasets/loopback/http-loopback.pcap");
    assert_eq!(compare(&loopback, 0), Vec::<String>::new());
    let Some(shared) = shared_captures("flow_files_match_tcpflow") else {
        return;
    };
    let mut captures: Vec<PathBuf> = Vec::new();
    for dir in ["zeek/http", "zeek/tcp", "more/http1", "more/tcp"] {
        for e in std::fs::read_dir(shared.join(dir)).unwrap() {
            let p = e.unwrap().path();
            let name = p.to_string_lossy();
            if p.is_file() && (name.ends_with(".pcap") || name.ends_with(".pcapng")) {
                captures.push(p);
            }
        }
    }
    captures.sort();
    assert!(captures.len() > 140);
    let prefix = format!("{}/", shared.display());
    let mut identical = 0;
    for (n, cap) in captures.iter().enumerate() {
        let rel = cap
            .display()
            .to_string()
            .trim_start_matches(&prefix)
            .to_string();
        let bad = compare(cap, n + 1);
        match DIFFERENT.iter().find(|(f, _)| *f == rel) {
            None => {
                assert!(bad.is_empty(), "{rel}: {bad:?}");
                identical += 1;
            }
            Some(_) => assert!(
                !bad.is_empty(),
                "{rel} now matches tcpflow: drop it from DIFFERENT"
            ),
        }
    }
    assert!(identical >= 135, "only {identical} captures match");
}

#[test]
fn console_output_and_filter() {
    let loopback = repo().join("datasets/loopback/http-loopback.pcap");
    let o = wirehouse(&[
        "flows",
        "-c",
        "--filter",
        "port 18081",
        &loopback.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    let heads: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("127.000.000.001.") || l.starts_with("::1."))
        .collect();
    assert!(!heads.is_empty());
    for l in &heads {
        let name = l.split(": ").next().unwrap();
        assert!(name.contains(".18081"), "filtered out: {name}");
    }
    // The chunked response's first chunk as the server sent it.
    assert!(text.contains("5;name=first\r\nhello\r\n"));
}
