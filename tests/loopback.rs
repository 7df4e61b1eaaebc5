//! The project's own loopback capture (datasets/loopback, recorded by record.sh): real curl,
//! ab and raw-socket clients against nginx and a test server. Every request is checked
//! against what its client logged when the capture was made (truth.tsv), never against an
//! earlier run of wirehouse. tshark's per-connection counts are checked too, where tshark
//! parses the traffic; where it does not (pipelining), the clients' truth decides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;

/// The clean recording, and the same scenarios recorded with 3 % of packets dropped before
/// and after the capture point (`record.sh --loss 3`).
const CLEAN: &str = "datasets/loopback";
const LOSSY: &str = "datasets/loopback-lossy";

fn truth(set: &str) -> Vec<HashMap<String, String>> {
    tsv(&repo().join(set).join("truth.tsv"))
}

fn capture(set: &str) -> std::path::PathBuf {
    repo().join(set).join("http-loopback.pcap")
}

#[test]
fn every_request_matches_what_its_client_logged() {
    requests_match_the_clients(CLEAN);
}

#[test]
fn every_request_matches_what_its_client_logged_through_loss() {
    requests_match_the_clients(LOSSY);
}

fn requests_match_the_clients(set: &str) {
    let out = analyze(set.rsplit('/').next().unwrap(), &[&capture(set)], &[]);
    let http = rows(&out, "http");
    let truth = truth(set);
    assert!(truth.len() >= 30);
    for t in &truth {
        let port: i64 = t["local_port"].parse().unwrap();
        let depth: i64 = t["trans_depth"].parse().unwrap();
        let o = http
            .iter()
            .find(|r| r["client_port"].int() == Some(port) && r["trans_depth"].int() == Some(depth))
            .unwrap_or_else(|| panic!("no transaction for {} {port}/{depth}", t["scenario"]));
        let what = format!("{} {port}/{depth} {}", t["scenario"], t["uri"]);
        assert_eq!(o["method"].str(), Some(t["method"].as_str()), "{what}");
        assert_eq!(o["uri"].str(), Some(t["uri"].as_str()), "{what}");
        assert_eq!(
            o["server_port"].int().unwrap().to_string(),
            t["server_port"],
            "{what}"
        );
        assert_eq!(
            o["request_body_bytes"].int().unwrap().to_string(),
            t["request_body_bytes"],
            "{what}: request body"
        );
        match t["status"].as_str() {
            "" => {
                // The client got no answer (it wrote after the server's FIN).
                assert_eq!(o["status"], Value::Null, "{what}");
                assert_eq!(o["complete"].bool(), Some(false), "{what}");
            }
            s => {
                assert_eq!(o["status"].int().unwrap().to_string(), s, "{what}: status");
                assert_eq!(
                    o["response_body_bytes"].int().unwrap().to_string(),
                    t["response_body_bytes"],
                    "{what}: response body"
                );
                assert_eq!(o["complete"].bool(), Some(true), "{what}");
            }
        }
        assert_eq!(
            o["pipelined"].bool(),
            Some(t["pipelined"] == "1"),
            "{what}: pipelined"
        );
        assert_eq!(
            o["after_server_close"].bool(),
            Some(t["after_server_close"] == "1"),
            "{what}: after_server_close"
        );
        assert_eq!(o["reused_connection"].bool(), Some(depth > 1), "{what}");
        if !t["response_connection"].is_empty() {
            assert_eq!(
                o["response_connection"].str(),
                Some(t["response_connection"].as_str()),
                "{what}"
            );
        }
        // Same host, same clock: the request starts within 50 ms of the client's own
        // timestamp taken just before it sent. Through loss, the request's first copy may
        // never have reached the capture: then the capture first sees it when the client
        // retransmits, a few retransmission timeouts (200 ms, doubling) later at most.
        let sent: i64 = t["t_sent_ns"].parse().unwrap();
        let ts = o["ts"].int().unwrap();
        let late_ns = if set == LOSSY {
            3_000_000_000
        } else {
            50_000_000
        };
        assert!(
            ts - sent > -50_000_000 && ts - sent < late_ns,
            "{what}: ts {ts} vs client {sent}"
        );
        if t["ip_version"] == "6" {
            assert!(o["client_ip"].str().unwrap().contains(':'), "{what}");
        }
    }
    // ab reported 20 complete requests, all keep-alive.
    let ab = tsv(&repo().join(set).join("truth_ab.tsv"));
    let ab_requests = http
        .iter()
        .filter(|r| {
            r["user_agent"]
                .str()
                .is_some_and(|u| u.starts_with("ApacheBench"))
        })
        .count();
    assert_eq!(ab_requests.to_string(), ab[0]["complete_requests"]);
    // Nothing else: the capture holds exactly the clients' requests.
    assert_eq!(http.len(), truth.len() + ab_requests);
}

