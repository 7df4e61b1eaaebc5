//! Large generated captures (datasets/gen, deterministic seed) with known ground truth:
//! results against the generator's truth, determinism across thread counts and window
//! sizes, and the memory caps (live connections, out-of-order buffer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;

/// Generate a capture and its truth into a scratch directory that lives as long as the
/// returned guard (bind it to a named variable: `_` would drop it at once).
fn generate(name: &str, f: impl FnOnce(&mut wirehouse_gen::Args)) -> (Scratch, PathBuf, PathBuf) {
    let dir = tmp(&format!("gen-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("capture.pcap");
    let truth = dir.join("truth");
    let mut a = wirehouse_gen::Args::new(pcap.clone());
    a.truth = Some(truth.clone());
    f(&mut a);
    if let Err(e) = wirehouse_gen::generate(&a) {
        panic!("generating {}: {e}", pcap.display());
    }
    (dir, pcap, truth)
}

/// `bytes` gzip-compressed.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn int(m: &HashMap<String, String>, k: &str) -> i64 {
    m[k].parse().unwrap_or_else(|_| panic!("{k} = {:?}", m[k]))
}

#[test]
fn analysis_matches_the_generators_truth() {
    let (_dir, pcap, truth) = generate("truth", |a| {
        a.size = "24M".into();
        a.seed = 3;
        a.concurrency = 300;
        a.retransmit = 0.02;
        a.reorder = 0.01;
        a.loss = 0.002;
    });
    let out = analyze("gen-truth-out", &[&pcap], &[]);
    let conns = rows(&out, "connections");
    let truth_conns = tsv(&truth.join("connections.tsv"));
    assert!(truth_conns.len() > 300);
    assert_eq!(conns.len(), truth_conns.len(), "connections");
    let key = |ip: &str, port: i64| format!("{ip}:{port}");
    let ours: HashMap<String, &Row> = conns
        .iter()
        .map(|r| {
            (
                key(
                    r["client_ip"].str().unwrap(),
                    r["client_port"].int().unwrap(),
                ),
                r,
            )
        })
        .collect();
    let (mut lossy, mut retransmitted) = (0, 0);
    for t in &truth_conns {
        let k = key(&t["client_ip"], int(t, "client_port"));
        let c = ours.get(&k).unwrap_or_else(|| panic!("no connection {k}"));
        let eq = |col: &str, v: i64| assert_eq!(c[col].int(), Some(v), "{k}: {col}");
        eq("server_port", int(t, "server_port"));
        eq("client_bytes", int(t, "client_bytes"));
        eq("server_bytes", int(t, "server_bytes"));
        eq("client_missing_bytes", int(t, "missing_client_bytes"));
        eq("server_missing_bytes", int(t, "missing_server_bytes"));
        eq("client_pkts", c["client_pkts"].int().unwrap()); // (type check)
        assert_eq!(
            c["client_pkts"].int().unwrap() + c["server_pkts"].int().unwrap(),
            int(t, "packets"),
            "{k}: packets"
        );
        eq(
            "handshake_rtt_us",
            (int(t, "ack_ns") - int(t, "syn_ns")) / 1000,
        );
        eq(
            "server_rtt_us",
            (int(t, "syn_ack_ns") - int(t, "syn_ns")) / 1000,
        );
        eq(
            "client_rtt_us",
            (int(t, "ack_ns") - int(t, "syn_ack_ns")) / 1000,
        );
        assert_eq!(c["close_kind"].str(), Some(t["close_kind"].as_str()), "{k}");
        assert_eq!(
            c["close_initiator"].str(),
            Some(t["close_initiator"].as_str()),
            "{k}"
        );
        if t["proto"] == "http1" {
            eq("requests", int(t, "requests"));
        }
        lossy += i64::from(int(t, "missing_server_bytes") + int(t, "missing_client_bytes") > 0);
        retransmitted += int(t, "retransmitted_pkts");
    }
    assert!(
        lossy > 5 && retransmitted > 50,
        "impairments exercised: {lossy} lossy, {retransmitted} retransmitted"
    );

    let http = rows(&out, "http");
    let reqs: Vec<_> = tsv(&truth.join("requests.tsv"))
        .into_iter()
        .filter(|r| r["stream_id"] == "0")
        .collect();
    assert!(reqs.len() > 500);
    let truth_req: HashMap<(String, i64, i64), &HashMap<String, String>> = reqs
        .iter()
        .map(|r| {
            (
                (
                    r["client_ip"].clone(),
                    int(r, "client_port"),
                    int(r, "trans_depth"),
                ),
                r,
            )
        })
        .collect();
    let (mut idle_checked, mut after_lossy_response) = (0, 0);
    let mut checked = 0;
    for r in &reqs {
        let h = http
            .iter()
            .find(|h| {
                h["client_ip"].str() == Some(r["client_ip"].as_str())
                    && h["client_port"].int() == Some(int(r, "client_port"))
                    && h["trans_depth"].int() == Some(int(r, "trans_depth"))
            })
            .unwrap_or_else(|| panic!("no transaction {r:?}"));
        let what = format!(
            "{}:{} #{}",
            r["client_ip"], r["client_port"], r["trans_depth"]
        );
        assert_eq!(h["method"].str(), Some(r["method"].as_str()), "{what}");
        assert_eq!(h["uri"].str(), Some(r["uri"].as_str()), "{what}");
        assert_eq!(h["host"].str(), Some(r["host"].as_str()), "{what}");
        assert_eq!(h["status"].int(), Some(int(r, "status")), "{what}");
        assert_eq!(
            h["request_body_bytes"].int(),
            Some(int(r, "request_body_bytes")),
            "{what}"
        );
        assert_eq!(
            h["ts"].int(),
            Some(int(r, "request_ns")),
            "{what}: request start"
        );
        assert_eq!(
            h["response_ts"].int(),
            Some(int(r, "response_ns")),
            "{what}: response start"
        );
        let (req_lost, resp_lost) = (
            int(r, "request_missing_bytes"),
            int(r, "response_missing_bytes"),
        );
        assert_eq!(
            h["missing_bytes"].int(),
            Some(req_lost + resp_lost),
            "{what}: missing bytes"
        );
        // `complete` means the whole response was seen: a hole in the request does not
        // change it, a hole in the response does.
        assert_eq!(
            h["complete"].bool(),
            Some(resp_lost == 0),
            "{what}: complete"
        );
        if resp_lost == 0 || r["chunked"] == "0" {
            // Content-Length framing survives a hole (its bytes are counted as body);
            // a hole inside chunked framing loses the chunk sizes, so counting stops and the
            // end is only known at the next message or the close.
            assert_eq!(
                h["response_body_bytes"].int(),
                Some(int(r, "response_body_bytes")),
                "{what}: body"
            );
            assert_eq!(
                h["response_end_ts"].int(),
                Some(int(r, "response_end_ns")),
                "{what}: response end"
            );
        }
        // The generator's clients wait for each response before the next request, so no
        // request is pipelined, however the capture lost bytes of the responses.
        assert_eq!(h["pipelined"].bool(), Some(false), "{what}: pipelined");
        let depth = int(r, "trans_depth");
        if let Some(prev) =
            truth_req.get(&(r["client_ip"].clone(), int(r, "client_port"), depth - 1))
        {
            let prev_lost = int(prev, "response_missing_bytes") > 0;
            after_lossy_response += i64::from(prev_lost);
            if !prev_lost || prev["chunked"] == "0" {
                assert_eq!(
                    h["idle_before_us"].int(),
                    Some((int(r, "request_ns") - int(prev, "response_end_ns")) / 1000),
                    "{what}: idle before"
                );
                idle_checked += 1;
            }
        }
        checked += 1;
    }
    assert_eq!(checked, reqs.len());
    assert!(
        idle_checked > 100 && after_lossy_response > 0,
        "{idle_checked} idle times checked, {after_lossy_response} requests after a lossy response"
    );
}

/// Every table as a sorted list of printed rows.
fn row_set(out: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for table in ["captures", "connections", "http", "events"] {
        for r in rows(out, table) {
            all.push(format!("{table}|{}", printed(&r, &[])));
        }
    }
    all.sort();
    all
}

/// A row as its `column=value` pairs in column order, leaving out the columns in `skip`.
fn printed(r: &Row, skip: &[&str]) -> String {
    let mut cols: Vec<_> = r
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    cols.sort();
    cols.join(",")
}

#[test]
fn rows_are_identical_for_any_thread_count_and_window_size() {
    let (_dir, pcap, _) = generate("determinism", |a| {
        a.size = "12M".into();
        a.seed = 11;
        a.concurrency = 400;
        a.retransmit = 0.02;
        a.reorder = 0.02;
        a.loss = 0.005;
    });
    let p: &Path = &pcap;
    // A short idle timeout makes connections expire and 4-tuples restart inside the
    // capture, so the sweep and eviction paths are part of what must be deterministic.
    let base = row_set(&analyze(
        "det-1",
        &[p],
        &["-j", "1", "--window-mib", "64", "--idle-timeout", "0.02"],
    ));
    assert!(base.len() > 1000);
    for (n, args) in [
        ["-j", "2", "--window-mib", "1", "--idle-timeout", "0.02"],
        ["-j", "8", "--window-mib", "2", "--idle-timeout", "0.02"],
        ["-j", "3", "--window-mib", "5", "--idle-timeout", "0.02"],
    ]
    .iter()
    .enumerate()
    {
        let other = row_set(&analyze(&format!("det-{}", n + 2), &[p], args));
        assert_eq!(other.len(), base.len(), "{args:?}");
        assert!(other == base, "{args:?}: row sets differ");
    }
    // The project's real recordings (clean, and through 3 % loss), as two inputs read side
    // by side, against one thread and windows far larger than either file.
    let real = [
        repo().join("datasets/loopback/http-loopback.pcap"),
        repo().join("datasets/loopback-lossy/http-loopback.pcap"),
    ];
    let real: Vec<&Path> = real.iter().map(|p| p.as_path()).collect();
    let one = row_set(&analyze(
        "det-real-1",
        &real,
        &["-j", "1", "--window-mib", "64"],
    ));
    assert!(one.len() > 100);
    for (n, args) in [
        ["-j", "2", "--window-mib", "1"],
        ["-j", "8", "--shards", "3"],
    ]
    .iter()
    .enumerate()
    {
        let other = row_set(&analyze(&format!("det-real-{}", n + 2), &real, args));
        assert!(
            other == one,
            "{args:?}: row sets of the loopback recordings differ"
        );
    }
    // Corpus captures: files processed side by side versus one thread.
    if let Some(shared) =
        shared_captures("rows_are_identical_for_any_thread_count_and_window_size (its corpus part)")
    {
        let dirs = [
            shared.join("zeek/http"),
            shared.join("zeek/tcp"),
            shared.join("more/tcp"),
        ];
        let refs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
        let one = row_set(&analyze("det-corpus-1", &refs, &["-j", "1"]));
        let many = row_set(&analyze(
            "det-corpus-8",
            &refs,
            &["-j", "8", "--window-mib", "1"],
        ));
        assert!(
            one == many,
            "corpus row sets differ between 1 and 8 threads"
        );
    }
}

#[test]
fn compressed_inputs_read_side_by_side_give_the_rows_of_the_plain_files() {
    // Compressed files are read side by side, as many at once as there are threads (one
    // core inflates each). Three generated captures, gzip, zstd and gzip again, each
    // inflating to several 1 MiB windows: the rows must be those of the same files
    // uncompressed, whatever the thread count.
    let mut plain = Vec::new();
    let mut packed = Vec::new();
    let mut guards = Vec::new();
    for (seed, kind) in [(21u64, "gz"), (22, "zst"), (23, "gz")] {
        let (dir, pcap, _) = generate(&format!("packed-{seed}"), |a| {
            a.size = "6M".into();
            a.seed = seed;
            a.concurrency = 300;
        });
        let bytes = std::fs::read(&pcap).unwrap();
        let out = pcap.with_extension(format!("pcap.{kind}"));
        let packed_bytes = if kind == "gz" {
            gzip(&bytes)
        } else {
            zstd::encode_all(&bytes[..], 3).unwrap()
        };
        std::fs::write(&out, packed_bytes).unwrap();
        plain.push(pcap);
        packed.push(out);
        guards.push(dir);
    }
    // The same rows but for what names or describes the file: its name, compression, size
    // on disk, and conn_id (derived from the file name).
    let comparable = |out: &Path| -> Vec<String> {
        let mut rows: Vec<String> = row_set(out)
            .into_iter()
            .map(|r| {
                let mut r = r.replace(".pcap.gz", ".pcap").replace(".pcap.zst", ".pcap");
                for col in ["compression", "file_bytes", "conn_id"] {
                    if let Some(i) = r.find(&format!("{col}=")) {
                        let end = r[i..].find(',').map_or(r.len(), |e| i + e);
                        r.replace_range(i..end, "");
                    }
                }
                r
            })
            .collect();
        rows.sort();
        rows
    };
    let p: Vec<&Path> = plain.iter().map(|p| p.as_path()).collect();
    let z: Vec<&Path> = packed.iter().map(|p| p.as_path()).collect();
    let reference = comparable(&analyze(
        "packed-plain",
        &p,
        &["-j", "1", "--window-mib", "1"],
    ));
    assert!(reference.len() > 1000);
    for threads in ["1", "2", "3"] {
        let out = analyze(
            &format!("packed-{threads}"),
            &z,
            &["-j", threads, "--window-mib", "1"],
        );
        let caps = rows(&out, "captures");
        let mut kinds: Vec<_> = caps
            .iter()
            .map(|c| c["compression"].str().unwrap().to_string())
            .collect();
        kinds.sort();
        assert_eq!(kinds, ["gzip", "gzip", "zstd"]);
        assert!(
            comparable(&out) == reference,
            "-j {threads}: rows differ from the plain files'"
        );
    }
}

/// Split a little-endian pcap into `n` files of about equal size at record boundaries, named
/// the way `tcpdump -C` names its rotations: `cap.pcap`, `cap.pcap1`, ..., `cap.pcap10`.
/// Past the second file, name order is not time order (`cap.pcap10` sorts before
/// `cap.pcap2`).
fn split_like_tcpdump_c(pcap: &Path, dir: &Path, n: usize) -> Vec<PathBuf> {
    let data = std::fs::read(pcap).unwrap();
    assert_eq!(
        &data[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian pcap"
    );
    let (head, mut rest) = data.split_at(24);
    let share = rest.len() / n + 1;
    std::fs::create_dir_all(dir).unwrap();
    let mut files = Vec::new();
    for i in 0..n {
        let mut piece = head.to_vec();
        while !rest.is_empty() && (piece.len() < share || i == n - 1) {
            let caplen = u32::from_le_bytes(rest[8..12].try_into().unwrap()) as usize;
            let (record, tail) = rest.split_at(16 + caplen);
            piece.extend_from_slice(record);
            rest = tail;
        }
        let name = if i == 0 {
            "cap.pcap".to_string()
        } else {
            format!("cap.pcap{i}")
        };
        let path = dir.join(name);
        std::fs::write(&path, piece).unwrap();
        files.push(path);
    }
    assert!(rest.is_empty());
    files
}

/// Rows of `table` without the columns that name the file (`file`, and `conn_id`, which is
/// derived from it), printed and sorted.
fn rows_without_file(out: &Path, table: &str) -> Vec<String> {
    let mut all: Vec<String> = rows(out, table)
        .iter()
        .map(|r| printed(r, &["file", "conn_id"]))
        .collect();
    all.sort();
    all
}

#[test]
fn merged_rotations_are_read_in_time_order_and_give_the_rows_of_the_whole_capture() {
    let (dir, pcap, truth) = generate("rotated", |a| {
        a.size = "12M".into();
        a.seed = 5;
        a.concurrency = 300;
    });
    let pieces = split_like_tcpdump_c(&pcap, &dir.join("rot"), 11);
    let rot = dir.join("rot");
    let whole = analyze("rot-whole", &[&pcap], &[]);
    // The directory lists the pieces in name order; --merge must read them in time order.
    let merged = analyze("rot-merged", &[&rot], &["--merge", "-j", "2"]);
    let truth_conns = tsv(&truth.join("connections.tsv")).len();
    assert_eq!(rows(&whole, "connections").len(), truth_conns);
    for table in ["connections", "http", "events"] {
        let (w, m) = (
            rows_without_file(&whole, table),
            rows_without_file(&merged, table),
        );
        assert_eq!(m.len(), w.len(), "{table} rows");
        assert!(
            m == w,
            "{table}: merged pieces and the whole capture differ"
        );
    }
    // The test means something only if connections cross the cuts: read as separate
    // streams, the pieces give more connections than the whole capture.
    let separate = analyze("rot-separate", &[&rot], &[]);
    assert!(rows(&separate, "connections").len() > truth_conns + 100);
    // No overlap between rotations; a file that starts before the end of the one read
    // before it is reported.
    let overlap = |out: &Path| -> Vec<String> {
        rows(out, "events")
            .into_iter()
            .filter(|r| r["kind"].str() == Some("merge_overlap"))
            .map(|r| r["file"].str().unwrap_or_default().to_string())
            .collect()
    };
    assert!(overlap(&merged).is_empty());
    let both = analyze("rot-overlap", &[&pcap, &pieces[3]], &["--merge"]);
    assert_eq!(overlap(&both), [pieces[3].display().to_string()]);
}

/// First and last record timestamps of a little-endian microsecond pcap, in nanoseconds.
fn time_range(pcap: &Path) -> (i64, i64) {
    let data = std::fs::read(pcap).unwrap();
    let mut rest = &data[24..];
    let (mut first, mut last) = (None, 0);
    while !rest.is_empty() {
        let word = |at: usize| i64::from(u32::from_le_bytes(rest[at..at + 4].try_into().unwrap()));
        let ts = word(0) * 1_000_000_000 + word(4) * 1_000;
        first.get_or_insert(ts);
        last = ts;
        rest = &rest[16 + word(8) as usize..];
    }
    (first.unwrap(), last)
}

/// Rotated files read as separate streams (no `--merge`): every connection open across a cut
/// is picked up mid-stream in the next file, often inside a response body. Every request the
/// generator sent wholly within one file, its response included, must be a row of that
/// file with the truth's URI, status, body size and times, whether its connection began
/// in that file or not. Before `Http1::begins_mid_stream`, a connection whose server stream
/// began inside a body was given up as not HTTP, with every request after it.
#[test]
fn separate_rotations_find_every_request_that_lies_within_one_file() {
    let (dir, pcap, truth) = generate("rot-mid", |a| {
        a.size = "24M".into();
        a.seed = 6;
        a.concurrency = 300;
        a.retransmit = 0.0;
        a.reorder = 0.0;
        a.loss = 0.0;
    });
    let pieces = split_like_tcpdump_c(&pcap, &dir.join("rot"), 8);
    let out = analyze("rot-mid-out", &[&dir.join("rot")], &[]);
    let http = rows(&out, "http");
    let conns: HashMap<(String, i64), i64> = tsv(&truth.join("connections.tsv"))
        .iter()
        .map(|c| {
            (
                (c["client_ip"].clone(), int(c, "client_port")),
                int(c, "syn_ns"),
            )
        })
        .collect();
    let reqs: Vec<_> = tsv(&truth.join("requests.tsv"))
        .into_iter()
        .filter(|r| r["stream_id"] == "0")
        .collect();
    let (mut checked, mut mid_stream) = (0, 0);
    for piece in &pieces {
        let (first, last) = time_range(piece);
        let name = piece.display().to_string();
        for r in &reqs {
            if int(r, "request_ns") < first || int(r, "response_end_ns") > last {
                continue;
            }
            let client = (r["client_ip"].clone(), int(r, "client_port"));
            let what = format!("{}:{} #{} in {name}", client.0, client.1, r["trans_depth"]);
            let h = http
                .iter()
                .find(|h| {
                    h["file"].str() == Some(name.as_str())
                        && h["client_ip"].str() == Some(client.0.as_str())
                        && h["client_port"].int() == Some(client.1)
                        && h["ts"].int() == Some(int(r, "request_ns"))
                })
                .unwrap_or_else(|| panic!("no transaction {what}"));
            assert_eq!(h["uri"].str(), Some(r["uri"].as_str()), "{what}");
            assert_eq!(h["status"].int(), Some(int(r, "status")), "{what}");
            assert_eq!(
                h["response_body_bytes"].int(),
                Some(int(r, "response_body_bytes")),
                "{what}"
            );
            assert_eq!(
                h["response_ts"].int(),
                Some(int(r, "response_ns")),
                "{what}"
            );
            checked += 1;
            mid_stream += i64::from(conns[&client] < first);
        }
    }
    assert!(
        checked > 300 && mid_stream > 80,
        "{checked} requests checked, {mid_stream} on connections picked up mid-stream"
    );
}

#[test]
fn a_truncated_gzip_capture_keeps_every_packet_before_the_cut() {
    // A .gz cut short (rotated while it was written): every whole record the decoder could
    // still inflate is read, and the fault is reported at the offset it happened.
    use std::io::Read;
    let (_dir, pcap, _) = generate("cut-gz", |a| {
        a.size = "8M".into();
        a.seed = 31;
        a.concurrency = 200;
    });
    let gz = gzip(&std::fs::read(&pcap).unwrap());
    let cut_path = pcap.with_extension("pcap.gz");
    std::fs::write(&cut_path, &gz[..gz.len() * 2 / 3]).unwrap();
    // What a decoder gets out of the cut file before it fails, and the whole records in it
    // (a classic little-endian pcap: a 24-byte header, then 16-byte record headers).
    let mut prefix = Vec::new();
    let mut d = flate2::read::GzDecoder::new(std::fs::File::open(&cut_path).unwrap());
    assert!(
        d.read_to_end(&mut prefix).is_err(),
        "the cut file must fail to inflate"
    );
    assert!(
        prefix.len() > 2 << 20,
        "only {} bytes inflate",
        prefix.len()
    );
    let (mut at, mut records, mut captured) = (24usize, 0i64, 0i64);
    while at + 16 <= prefix.len() {
        let caplen = u32::from_le_bytes(prefix[at + 8..at + 12].try_into().unwrap()) as usize;
        if at + 16 + caplen > prefix.len() {
            break;
        }
        at += 16 + caplen;
        records += 1;
        captured += caplen as i64;
    }
    let out = analyze("cut-gz-out", &[&cut_path], &["--window-mib", "1"]);
    let caps = rows(&out, "captures");
    assert_eq!(caps[0]["packets"].int(), Some(records));
    assert_eq!(caps[0]["bytes"].int(), Some(captured));
    let error = caps[0]["error"].str().unwrap();
    assert!(error.contains("decompression failed"), "{error}");
    assert_eq!(caps[0]["error_offset"].int(), Some(prefix.len() as i64));
    assert!(rows(&out, "connections").len() > 100);
}

#[test]
fn a_flood_of_half_open_connections_stays_within_the_cap() {
    let (_dir, pcap, truth) = generate("halfopen", |a| {
        a.scenario = "half-open".into();
        a.connections = 1_000_000;
    });
    let summary = tsv(&truth.join("summary.tsv"));
    let total: i64 = int(&summary[0], "connections");
    assert_eq!(total, 1_000_000);
    let out = tmp("halfopen-out");
    let o = wirehouse(&[
        "analyze",
        &pcap.display().to_string(),
        "-o",
        &out.display().to_string(),
        "--max-connections",
        "20000",
        "--stats",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let caps = rows(&out, "captures");
    let evicted = caps[0]["connections_evicted"].int().unwrap();
    // With at most 20000 live (in 64 shards of 312), nearly every connection is evicted
    // before its idle timeout could retire it; each eviction is counted and reported.
    assert!(evicted > 900_000, "evicted {evicted}");
    assert!(caps[0]["connections"].int().unwrap() > total);
    let events = rows(&out, "events");
    let evict_events = events
        .iter()
        .filter(|e| e["kind"].str() == Some("connection_evicted"))
        .count() as i64;
    assert_eq!(evict_events, evicted);
    // Every connection gets its row. A SYN retried after its connection was evicted can
    // only start a new one (nothing of the old one is left), so under a flood past the cap
    // there is one row per SYN packet.
    let syns: i64 = tsv(&truth.join("connections.tsv"))
        .iter()
        .map(|t| int(t, "syns"))
        .sum();
    let conns = rows(&out, "connections");
    // (The few ordinary connections mixed into the flood can be evicted too; their later
    // packets then start mid-stream rows of their own.)
    assert!(
        conns.len() as i64 >= syns,
        "{} rows for {syns} SYNs",
        conns.len()
    );
    let syn_only = conns
        .iter()
        .filter(|c| c["handshake"].str() == Some("syn_only"))
        .count();
    assert!(syn_only >= 980_000);
    // Memory stays far below what a million live connections would take.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let peak_mb: f64 = stdout
        .lines()
        .find_map(|l| l.split("peak RSS ").nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("--stats reports peak RSS");
    assert!(peak_mb < 1024.0, "peak RSS {peak_mb} MB");
    // --stats reports the CPU time from /proc: a million connections take well over a tenth
    // of a second, and the system share is a share.
    let cpu: Vec<f64> = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("cpu: "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.trim_start_matches('(').parse().ok())
                .collect()
        })
        .expect("--stats reports CPU time");
    assert_eq!(cpu.len(), 3, "user, system, percent: {cpu:?}");
    assert!(cpu[0] > 0.1, "user CPU {cpu:?}");
    assert!((0.0..=100.0).contains(&cpu[2]), "system share {cpu:?}");
    let expected = 100.0 * cpu[1] / (cpu[0] + cpu[1]);
    assert!((cpu[2] - expected).abs() < 1.0, "system share {cpu:?}");
    // How busy the window loop kept the threads: task time over threads x wall time, a
    // share, and the figures it is computed from printed beside it.
    let lp: Vec<f64> = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("window loop: threads busy "))
        .map(|l| {
            l.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .expect("--stats reports how busy the window loop was");
    assert_eq!(lp.len(), 4, "share, task ms, threads, wall ms: {lp:?}");
    assert!((0.0..=100.0).contains(&lp[0]), "{lp:?}");
    assert!(lp[1] > 0.0 && lp[2] >= 1.0 && lp[3] > 0.0, "{lp:?}");
    let share = (100.0 * lp[1] / (lp[2] * lp[3])).min(100.0);
    assert!((lp[0] - share).abs() <= 1.0, "{lp:?}");
}

#[test]
fn a_huge_out_of_order_hole_is_bounded_by_the_buffer_cap() {
    let (_dir, pcap, _) = generate("hole", |a| {
        a.scenario = "ooo-hole".into();
        a.size = "48M".into();
    });
    let out = analyze("hole-out", &[&pcap], &["--max-ooo-mib", "2"]);
    let conns = rows(&out, "connections");
    assert_eq!(conns.len(), 4);
    for c in &conns {
        // One lost segment (1448 bytes) that nothing acknowledges: everything after it is
        // out of order until the 2 MiB cap gives the hole up as a gap.
        assert_eq!(c["server_missing_bytes"].int(), Some(1448));
        assert!(c["ooo_cap_hits"].int().unwrap() >= 1);
        // The body plus "HTTP/1.1 200 OK\r\nContent-Length: 12582912\r\n\r\n" (45 bytes).
        assert_eq!(c["server_bytes"].int(), Some(12 * 1024 * 1024 + 45));
    }
    let http = rows(&out, "http");
    assert_eq!(http.len(), 4);
    for h in &http {
        assert_eq!(h["status"].int(), Some(200));
        assert_eq!(h["response_body_bytes"].int(), Some(12 * 1024 * 1024));
        assert_eq!(h["missing_bytes"].int(), Some(1448));
    }
    let caps = rows(&out, "captures");
    assert!(caps[0]["ooo_cap_hits"].int().unwrap() >= 4);
}

/// `wirehouse analyze --stats` into a fresh directory: the output and the out-of-order peak
/// it reports (bytes, each shard's peak summed).
fn analyze_ooo_peak(name: &str, pcap: &Path, extra: &[&str]) -> (Scratch, u64) {
    let out = tmp(name);
    let mut args = vec![
        "analyze".to_string(),
        pcap.display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "--stats".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = wirehouse(&argv);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let peak = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("out-of-order buffers: peak "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("--stats reports the out-of-order peak:\n{stdout}"));
    (out, peak)
}

#[test]
fn out_of_order_bytes_of_all_connections_stay_within_the_total_cap() {
    // 64 one-sided streams at once, each losing an early segment that nothing acknowledges:
    // everything after each hole waits, 1 MiB per stream, far below the per-direction cap.
    // Only the cap on all connections together (per shard: 16 MiB / 8) can bound it.
    const MSS: u64 = 1448;
    const BODY: i64 = 1 << 20;
    let (_dir, pcap, _) = generate("total-cap", |a| {
        a.scenario = "ooo-hole".into();
        a.streams = 64;
        a.size = "64M".into();
    });
    let (free, free_peak) = analyze_ooo_peak("total-cap-free", &pcap, &["--shards", "8"]);
    let (capped, capped_peak) = analyze_ooo_peak(
        "total-cap-16",
        &pcap,
        &["--shards", "8", "--max-ooo-total-mib", "16"],
    );
    // Without the cap (256 MiB) nearly all of the 64 MiB after the holes is held at once.
    assert!(free_peak > 48 << 20, "uncapped peak {free_peak}");
    // With it, a shard sheds as soon as a segment takes it past its 2 MiB share: each
    // shard's peak is at most its share plus that one segment.
    assert!(
        capped_peak <= (16 << 20) + 8 * MSS,
        "capped peak {capped_peak}"
    );
    // Nothing is lost for it: every stream misses exactly its one segment, and every
    // response is whole.
    for out in [&free, &capped] {
        let conns = rows(out, "connections");
        assert_eq!(conns.len(), 64);
        for c in &conns {
            assert_eq!(c["server_missing_bytes"].int(), Some(MSS as i64));
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {BODY}\r\n\r\n");
            assert_eq!(c["server_bytes"].int(), Some(BODY + head.len() as i64));
        }
        let http = rows(out, "http");
        assert_eq!(http.len(), 64);
        for h in &http {
            assert_eq!(h["status"].int(), Some(200));
            assert_eq!(h["response_body_bytes"].int(), Some(BODY));
            assert_eq!(h["missing_bytes"].int(), Some(MSS as i64));
        }
    }
    // Each hole given up early is counted: per connection, per capture, and as an event.
    let hits = |out: &Path| -> (i64, i64, i64) {
        let per_conn: i64 = rows(out, "connections")
            .iter()
            .map(|c| c["ooo_cap_hits"].int().unwrap())
            .sum();
        let per_capture = rows(out, "captures")[0]["ooo_cap_hits"].int().unwrap();
        let events = rows(out, "events")
            .iter()
            .filter(|e| e["kind"].str() == Some("reassembly_buffer_cap"))
            .count() as i64;
        (per_conn, per_capture, events)
    };
    let (free_hits, capped_hits) = (hits(&free), hits(&capped));
    for (n, c, e) in [free_hits, capped_hits] {
        assert_eq!((c, e), (n, n));
    }
    assert!(
        capped_hits.0 >= 32 && capped_hits.0 > free_hits.0,
        "hits capped {capped_hits:?}, uncapped {free_hits:?}"
    );
    // Shedding depends only on each shard's own packets: the same rows at 1 thread with
    // 1 MiB windows.
    let (serial, _) = analyze_ooo_peak(
        "total-cap-16-serial",
        &pcap,
        &[
            "--shards",
            "8",
            "--max-ooo-total-mib",
            "16",
            "-j",
            "1",
            "--window-mib",
            "1",
        ],
    );
    assert!(row_set(&capped) == row_set(&serial), "row sets differ");
}

#[test]
fn at_the_connection_cap_closed_connections_go_before_live_ones_are_evicted() {
    let (_dir, pcap, _truth) = generate("cap-closed-first", |a| {
        a.size = "8M".into();
        a.concurrency = 2000;
    });
    // 640 live connections (10 per shard) for 2000 concurrent ones: the cap is hit all the
    // time, while finished connections are still lingering for late packets.
    let out = analyze(
        "cap-closed-first-out",
        &[&pcap],
        &["--max-connections", "640"],
    );
    let conns = rows(&out, "connections");
    let state: HashMap<i64, Option<&str>> = conns
        .iter()
        .map(|c| (c["conn_id"].int().unwrap(), c["conn_state"].str()))
        .collect();
    let evicted: Vec<i64> = rows(&out, "events")
        .iter()
        .filter(|e| e["kind"].str() == Some("connection_evicted"))
        .map(|e| e["conn_id"].int().unwrap())
        .collect();
    assert!(
        evicted.len() > 100,
        "the cap was hardly hit: {}",
        evicted.len()
    );
    // A connection that had finished (FIN both ways: Zeek's SF) is retired as closed when
    // room is needed; only live connections are evicted.
    for id in &evicted {
        assert_ne!(
            state[id],
            Some("SF"),
            "finished connection {id} was evicted"
        );
    }
    let caps = rows(&out, "captures");
    assert_eq!(
        caps[0]["connections_evicted"].int().unwrap(),
        evicted.len() as i64
    );
}

/// The counts that events of `kind` start their detail with ("129 closed connections ...").
fn event_counts(out: &Path, kind: &str) -> Vec<i64> {
    rows(out, "events")
        .iter()
        .filter(|e| e["kind"].str() == Some(kind))
        .map(|e| {
            let d = e["detail"].str().unwrap();
            d.split(' ').next().unwrap().parse::<i64>().unwrap()
        })
        .collect()
}

#[test]
fn closed_connections_beyond_the_lingering_cap_are_retired_whole() {
    // 2000 connections closing within a fraction of a second of capture time: far more than
    // the 1024 closed connections (16 per shard) this run may keep for late packets.
    let (_dir, pcap, truth) = generate("linger-cap", |a| {
        a.size = "8M".into();
        a.concurrency = 2000;
    });
    let out = analyze("linger-cap-out", &[&pcap], &["--max-closed", "1024"]);
    let truth_conns = tsv(&truth.join("connections.tsv"));
    let conns = rows(&out, "connections");
    let key = |ip: &str, port: i64| format!("{ip}:{port}");
    let mut by_client: HashMap<String, Vec<&Row>> = HashMap::new();
    for r in &conns {
        by_client
            .entry(key(
                r["client_ip"].str().unwrap(),
                r["client_port"].int().unwrap(),
            ))
            .or_default()
            .push(r);
    }
    // Every connection is reported with all of its bytes and its real ending.
    for t in &truth_conns {
        let k = key(&t["client_ip"], int(t, "client_port"));
        let rs = &by_client[&k];
        let c = rs
            .iter()
            .find(|r| r["handshake"].str() != Some("midstream"))
            .unwrap_or_else(|| panic!("{k}: no row with its handshake"));
        assert_eq!(c["client_bytes"].int(), Some(int(t, "client_bytes")), "{k}");
        assert_eq!(c["server_bytes"].int(), Some(int(t, "server_bytes")), "{k}");
        assert_eq!(c["close_kind"].str(), Some(t["close_kind"].as_str()), "{k}");
    }
    // The cap did act, and says so in events (how many were retired, and why).
    let retired: i64 = event_counts(&out, "closed_connections_retired")
        .iter()
        .sum();
    assert!(retired >= 500, "only {retired} retired early");
    let uncapped = analyze("linger-uncapped-out", &[&pcap], &[]);
    assert!(
        !rows(&uncapped, "events")
            .iter()
            .any(|e| e["kind"].str() == Some("closed_connections_retired"))
    );
    // A late packet of a connection retired early (an ACK of the last FIN) is recognised
    // within the close delay and dropped, and counted: it does not become a row of its own.
    let extra: Vec<&&Row> = by_client
        .values()
        .flat_map(|rs| {
            rs.iter()
                .filter(|r| r["handshake"].str() == Some("midstream"))
        })
        .collect();
    assert!(extra.is_empty(), "{} split rows: {extra:?}", extra.len());
    assert_eq!(conns.len(), truth_conns.len());
    let late = event_counts(&out, "late_packets_of_retired_connections");
    assert_eq!(late.len(), 1, "one count per stream: {late:?}");
    assert!(late[0] > 0, "{late:?}");
}

#[test]
fn the_plain_segment_shortcut_changes_no_row() {
    // The reassembler's shortcut for plain in-order segments must be invisible: every table
    // is the same with it and without it, on a lossy generated capture, the real loopback
    // recording, and the corpus's TCP and HTTP captures.
    let (_dir, pcap, _) = generate("shortcut", |a| {
        // Without the corpus (as in CI) the rows must still pass the floor below: 32M gives
        // about 1,300 rows (smaller sizes round up to the ~20 MB that 300 connections take).
        a.size = "32M".into();
        a.seed = 5;
        a.concurrency = 300;
        a.retransmit = 0.03;
        a.reorder = 0.03;
        a.loss = 0.01;
    });
    let loopback = repo().join("datasets/loopback/http-loopback.pcap");
    let mut inputs: Vec<PathBuf> = vec![pcap, loopback];
    if let Some(shared) =
        shared_captures("the_plain_segment_shortcut_changes_no_row (its corpus part)")
    {
        for d in [
            "zeek/http",
            "zeek/tcp",
            "more/tcp",
            "more/http1",
            "more/websocket",
            "more/proxy",
            "more/large",
        ] {
            if shared.join(d).is_dir() {
                inputs.push(shared.join(d));
            }
        }
    }
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let fast = row_set(&analyze("shortcut-on", &refs, &[]));
    let general = row_set(&analyze("shortcut-off", &refs, &["--no-fast-path"]));
    assert!(fast.len() > 1000, "{}", fast.len());
    assert_eq!(fast.len(), general.len());
    let first_diff = fast.iter().zip(&general).find(|(a, b)| a != b);
    assert!(first_diff.is_none(), "first differing row: {first_diff:?}");
}
