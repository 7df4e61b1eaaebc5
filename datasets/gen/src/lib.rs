//! wirehouse-gen: deterministic capture generator for benchmarks and large-scale tests.
//!
//! Writes a classic pcap (Ethernet, IPv4 and IPv6, TCP) of any size with many concurrent
//! connections interleaved in time, and the ground truth of what it contains, so that tests
//! can check wirehouse's tables against it and benchmarks can run on realistic traffic.
//!
//! Scenarios (`--scenario`):
//! - `http` (default): `--concurrency` connections alive at once, each a handshake with
//!   varied RTTs, one or more HTTP/1.1 keep-alive exchanges (GET/POST, realistic headers,
//!   heavy-tailed body sizes, some chunked, some `Connection: close`) or HTTP/2 (prior
//!   knowledge; `--h2-share`, a quarter of them gRPC), MSS-sized segments, receiver ACKs every
//!   two segments, FIN or RST teardown. Impairments per data segment: `--retransmit` (a later
//!   duplicate), `--reorder` (swapped with the next), `--loss` (absent from the capture but
//!   acknowledged: a gap of known size).
//! - `half-open`: `--connections` unanswered SYNs (some retried after 1 s and 3 s) from
//!   distinct clients, mixed with a few normal connections: for the live-connection cap.
//! - `ooo-hole`: `--streams` long one-sided server streams at once (default 4) that lose an
//!   early segment which nothing acknowledges, so everything after it is out of order: for
//!   the reassembly caps (per connection, and all connections together).
//!
//! TCP checksums are left zero (as in captures taken on the sending host with offload); IPv4
//! header checksums are correct. The same arguments give a byte-identical file.
//!
//! Truth (`--truth DIR`): `connections.tsv`, `requests.tsv`, `summary.tsv` (see the README in
//! datasets/).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod conn;
mod msg;
mod pcap;
mod rng;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use conn::{Action, Conn, Impair, Proto, ReqTruth};
use msg::{Msg, h1_exchange, h2_preface_client, h2_settings_ack, h2_settings_server, h2_stream};
use pcap::{Host, PcapWriter};
use rng::Rng;

/// Generate a pcap of synthetic TCP/HTTP traffic with known ground truth.
#[derive(Parser, Debug, Clone)]
#[command(name = "wirehouse-gen", version)]
pub struct Args {
    /// Output pcap file.
    #[arg(long)]
    pub out: PathBuf,
    /// Target size (K, M, G suffixes, powers of 1024); met to within one connection.
    #[arg(long, default_value = "64M")]
    pub size: String,
    /// Random seed; the same arguments give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// http, half-open or ooo-hole.
    #[arg(long, default_value = "http")]
    pub scenario: String,
    /// Connections alive at the same time (http).
    #[arg(long, default_value_t = 20_000)]
    pub concurrency: usize,
    /// Share of data segments retransmitted (a duplicate appears later).
    #[arg(long, default_value_t = 0.01)]
    pub retransmit: f64,
    /// Share of data segments swapped with the next one.
    #[arg(long, default_value_t = 0.005)]
    pub reorder: f64,
    /// Share of data segments missing from the capture (but acknowledged by the receiver).
    #[arg(long, default_value_t = 0.001)]
    pub loss: f64,
    /// Share of connections speaking HTTP/2 (a quarter of those gRPC).
    #[arg(long, default_value_t = 0.05)]
    pub h2_share: f64,
    /// Share of connections over IPv6.
    #[arg(long, default_value_t = 0.1)]
    pub ipv6_share: f64,
    /// Scale of HTTP/1 body sizes: every body size range is multiplied by it. 1 is the
    /// default mix (most responses 200 B - 20 KB, 3 % of 100 KB - 5 MB); 0.05 makes small API
    /// calls, where the work per transaction outweighs the work per byte.
    #[arg(long, default_value_t = 1.0)]
    pub body_scale: f64,
    /// Number of connections for half-open (SYNs).
    #[arg(long, default_value_t = 1_000_000)]
    pub connections: u64,
    /// Number of streams for ooo-hole, all open at once; each carries an equal share of
    /// `--size` (at least 1 MiB).
    #[arg(long, default_value_t = 4)]
    pub streams: u64,
    /// Write ground truth TSV files here.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Nanosecond timestamps (pcap magic 0xa1b23c4d).
    #[arg(long)]
    pub nanos: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<f64>()
        .map(|n| (n * mul as f64) as u64)
        .map_err(|_| format!("bad size {s:?} (like 512M or 2G)"))
}