#[test]
fn connections_and_reuse_match_the_clients() {
    connections_match_the_clients(CLEAN);
}

#[test]
fn connections_and_reuse_match_the_clients_through_loss() {
    connections_match_the_clients(LOSSY);
}

fn connections_match_the_clients(set: &str) {
    let name = format!("{}-conns", set.rsplit('/').next().unwrap());
    let out = analyze(&name, &[&capture(set)], &[]);
    let conns = rows(&out, "connections");
    // Requests per connection, as the clients know it (local port = connection).
    let mut per_conn: BTreeMap<i64, (i64, String)> = BTreeMap::new();
    for t in truth(set) {
        let e = per_conn
            .entry(t["local_port"].parse().unwrap())
            .or_insert((0, t["scenario"].clone()));
        e.0 += 1;
    }
    for (port, (n, scenario)) in &per_conn {
        let c = conns
            .iter()
            .find(|c| c["client_port"].int() == Some(*port))
            .unwrap_or_else(|| panic!("no connection for client port {port}"));
        assert_eq!(c["requests"].int(), Some(*n), "{scenario} {port}");
        assert_eq!(c["handshake"].str(), Some("complete"), "{scenario} {port}");
        assert_eq!(c["app_protocol"].str(), Some("http"), "{scenario} {port}");
        let after = i64::from(scenario == "after_close");
        assert_eq!(
            c["requests_after_server_close"].int(),
            Some(after),
            "{scenario} {port}"
        );
        if scenario == "ipv6" {
            assert_eq!(c["ip_version"].int(), Some(6));
        }
        // Loopback handshakes are microseconds.
        let rtt = c["handshake_rtt_us"].int().unwrap();
        assert!((0..10_000).contains(&rtt), "{scenario}: handshake {rtt} us");
    }
    // The no-reuse scenario: five connections of one request each; keep-alive: one of five.
    let by_scenario = |s: &str| per_conn.values().filter(|(_, sc)| sc == s).count();
    assert_eq!(by_scenario("no_reuse"), 5);
    assert_eq!(by_scenario("keepalive"), 1);
    assert_eq!(by_scenario("close_then_new"), 2);
}

#[test]
fn tshark_agrees_where_it_parses_and_the_clients_decide_where_it_does_not() {
    let out = analyze("loopback-tshark", &[&capture(CLEAN)], &[]);
    let http = rows(&out, "http");
    let text = std::fs::read_to_string(repo().join(CLEAN).join("tshark_requests.tsv")).unwrap();
    let tshark: HashMap<i64, i64> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("client_port"))
        .map(|l| {
            let (p, n) = l.split_once('\t').unwrap();
            (p.parse().unwrap(), n.parse().unwrap())
        })
        .collect();
    let mut truth_per_port: HashMap<i64, i64> = HashMap::new();
    for t in truth(CLEAN) {
        *truth_per_port
            .entry(t["local_port"].parse().unwrap())
            .or_default() += 1;
    }
    let mut disagreements = 0;
    for (port, &truth_n) in &truth_per_port {
        let ours = http
            .iter()
            .filter(|r| r["client_port"].int() == Some(*port))
            .count() as i64;
        assert_eq!(ours, truth_n, "client port {port}");
        let ts = tshark.get(port).copied().unwrap_or(0);
        if ts != truth_n {
            // tshark loses requests pipelined in one segment; wirehouse matches the client.
            assert!(ts < truth_n, "port {port}: tshark {ts}, client {truth_n}");
            disagreements += 1;
        }
    }
    assert_eq!(disagreements, 2, "the two pipelined connections");
}

#[test]
fn the_summary_counts_what_the_clients_did() {
    summary_counts_what_the_clients_did(CLEAN);
}

#[test]
fn the_summary_counts_what_the_clients_did_through_loss() {
    summary_counts_what_the_clients_did(LOSSY);
}

