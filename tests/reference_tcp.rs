//! TCP connection analysis against independent references: Zeek's own conn.log output for
//! traces of its test suite, and tshark's `tcp.analysis.initial_rtt` for every capture of the
//! corpus that has one (tests/fixtures/tshark_initial_rtt.tsv, made by
//! scripts/tshark-initial-rtt.sh with tshark 4.0.17).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;

/// A Zeek log (TSV with a `#fields` header, or btest-cut output with a plain header line).
fn zeek_log(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fields: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = Some(f.split('\t').map(String::from).collect());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some(f) = &fields else {
            fields = Some(line.split('\t').map(String::from).collect());
            continue;
        };
        rows.push(
            f.iter()
                .cloned()
                .zip(line.split('\t').map(String::from))
                .collect(),
        );
    }
    rows
}

/// The trace a reference log was made from: `<trace path with / as __>.<test>.<log>`.
fn trace_of(shared: &Path, log_name: &str) -> std::path::PathBuf {
    let stem = &log_name[..log_name.find(".pcap").unwrap()];
    let base = shared.join("zeek").join(stem.replace("__", "/"));
    let pcap = base.with_extension("pcap");
    if pcap.exists() {
        pcap
    } else {
        base.with_extension("pcapng")
    }
}

#[test]
fn connections_agree_with_zeek_conn_logs() {
    let Some(shared) = shared_captures("connections_agree_with_zeek_conn_logs") else {
        return;
    };
    let mut logs: Vec<_> = std::fs::read_dir(shared.join("zeek-reference"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".conn.log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 15, "reference conn.logs missing");
    let mut compared = 0;
    for log in logs {
        let name = log.file_name().unwrap().to_string_lossy().to_string();
        let trace = trace_of(&shared, &name);
        let out = analyze(&format!("zeek-conn-{compared}"), &[&trace], &[]);
        let ours = rows(&out, "connections");
        let zeek: Vec<_> = zeek_log(&log)
            .into_iter()
            .filter(|z| z.get("proto").is_none_or(|p| p == "tcp"))
            .collect();
        assert_eq!(ours.len(), zeek.len(), "{name}: number of TCP connections");
        if zeek[0].contains_key("id.orig_h") {
            for z in &zeek {
                let key = (
                    z["id.orig_h"].clone(),
                    z["id.orig_p"].parse::<i64>().unwrap(),
                    z["id.resp_h"].clone(),
                    z["id.resp_p"].parse::<i64>().unwrap(),
                );
                let r = ours
                    .iter()
                    .find(|r| {
                        (
                            r["client_ip"].str().unwrap().to_string(),
                            r["client_port"].int().unwrap(),
                            r["server_ip"].str().unwrap().to_string(),
                            r["server_port"].int().unwrap(),
                        ) == key
                    })
                    .unwrap_or_else(|| {
                        panic!("{name}: no connection {key:?} (client/server as Zeek's orig/resp)")
                    });
                for (zf, of) in [
                    ("conn_state", "conn_state"),
                    ("history", "history"),
                    ("orig_bytes", "client_bytes"),
                    ("resp_bytes", "server_bytes"),
                    ("missed_bytes", "missing_bytes"),
                    ("orig_pkts", "client_pkts"),
                    ("resp_pkts", "server_pkts"),
                ] {
                    let Some(zv) = z.get(zf).filter(|v| *v != "-") else {
                        continue;
                    };
                    let ov = match &r[of] {
                        Value::Int(i) => i.to_string(),
                        Value::Str(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    assert_eq!(&ov, zv, "{name} {key:?}: {of} vs Zeek's {zf}");
                }
                compared += 1;
            }
        } else {
            // btest-cut logs without connection ids: compare the multiset of what they show.
            for col in ["history", "conn_state"] {
                if !zeek[0].contains_key(col) {
                    continue;
                }
                let mut z: Vec<String> = zeek.iter().map(|z| z[col].clone()).collect();
                let mut o: Vec<String> = ours
                    .iter()
                    .map(|r| r[col].str().unwrap().to_string())
                    .collect();
                z.sort();
                o.sort();
                assert_eq!(o, z, "{name}: {col}");
            }
            compared += zeek.len();
        }
    }
    assert!(compared >= 24, "compared only {compared} connections");
}

/// Captures where tshark and wirehouse legitimately disagree about which connection a
/// handshake belongs to. Each entry says why ours is right.
const RTT_EXCEPTIONS: &[(&str, &str)] = &[
    (
        "zeek/vlan-collisions.pcap",
        "the same 4-tuple on three VLANs: Zeek and wirehouse keep three connections; tshark's \
         conversation key ignores VLAN tags, merges them into one stream and measures from one \
         VLAN's SYN to another VLAN's ACK",
    ),
    (
        "zeek/vlan-pcp-dei.pcapng",
        "the same 4-tuple on three VLANs (see vlan-collisions)",
    ),
    (
        "zeek/modbus/modbus-and-non-modbus-p502.pcap",
        "SYN, SYN/ACK, RST from the client, then 15 s of silence and data: tshark keeps one \
         stream forever and reports a 15.7 s 'RTT' to the post-RST ACK; the RST ended that \
         connection, so the later packets are a new (mid-stream) connection, as Zeek also \
         splits them after its tcp_reset_delay",
    ),
];

#[test]
fn handshake_rtt_matches_tshark() {
    let Some(shared) = shared_captures("handshake_rtt_matches_tshark") else {
        return;
    };
    let fixture = repo().join("tests/fixtures/tshark_initial_rtt.tsv");
    let text = std::fs::read_to_string(&fixture).unwrap();
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let tmpf = tmp("rtt-fixture");
    std::fs::create_dir_all(&tmpf).unwrap();
    std::fs::write(tmpf.join("f.tsv"), body).unwrap();
    let reference = tsv(&tmpf.join("f.tsv"));
    assert!(reference.len() > 1300);
    let mut files: Vec<String> = reference.iter().map(|r| r["file"].clone()).collect();
    files.sort();
    files.dedup();
    let paths: Vec<std::path::PathBuf> = files.iter().map(|f| shared.join(f)).collect();
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let out = analyze("rtt", &refs, &[]);
    let ours = rows(&out, "connections");
    // Group both sides by (file, unordered port pair); within a group, match in time order.
    let prefix = format!("{}/", shared.display());
    let mut mine: HashMap<(String, (i64, i64)), Vec<&Row>> = HashMap::new();
    for r in &ours {
        let f = r["file"]
            .str()
            .unwrap()
            .trim_start_matches(&prefix)
            .to_string();
        let (a, b) = (
            r["client_port"].int().unwrap(),
            r["server_port"].int().unwrap(),
        );
        mine.entry((f, (a.min(b), a.max(b)))).or_default().push(r);
    }
    type Streams = HashMap<(String, (i64, i64)), Vec<(i64, f64)>>;
    let mut theirs: Streams = HashMap::new();
    for t in &reference {
        let (a, b): (i64, i64) = (t["sport"].parse().unwrap(), t["dport"].parse().unwrap());
        theirs
            .entry((t["file"].clone(), (a.min(b), a.max(b))))
            .or_default()
            .push((
                t["stream"].parse().unwrap(),
                t["initial_rtt_s"].parse().unwrap(),
            ));
    }
    let mut matched = 0;
    for (key, mut streams) in theirs {
        if RTT_EXCEPTIONS.iter().any(|(f, _)| *f == key.0) {
            continue;
        }
        streams.sort_by_key(|s| s.0);
        let mut conns: Vec<&Row> = mine
            .get(&key)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|r| r["handshake_rtt_us"] != Value::Null)
                    .collect()
            })
            .unwrap_or_default();
        conns.sort_by_key(|r| r["first_ts"].int());
        assert_eq!(
            conns.len(),
            streams.len(),
            "{key:?}: tshark measured {} handshakes, wirehouse {}",
            streams.len(),
            conns.len()
        );
        for ((stream, rtt), r) in streams.iter().zip(conns) {
            let expected = (rtt * 1e6).round() as i64;
            let got = r["handshake_rtt_us"].int().unwrap();
            assert!(
                (got - expected).abs() <= 1,
                "{key:?} stream {stream}: handshake_rtt_us {got}, tshark {expected}"
            );
            matched += 1;
        }
    }
    assert!(matched >= 1360, "matched only {matched}");
}