/// 2026-01-01T00:00:00Z.
const EPOCH_NS: i64 = 1_767_225_600 * 1_000_000_000;

struct Truth {
    conns: BufWriter<File>,
    reqs: BufWriter<File>,
}

impl Truth {
    fn new(dir: &PathBuf) -> std::io::Result<Truth> {
        std::fs::create_dir_all(dir)?;
        let mut conns = BufWriter::new(File::create(dir.join("connections.tsv"))?);
        writeln!(
            conns,
            "client_ip\tclient_port\tserver_ip\tserver_port\tip_version\tproto\tsyn_ns\tsyn_ack_ns\tack_ns\trequests\tclient_bytes\tserver_bytes\tmissing_client_bytes\tmissing_server_bytes\tretransmitted_pkts\treordered_pkts\tclose_initiator\tclose_kind\tfirst_ns\tlast_ns\tpackets\tsyns"
        )?;
        let mut reqs = BufWriter::new(File::create(dir.join("requests.tsv"))?);
        writeln!(
            reqs,
            "client_ip\tclient_port\tserver_ip\tserver_port\ttrans_depth\tmethod\turi\thost\tstatus\trequest_body_bytes\tresponse_body_bytes\trequest_ns\tresponse_ns\tresponse_end_ns\tchunked\tstream_id\trequest_missing_bytes\tresponse_missing_bytes"
        )?;
        Ok(Truth { conns, reqs })
    }

    fn write(&mut self, c: &Conn) -> std::io::Result<()> {
        let t = &c.truth;
        let o = |v: Option<i64>| v.map_or(String::new(), |x| x.to_string());
        writeln!(
            self.conns,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.client.ip_string(),
            c.client.port,
            c.server.ip_string(),
            c.server.port,
            if c.client.v6 { 6 } else { 4 },
            c.proto.name(),
            o(t.syn_ns),
            o(t.syn_ack_ns),
            o(t.ack_ns),
            c.reqs.len(),
            t.client_bytes,
            t.server_bytes,
            t.missing_client,
            t.missing_server,
            t.retransmitted,
            t.reordered,
            t.close_initiator,
            t.close_kind,
            o(t.first_ns),
            t.last_ns,
            t.packets,
            t.syns
        )?;
        for r in &c.reqs {
            writeln!(
                self.reqs,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                c.client.ip_string(),
                c.client.port,
                c.server.ip_string(),
                c.server.port,
                r.trans_depth,
                r.method,
                r.uri,
                r.host,
                r.status,
                r.request_body,
                r.response_body,
                r.request_ns,
                r.response_ns,
                r.response_end_ns,
                u8::from(r.chunked),
                r.stream_id,
                c.msgs[r.req_msg].lost,
                c.msgs[r.resp_msg].lost
            )?;
        }
        Ok(())
    }
}

/// Hands out distinct client addresses/ports and a pool of servers.
struct Addrs {
    next_client: u64,
}

impl Addrs {
    fn client(&mut self, v6: bool) -> Host {
        let n = self.next_client;
        self.next_client += 1;
        // 60000 ports per client address, 10.0.0.1 on (or fd00::1 on). Each address is the
        // (h + 1)-th: `h | 1` gave the first two groups of 60000 the same address, so two live
        // connections could share a 4-tuple once a capture had more than 60000.
        let port = 1024 + (n % 60_000) as u16;
        let h = n / 60_000;
        let mut ip = [0u8; 16];
        if v6 {
            ip[0] = 0xfd;
            ip[8..16].copy_from_slice(&(h + 1).to_be_bytes());
        } else {
            let g = h + 1;
            ip[0] = 10;
            ip[1] = (g >> 16) as u8;
            ip[2] = (g >> 8) as u8;
            ip[3] = g as u8;
        }
        Host {
            mac: [0x02, 0, 0, (h >> 16) as u8, (h >> 8) as u8, h as u8],
            ip,
            v6,
            port,
        }
    }