/// `wirehouse summary` prints the request, pipelining, after-close and status figures the
/// clients' own logs give, and the TCP anomalies of the recording: none on the clean one.
fn summary_counts_what_the_clients_did(set: &str) {
    let name = format!("{}-summary", set.rsplit('/').next().unwrap());
    let out = analyze(&name, &[&capture(set)], &[]);
    let o = wirehouse(&["summary", &out.display().to_string()]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let truth = truth(set);
    let ab: i64 = tsv(&repo().join(set).join("truth_ab.tsv"))[0]["complete_requests"]
        .parse()
        .unwrap();
    let count = |col: &str| truth.iter().filter(|t| t[col] == "1").count();
    let requests = truth.len() as i64 + ab;
    let line = |start: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in\n{text}"))
            .to_string()
    };
    let http = line("HTTP requests:");
    assert!(
        http.starts_with(&format!("HTTP requests: {requests} on ")),
        "{http}"
    );
    assert!(
        http.contains(&format!("; {} pipelined, ", count("pipelined"))),
        "{http}"
    );
    assert!(
        http.ends_with(&format!(
            "{} sent after the server closed",
            count("after_server_close")
        )),
        "{http}"
    );
    // Status counts: the clients' (an empty status is a request that got no answer), and
    // ab's requests, all 200.
    let mut statuses: BTreeMap<String, i64> = BTreeMap::new();
    for t in &truth {
        let s = if t["status"].is_empty() {
            "no response".to_string()
        } else {
            t["status"].clone()
        };
        *statuses.entry(s).or_default() += 1;
    }
    *statuses.entry("200".into()).or_default() += ab;
    let status = line("status:");
    for (s, n) in &statuses {
        assert!(status.contains(&format!("{s} {n}")), "{s} {n}: {status}");
    }
    let tcp = line("TCP packets");
    let retransmitted: i64 = tcp
        .split(": ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{tcp}"));
    if set == CLEAN {
        assert_eq!(retransmitted, 0, "{tcp}");
        assert!(text.contains("Anomalies: 0 bytes missing"), "{text}");
    } else {
        // nftables dropped packets after the capture saw them: their retransmissions are
        // in it too.
        assert!(retransmitted > 20, "{tcp}");
    }
}