    fn server(rng: &mut Rng, v6: bool) -> Host {
        let s = rng.range(1, 300) as u8;
        let mut ip = [0u8; 16];
        if v6 {
            ip[0] = 0xfd;
            ip[1] = 0x01;
            ip[15] = s;
        } else {
            ip[..4].copy_from_slice(&[172, 16, 0, s]);
        }
        Host {
            mac: [0x02, 0xff, 0, 0, 0, s],
            ip,
            v6,
            port: if rng.chance(0.7) { 80 } else { 8080 },
        }
    }
}

fn http_conn(rng: &mut Rng, addrs: &mut Addrs, a: &Args, impair: Impair) -> Conn {
    let v6 = rng.chance(a.ipv6_share);
    let client = addrs.client(v6);
    let server = Addrs::server(rng, v6);
    let host = format!("svc{}.example.com", server.ip[3].max(server.ip[15]));
    let proto = if rng.chance(a.h2_share) {
        if rng.chance(0.25) {
            Proto::Grpc
        } else {
            Proto::H2
        }
    } else {
        Proto::Http1
    };
    let mut actions = vec![Action::Handshake];
    let mut msgs: Vec<Msg> = Vec::new();
    let mut reqs = Vec::new();
    // Requests per connection: geometric, mean about 5; some exactly one with close.
    let single = rng.chance(0.2);
    let mut n = 1;
    if !single {
        while n < 200 && !rng.chance(0.2) {
            n += 1;
        }
    }
    let think = |rng: &mut Rng| rng.log_range(200_000, 50_000_000) as i64;
    match proto {
        Proto::Http1 => {
            for i in 0..n {
                let close = single && i == n - 1;
                let x = h1_exchange(rng, &host, close, a.body_scale);
                let (qi, ri) = (msgs.len(), msgs.len() + 1);
                msgs.push(x.request);
                msgs.push(x.response);
                actions.push(Action::Send {
                    client: true,
                    msg: qi,
                    think_ns: if i == 0 {
                        rng.range(20_000, 200_000) as i64
                    } else {
                        think(rng)
                    },
                });
                actions.push(Action::Send {
                    client: false,
                    msg: ri,
                    think_ns: rng.log_range(100_000, 30_000_000) as i64,
                });
                reqs.push(ReqTruth {
                    trans_depth: i + 1,
                    method: x.method.into(),
                    uri: x.uri,
                    host: x.host,
                    status: x.status,
                    request_body: x.request_body,
                    response_body: x.response_body,
                    chunked: x.chunked,
                    req_msg: qi,
                    resp_msg: ri,
                    ..ReqTruth::default()
                });
            }
        }
        _ => {
            let mut pre = Msg::default();
            pre.bytes(h2_preface_client());
            let mut srv = Msg::default();
            srv.bytes(h2_settings_server());
            let mut ack = Msg::default();
            ack.bytes(h2_settings_ack());
            msgs.extend([pre, srv, ack]);
            actions.push(Action::Send {
                client: true,
                msg: 0,
                think_ns: 20_000,
            });
            actions.push(Action::Send {
                client: false,
                msg: 1,
                think_ns: 100_000,
            });
            actions.push(Action::Send {
                client: true,
                msg: 2,
                think_ns: 20_000,
            });
            for i in 0..n {
                let stream = 1 + 2 * i;
                let x = h2_stream(rng, &host, stream, proto == Proto::Grpc);
                let (qi, ri) = (msgs.len(), msgs.len() + 1);
                msgs.push(x.request);
                msgs.push(x.response);
                actions.push(Action::Send {
                    client: true,
                    msg: qi,
                    think_ns: think(rng),
                });
                actions.push(Action::Send {
                    client: false,
                    msg: ri,
                    think_ns: rng.log_range(100_000, 30_000_000) as i64,
                });
                reqs.push(ReqTruth {
                    trans_depth: i + 1,
                    method: x.method.into(),
                    uri: x.path,
                    host: host.clone(),
                    status: x.status,
                    request_body: x.request_body,
                    response_body: x.response_body,
                    stream_id: stream,
                    req_msg: qi,
                    resp_msg: ri,
                    ..ReqTruth::default()
                });
            }
        }
    }
    if rng.chance(0.02) {
        actions.push(Action::Reset);
    } else {
        actions.push(Action::Close {
            client: !single && rng.chance(0.5),
        });
    }
    Conn::new(rng, client, server, proto, actions, msgs, reqs, impair)
}