/// A copy of a classic pcap (as tcpdump writes it here: little-endian, microseconds) without
/// the packets `drop` picks, from each packet's index and decoded TCP segment: bytes the
/// capture lost although both ends had them, as when tcpdump's buffer overflows.
fn without_packets(
    src: &std::path::Path,
    dst: &std::path::Path,
    mut drop: impl FnMut(usize, &wirehouse_decode::TcpPacket<'_>) -> bool,
) -> usize {
    let data = std::fs::read(src).unwrap();
    assert_eq!(data[..4], [0xd4, 0xc3, 0xb2, 0xa1], "{}", src.display());
    let linktype = u32::from_le_bytes(data[20..24].try_into().unwrap());
    let mut out = data[..24].to_vec();
    let (mut at, mut idx, mut dropped) = (24, 0, 0);
    let le32 = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    while at + 16 <= data.len() {
        let caplen = le32(&data[at + 8..at + 12]) as usize;
        let origlen = le32(&data[at + 12..at + 16]);
        let frame = &data[at + 16..at + 16 + caplen];
        let gone = match wirehouse_decode::decode(linktype, frame, origlen, 0) {
            wirehouse_decode::Decoded::Tcp(p) => drop(idx, &p),
            _ => false,
        };
        if gone {
            dropped += 1;
        } else {
            out.extend_from_slice(&data[at..at + 16 + caplen]);
        }
        at += 16 + caplen;
        idx += 1;
    }
    std::fs::write(dst, out).unwrap();
    dropped
}

/// Seeded 64-bit mix (splitmix64's finalizer): which packets a drop test removes.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Copies of `src` without `per_mille` of their payload-carrying packets, one per seed.
fn with_drops(
    name: &str,
    src: &std::path::Path,
    seeds: std::ops::Range<u64>,
    per_mille: u64,
) -> (Scratch, Vec<std::path::PathBuf>, usize) {
    let dir = tmp(name);
    std::fs::create_dir_all(&*dir).unwrap();
    let mut inputs = Vec::new();
    let mut dropped = 0;
    for seed in seeds {
        let path = dir.join(format!("drop-{seed}.pcap"));
        dropped += without_packets(src, &path, |idx, p| {
            !p.seg.payload.is_empty() && mix(seed << 32 | idx as u64) % 1000 < per_mille
        });
        inputs.push(path);
    }
    (dir, inputs, dropped)
}

/// What the analysis of `inputs` made of each response, against the client's log `truth`
/// (matched by client port, method and URI; a URI may repeat on a connection, and then any
/// of its answers will do): (responses checked, complete and exact, descriptions of the
/// wrong ones). Wrong means a status the client never got for that request, or a complete
/// transaction, with nothing missing, whose status or size is not what the client got.
fn responses_against_client(
    name: &str,
    inputs: &[std::path::PathBuf],
    truth: &[HashMap<String, String>],
) -> (usize, usize, Vec<String>) {
    let refs: Vec<&std::path::Path> = inputs.iter().map(|p| p.as_path()).collect();
    let out = analyze(name, &refs, &[]);
    let http = rows(&out, "http");
    let (mut checked, mut exact) = (0, 0);
    let mut wrong = Vec::new();
    for r in &http {
        let (Some(port), Some(uri), Some(status)) =
            (r["client_port"].int(), r["uri"].str(), r["status"].int())
        else {
            continue;
        };
        let method = r["method"].str().unwrap_or("");
        let got: Vec<(String, String)> = truth
            .iter()
            .filter(|t| {
                t["local_port"] == port.to_string()
                    && t["uri"] == uri
                    && t.get("method").is_none_or(|m| m == method)
            })
            .map(|t| (t["status"].clone(), t["response_body_bytes"].clone()))
            .collect();
        if got.is_empty() {
            continue; // ab's requests: its log has totals only
        }
        checked += 1;
        let complete = r["complete"].bool() == Some(true) && r["missing_bytes"].int() == Some(0);
        let size = r["response_body_bytes"].int().unwrap_or(-1).to_string();
        let ok = if complete {
            got.contains(&(status.to_string(), size.clone()))
        } else {
            got.iter().any(|(s, _)| *s == status.to_string())
        };
        if !ok {
            wrong.push(format!(
                "{} {port} {method} {uri}: got {status} {size} (complete {complete}), client {got:?}",
                r["file"].str().unwrap_or("?")
            ));
        }
        exact += usize::from(ok && complete);
    }
    (checked, exact, wrong)
}

#[test]
fn capture_drops_never_give_a_request_another_requests_response() {
    // The recording through loss, with payload-carrying packets removed from the capture at
    // random (seeded): holes both ends saw the bytes of. Whatever the holes hit, a request
    // either keeps its own response or is left incomplete; it never gets a neighbour's. The
    // clients' logs say what each request got.
    let (_d1, mut inputs, d1) = with_drops("capture-drops-2", &capture(LOSSY), 0..12, 20);
    let (_d2, more, d2) = with_drops("capture-drops-10", &capture(LOSSY), 12..24, 100);
    inputs.extend(more);
    let truth = truth(LOSSY);
    let (checked, exact, wrong) = responses_against_client("capture-drops-out", &inputs, &truth);
    eprintln!(
        "{} packets dropped over {} captures; {checked} responses checked, \
         {exact} complete and exact, {} wrong",
        d1 + d2,
        inputs.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The holes must leave most exchanges whole, and those must be found whole.
    assert!(
        exact * 10 >= truth.len() * inputs.len() * 7,
        "{exact} exact"
    );
}

/// nginx answering a client that pipelines bursts of GET and HEAD requests
/// (`datasets/loopback-pipelined/record.sh`).
const PIPELINED: &str = "datasets/loopback-pipelined";

#[test]
fn pipelined_bursts_match_what_their_client_logged() {
    let truth = tsv(&repo().join(PIPELINED).join("truth.tsv"));
    assert!(truth.len() > 600);
    let cap = repo().join(PIPELINED).join("http-pipelined.pcap");
    let (checked, exact, wrong) = responses_against_client("pipelined", &[cap], &truth);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!((checked, exact), (truth.len(), truth.len()));
}

#[test]
fn pipelined_bursts_through_capture_drops_keep_their_own_responses() {
    // The pipelined recording with 2 % and 5 % of its payload-carrying packets removed (8
    // seeds each). Where a hole swallows a response head, the rest of that response must
    // not be taken for the next one (a HEAD's answer has no body, so framing by the wrong
    // request loses sync for the rest of the connection), and the pairing must come back at
    // the next burst. Inside a burst one hole can swallow several whole responses, and
    // nothing tells how many: the responses after it up to the burst's end may then go to
    // the wrong request. That is the known limit this test allows, at under 1 % of the
    // responses checked (measured: 5 of 5,073 at 2 %, 13 of 4,672 at 5 %; before the fixes
    // it tests, 10-17 %, and whole connections lost).
    let truth = tsv(&repo().join(PIPELINED).join("truth.tsv"));
    let cap = repo().join(PIPELINED).join("http-pipelined.pcap");
    for per_mille in [20, 50] {
        let (_dir, inputs, dropped) = with_drops(
            &format!("pipelined-drops-{per_mille}"),
            &cap,
            0..8,
            per_mille,
        );
        let (checked, exact, wrong) =
            responses_against_client(&format!("pipelined-drops-{per_mille}-out"), &inputs, &truth);
        let all = truth.len() * inputs.len();
        eprintln!(
            "{per_mille}/1000 of data packets: {dropped} dropped over {} captures; \
             {checked} of {all} responses checked, {exact} complete and exact, {} wrong",
            inputs.len(),
            wrong.len()
        );
        assert!(wrong.len() * 100 <= checked, "{}", wrong.join("\n"));
        // Most responses survive a 2 % or 5 % loss with their status, and most of those whole
        // (measured: 94 % and 86 % checked, 91 % and 81 % exact).
        assert!(checked * 10 >= all * 8, "{checked} of {all} checked");
        assert!(exact * 100 >= all * 75, "{exact} of {all} exact");
    }
}