/// A scheduled connection: (next packet time, sequence for ties, slot).
type Event = Reverse<(i64, u64, usize)>;

/// What a run produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub requests: u64,
    pub seconds: f64,
}

impl Args {
    /// Defaults, as the command line has them, writing to `out`.
    pub fn new(out: PathBuf) -> Args {
        Args::parse_from(["wirehouse-gen", "--out", &out.display().to_string()])
    }
}

/// A failed write of the truth files, naming their directory (a full disk is the usual cause).
fn truth_error(a: &Args, e: std::io::Error) -> String {
    let dir = a
        .truth
        .as_ref()
        .map_or(String::new(), |d| d.display().to_string());
    format!("writing the truth into {dir}: {e}")
}

/// Generate a capture as `a` says.
pub fn generate(a: &Args) -> Result<Summary, String> {
    let size = parse_size(&a.size)?;
    let started = Instant::now();
    let file = File::create(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let mut w = PcapWriter::new(BufWriter::with_capacity(8 << 20, file), a.nanos)
        .map_err(|e| e.to_string())?;
    let mut truth = match a.truth.as_ref() {
        Some(d) => Some(Truth::new(d).map_err(|e| format!("{}: {e}", d.display()))?),
        None => None,
    };
    let mut rng = Rng::new(a.seed);
    let mut addrs = Addrs { next_client: 0 };
    let impair = Impair {
        retransmit: a.retransmit,
        reorder: a.reorder,
        loss: a.loss,
    };
    let mut slots: Vec<Option<Conn>> = Vec::new();
    let mut heap: BinaryHeap<Event> = BinaryHeap::new();
    let mut tie = 0u64;
    let mut started_conns = 0u64;
    let (mut n_conns, mut n_reqs) = (0u64, 0u64);
    let mut stats = [0u64; 4];
    let mut missing = 0u64;

    // The connections to start, per scenario.
    let scenario = a.scenario.as_str();
    let concurrency = match scenario {
        "half-open" => 50_000,
        "ooo-hole" => a.streams.max(1) as usize,
        _ => a.concurrency.max(1),
    };
    let make = |rng: &mut Rng, addrs: &mut Addrs, n: u64| -> Conn {
        match scenario {
            // One ordinary HTTP connection per thousand SYNs runs through the flood, so the
            // analyzer must keep serving real traffic while it evicts. (One per hundred made
            // 10,000 of them: 95% of a 2 GB file, none of it what the scenario is about.)
            "half-open" if n % 1000 != 999 => {
                let v6 = rng.chance(a.ipv6_share);
                let client = addrs.client(v6);
                let server = Addrs::server(rng, v6);
                let retries = if rng.chance(0.3) {
                    vec![1_000_000_000, 2_000_000_000]
                } else {
                    vec![]
                };
                Conn::new(
                    rng,
                    client,
                    server,
                    Proto::HalfOpen,
                    vec![Action::SynOnly(retries)],
                    vec![],
                    vec![],
                    Impair::default(),
                )
            }
            "ooo-hole" => {
                let client = addrs.client(false);
                let server = Addrs::server(rng, false);
                let mut req = Msg::default();
                req.bytes(b"GET /big.bin HTTP/1.1\r\nHost: big.example.com\r\n\r\n".to_vec());
                let body = (size / a.streams.max(1)).max(1 << 20);
                let mut resp = Msg::default();
                resp.bytes(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {body}\r\n\r\n").into_bytes(),
                );
                resp.filler(body);
                let actions = vec![
                    Action::Handshake,
                    Action::Send {
                        client: true,
                        msg: 0,
                        think_ns: 50_000,
                    },
                    Action::Send {
                        client: false,
                        msg: 1,
                        think_ns: 1_000_000,
                    },
                    Action::Close { client: false },
                ];
                let reqs = vec![ReqTruth {
                    trans_depth: 1,
                    method: "GET".into(),
                    uri: "/big.bin".into(),
                    host: "big.example.com".into(),
                    status: 200,
                    response_body: body,
                    req_msg: 0,
                    resp_msg: 1,
                    ..ReqTruth::default()
                }];
                let mut c = Conn::new(
                    rng,
                    client,
                    server,
                    Proto::Http1,
                    actions,
                    vec![req, resp],
                    reqs,
                    Impair::default(),
                );
                c.hole_at = Some(3 * conn::MSS);
                c
            }
            _ => http_conn(rng, addrs, a, impair),
        }
    };
    let budget_left = |w_bytes: u64, started: u64| -> bool {
        match scenario {
            "half-open" | "ooo-hole" => {
                started
                    < if scenario == "ooo-hole" {
                        a.streams.max(1)
                    } else {
                        a.connections
                    }
            }
            _ => w_bytes < size,
        }
    };

    // Schedule a connection's next packet at `after` + its delay; false when it is done.
    fn schedule(c: &mut Conn, rng: &mut Rng, after: i64) -> Option<i64> {
        let p = c.next(rng)?;
        let at = after + p.delay.max(0);
        c.upcoming = Some(p);
        Some(at)
    }

    let mut now = EPOCH_NS;
    let mut winding_down = false;
    let mut owed_bytes = 0u64;
    let mut steps = 0u64;
    for _ in 0..concurrency {
        if !budget_left(w.bytes, started_conns) {
            break;
        }
        let mut c = make(&mut rng, &mut addrs, started_conns);
        started_conns += 1;
        let start = now + rng.range(0, 1_000_000) as i64;
        if let Some(at) = schedule(&mut c, &mut rng, start) {
            slots.push(Some(c));
            heap.push(Reverse((at, tie, slots.len() - 1)));
            tie += 1;
        }
    }
    while let Some(Reverse((ts, _, slot))) = heap.pop() {
        now = ts;
        let Some(c) = slots[slot].as_mut() else {
            continue;
        };
        if let Some(p) = c.upcoming.take() {
            // Truth records times as the capture stores them (microseconds unless --nanos).
            let ts = if a.nanos {
                ts
            } else {
                ts - ts.rem_euclid(1000)
            };
            let (src, dst) = if p.client {
                (c.client, c.server)
            } else {
                (c.server, c.client)
            };
            let t = &mut c.truth;
            if p.flags & pcap::SYN != 0 {
                if p.client {
                    t.syn_ns.get_or_insert(ts);
                    t.syns += 1;
                } else {
                    t.syn_ack_ns.get_or_insert(ts);
                }
            } else if p.client && t.ack_ns.is_none() && t.syn_ack_ns.is_some() {
                t.ack_ns = Some(ts);
            }
            if let Some(m) = p.msg_first {
                for r in c.reqs.iter_mut() {
                    if r.req_msg == m && r.request_ns == 0 {
                        r.request_ns = ts;
                    }
                    if r.resp_msg == m && r.response_ns == 0 {
                        r.response_ns = ts;
                    }
                }
            }
            if let Some(m) = p.msg_last {
                for r in c.reqs.iter_mut() {
                    if r.resp_msg == m {
                        r.response_end_ns = ts;
                    }
                }
            }
            if !p.lost {
                w.tcp(ts, &src, &dst, p.seq, p.ack, p.flags, &p.head, p.filler)
                    .map_err(|e| format!("writing {}: {e}", a.out.display()))?;
                let t = &mut c.truth;
                t.packets += 1;
                t.first_ns.get_or_insert(ts);
                t.last_ns = ts;
            }
        }
        // Wind down early enough that what live connections still owe lands the file near
        // the target size (heavy-tailed responses in flight are most of the tail).
        if !winding_down && scenario == "http" && {
            steps += 1;
            steps.is_multiple_of(4096)
        } {
            let owed: u64 = slots.iter().flatten().map(Conn::owed).sum();
            // Headers (~70 bytes per MSS segment) on top of the payload.
            owed_bytes = owed + owed / 20;
        }
        if !winding_down && scenario == "http" && w.bytes + owed_bytes >= size {
            // The budget is spent: every live connection finishes its exchange and closes.
            winding_down = true;
            for c in slots.iter_mut().flatten() {
                c.wind_down();
            }
        }
        let Some(c) = slots[slot].as_mut() else {
            continue;
        };
        if let Some(at) = schedule(c, &mut rng, ts) {
            heap.push(Reverse((at, tie, slot)));
            tie += 1;
            continue;
        }
        // The connection is over.
        let Some(mut c) = slots[slot].take() else {
            continue;
        };
        c.prune_unsent();
        let (cb, sb) = c.sent();
        c.truth.client_bytes = cb;
        c.truth.server_bytes = sb;
        n_conns += 1;
        n_reqs += c.reqs.len() as u64;
        stats[match c.proto {
            Proto::Http1 => 0,
            Proto::H2 => 1,
            Proto::Grpc => 2,
            Proto::HalfOpen => 3,
        }] += 1;
        missing += c.truth.missing_client + c.truth.missing_server;
        if let Some(t) = truth.as_mut() {
            t.write(&c).map_err(|e| truth_error(a, e))?;
        }
        if !winding_down && budget_left(w.bytes, started_conns) {
            let mut c = make(&mut rng, &mut addrs, started_conns);
            started_conns += 1;
            let start = now + rng.range(1_000, 5_000_000) as i64;
            if let Some(at) = schedule(&mut c, &mut rng, start) {
                slots[slot] = Some(c);
                heap.push(Reverse((at, tie, slot)));
                tie += 1;
            }
        }
    }
    let (bytes, packets) = (w.bytes, w.packets);
    w.finish()
        .map_err(|e| format!("writing {}: {e}", a.out.display()))?;
    if let (Some(t), Some(dir)) = (truth.as_mut(), a.truth.as_ref()) {
        let mut summary = || -> std::io::Result<()> {
            t.conns.flush()?;
            t.reqs.flush()?;
            let mut s = File::create(dir.join("summary.tsv"))?;
            writeln!(
                s,
                "packets\tbytes\tconnections\trequests\thttp1\th2\tgrpc\thalf_open\tmissing_bytes"
            )?;
            writeln!(
                s,
                "{packets}\t{bytes}\t{n_conns}\t{n_reqs}\t{}\t{}\t{}\t{}\t{missing}",
                stats[0], stats[1], stats[2], stats[3]
            )?;
            s.flush()
        };
        summary().map_err(|e| truth_error(a, e))?;
    }
    Ok(Summary {
        bytes,
        packets,
        connections: n_conns,
        requests: n_reqs,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::Addrs;
    use std::collections::HashSet;

    /// Every client (address, port) is handed out once, over several groups of 60000, for
    /// IPv4 and IPv6 alike; the first is 10.0.0.1:1024 (fd00::1).
    #[test]
    fn client_endpoints_are_never_handed_out_twice() {
        for v6 in [false, true] {
            let mut addrs = Addrs { next_client: 0 };
            let mut seen = HashSet::new();
            for _ in 0..200_000 {
                let h = addrs.client(v6);
                assert!(seen.insert((h.ip, h.port)), "{:?}:{} twice", h.ip, h.port);
            }
            let first = Addrs { next_client: 0 }.client(v6);
            let want: [u8; 16] = if v6 {
                [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
            } else {
                [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            };
            assert_eq!((first.ip, first.port), (want, 1024));
        }
    }
}
