//! Per-stage costs of the pipeline, each measured alone on the same generated capture
//! (datasets/gen, fixed seed) so the figures add up to what `wirehouse analyze --stats`
//! reports for the whole run:
//!
//! - `framing`: record headers walked, packets handed out (the floor of any pass);
//! - `decode`: link/IP/TCP headers of every packet into a `Segment`;
//! - `reassembly`: every segment through its connection's TCP state machine;
//! - `http1`: keep-alive request/response streams through the HTTP/1 parser;
//! - `parquet`: connection and http rows through Arrow builders into zstd Parquet files.
//!
//! `make bench` runs these and then `scripts/throughput.sh` for the end-to-end figures.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The allocator the `wirehouse` binary runs with: with glibc's, the allocation-heavy stages
/// (HTTP parsing, rows) measured glibc's free-list work (a third of the live-connections
/// bench) rather than the pipeline's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use wirehouse_capture::{Detected, FileFormat, Framer, detect};
use wirehouse_decode::{Decoded, decode};
use wirehouse_flow::{Dir, FlowKey, Segment};
use wirehouse_http1::{Http1, HttpSink, Transaction};
use wirehouse_output::tables::{ConnectionRow, HttpRow};
use wirehouse_output::{Dataset, Table, TableBuilders};
use wirehouse_tcp::{Config as TcpConfig, Connection, EventKind, StreamSink};

/// A 96 MiB capture: large enough that connection state does not sit in L1/L2, small
/// enough to generate in a second and hold in memory.
fn capture() -> (PathBuf, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("wirehouse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stages.pcap");
    let mut a = wirehouse_gen::Args::new(path.clone());
    a.size = "96M".into();
    a.seed = 7;
    a.concurrency = 2000;
    wirehouse_gen::generate(&a).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (dir, bytes)
}

fn format(buf: &[u8]) -> FileFormat {
    match detect(buf) {
        Detected::Capture(f) => f,
        other => panic!("generated capture not recognised: {other:?}"),
    }
}

/// Every packet's (linktype, offset, caplen, origlen, ts) in the buffer.
fn frame_all(buf: &[u8]) -> Vec<(u32, usize, usize, u32, i64)> {
    let (mut framer, start) = Framer::new(format(buf), buf).unwrap();
    let mut out = Vec::new();
    let base = buf.as_ptr() as usize;
    framer.frame(buf, 0, start, buf.len(), |p| {
        out.push((
            p.linktype,
            p.data.as_ptr() as usize - base,
            p.data.len(),
            p.origlen,
            p.ts_ns,
        ));
    });
    out
}

fn bench_framing(c: &mut Criterion, buf: &[u8]) {
    let fmt = format(buf);
    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("pcap", |b| {
        b.iter(|| {
            let (mut framer, start) = Framer::new(fmt, buf).unwrap();
            let mut n = 0u64;
            framer.frame(buf, 0, start, buf.len(), |p| n += u64::from(p.caplen));
            black_box(n)
        })
    });
    g.finish();
}

fn bench_decode(c: &mut Criterion, buf: &[u8], pkts: &[(u32, usize, usize, u32, i64)]) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("ethernet-ip-tcp", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for &(lt, off, len, orig, ts) in pkts {
                if let Decoded::Tcp(t) = decode(lt, &buf[off..off + len], orig, ts) {
                    n += u64::from(t.seg.wire_len);
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

/// Counts what reassembly hands on, as the engine's sink would before protocol analysis.
#[derive(Default)]
struct CountingSink {
    bytes: u64,
    gaps: u64,
    events: u64,
}

impl StreamSink for CountingSink {
    fn on_data(&mut self, _dir: Dir, _ts_ns: i64, data: &[u8]) {
        self.bytes += data.len() as u64;
    }
    fn on_gap(&mut self, _dir: Dir, _ts_ns: i64, len: u64) {
        self.gaps += len;
    }
    fn on_fin(&mut self, _dir: Dir, _ts_ns: i64) {}
    fn on_event(&mut self, _ts_ns: i64, _kind: EventKind, _detail: String) {
        self.events += 1;
    }
}

fn bench_reassembly(c: &mut Criterion, segs: &[(FlowKey, Segment<'_>)]) {
    let cfg = TcpConfig::default();
    let payload: u64 = segs.iter().map(|(_, s)| s.payload.len() as u64).sum();
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Elements(segs.len() as u64));
    g.bench_function(
        format!("{} segments, {payload} payload bytes", segs.len()),
        |b| {
            b.iter(|| {
                let mut conns: HashMap<FlowKey, Connection, ahash::RandomState> =
                    HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4));
                let mut sink = CountingSink::default();
                for (key, seg) in segs {
                    let conn = conns
                        .entry(*key)
                        .or_insert_with(|| Connection::new(seg, &cfg));
                    conn.on_segment(seg, &cfg, &mut sink);
                }
                black_box((sink.bytes, sink.gaps, sink.events, conns.len()))
            })
        },
    );
    g.finish();
}

#[derive(Default)]
struct TxCount(u64, u64);

impl HttpSink for TxCount {
    fn transaction(&mut self, t: Transaction) {
        self.0 += 1;
        black_box(&t);
    }
    fn event(&mut self, _ts_ns: i64, _kind: &'static str, _detail: String) {
        self.1 += 1;
    }
}

/// One keep-alive connection's two byte streams: `n` browser-like GETs and their responses
/// (headers of typical size; bodies of `body` bytes, a quarter of them chunked).
fn http_streams(n: usize, body: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut req, mut resp) = (Vec::new(), Vec::new());
    for i in 0..n {
        req.extend_from_slice(
            format!(
                "GET /api/v2/items/{i}?q=abc&page={} HTTP/1.1\r\nHost: svc.example.com\r\n\
                 User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
                 Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
                 Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n\
                 Referer: https://svc.example.com/index.html\r\nConnection: keep-alive\r\n\
                 Cookie: session=0123456789abcdef0123456789abcdef\r\n\r\n",
                i % 50
            )
            .as_bytes(),
        );
        let head = "HTTP/1.1 200 OK\r\nServer: nginx/1.26.0\r\nDate: Wed, 25 Nov 2026 10:00:00 GMT\r\n\
                    Content-Type: application/json\r\nConnection: keep-alive\r\n\
                    Cache-Control: max-age=60\r\nETag: \"5f3a-1b2c\"\r\n";
        if i % 4 == 3 {
            resp.extend_from_slice(format!("{head}Transfer-Encoding: chunked\r\n\r\n").as_bytes());
            for part in [body / 2, body - body / 2] {
                resp.extend_from_slice(format!("{part:x}\r\n").as_bytes());
                resp.resize(resp.len() + part, b'x');
                resp.extend_from_slice(b"\r\n");
            }
            resp.extend_from_slice(b"0\r\n\r\n");
        } else {
            resp.extend_from_slice(format!("{head}Content-Length: {body}\r\n\r\n").as_bytes());
            resp.resize(resp.len() + body, b'x');
        }
    }
    (req, resp)
}

fn bench_http1(c: &mut Criterion) {
    let cfg = wirehouse_http1::Config::default();
    let mut g = c.benchmark_group("http1");
    for body in [0usize, 2_000, 40_000] {
        let (req, resp) = http_streams(2_000, body);
        g.throughput(Throughput::Bytes((req.len() + resp.len()) as u64));
        g.bench_function(format!("2000 transactions, {body} byte bodies"), |b| {
            b.iter(|| {
                let mut p = Http1::new(&cfg);
                let mut sink = TxCount::default();
                // Requests and responses alternate in MSS-sized pieces, as reassembly
                // delivers them on a keep-alive connection.
                let (mut qi, mut ri, mut ts) = (0, 0, 0i64);
                while qi < req.len() || ri < resp.len() {
                    ts += 1_000;
                    if qi < req.len() {
                        let end = (qi + 1448).min(req.len());
                        p.on_data(Dir::ToServer, ts, &req[qi..end], &mut sink);
                        qi = end;
                    }
                    if ri < resp.len() {
                        let end = (ri + 1448).min(resp.len());
                        p.on_data(Dir::ToClient, ts, &resp[ri..end], &mut sink);
                        ri = end;
                    }
                }
                p.finish(ts, &mut sink);
                black_box((sink.0, sink.1))
            })
        });
    }
    // A busy link: 20,000 keep-alive connections, each segment for a different one, so every
    // call finds its parser's state gone cold (what the shard loop meets on the generated
    // capture). The payload bytes are shared and stay cached: this is the state's cost.
    const LIVE: usize = 20_000;
    let (req, resp) = http_streams(1, 40_000);
    let pieces: Vec<&[u8]> = resp.chunks(1448).collect();
    g.throughput(Throughput::Elements((LIVE * (1 + pieces.len())) as u64));
    g.bench_function(
        format!("{LIVE} live connections, a segment each in turn, 40000 byte bodies"),
        |b| {
            let mut parsers: Vec<Http1> = (0..LIVE).map(|_| Http1::new(&cfg)).collect();
            let mut sink = TxCount::default();
            let mut ts = 0i64;
            b.iter(|| {
                ts += 1_000;
                for p in parsers.iter_mut() {
                    p.on_data(Dir::ToServer, ts, &req, &mut sink);
                }
                for piece in &pieces {
                    ts += 1_000;
                    for p in parsers.iter_mut() {
                        p.on_data(Dir::ToClient, ts, piece, &mut sink);
                    }
                }
                black_box((sink.0, sink.1))
            })
        },
    );
    g.finish();
}

fn bench_parquet(c: &mut Criterion, dir: &std::path::Path) {
    const ROWS: usize = 100_000;
    let conn = |i: usize| ConnectionRow {
        conn_id: i as i64 * 7919,
        file: "capture.pcap".into(),
        first_ts: 1_767_225_600_000_000_000 + i as i64 * 1000,
        client_ip: format!("10.0.{}.{}", i / 250 % 250, i % 250),
        client_port: (1024 + i % 60_000) as u16,
        server_ip: "172.16.0.53".into(),
        server_port: 80,
        history: "ShADadFf".into(),
        conn_state: "SF".into(),
        client_bytes: (i * 31 % 5000) as i64,
        server_bytes: (i * 977 % 90_000) as i64,
        ..ConnectionRow::default()
    };
    let http = |i: usize| HttpRow {
        conn_id: i as i64 * 7919,
        file: "capture.pcap".into(),
        trans_depth: 1 + (i % 5) as u32,
        ts: 1_767_225_600_000_000_000 + i as i64 * 1000,
        client_ip: format!("10.0.{}.{}", i / 250 % 250, i % 250),
        client_port: (1024 + i % 60_000) as u16,
        server_ip: "172.16.0.53".into(),
        server_port: 80,
        method: Some("GET".into()),
        uri: Some(format!(
            "/api/v2/items/{}?q=abc&page={}",
            i * 13 % 50_000,
            i % 50
        )),
        host: Some(format!("svc{}.example.com", i % 64)),
        user_agent: Some("curl/8.11.1".into()),
        status: Some(200),
        response_body_bytes: Some((i * 977 % 90_000) as i64),
        ..HttpRow::default()
    };
    let conns: Vec<_> = (0..ROWS).map(conn).collect();
    let https: Vec<_> = (0..ROWS).map(http).collect();
    let mut g = c.benchmark_group("parquet");
    g.throughput(Throughput::Elements(2 * ROWS as u64));
    g.sample_size(10);
    g.bench_function("100k connections + 100k http rows", |b| {
        b.iter(|| {
            let out = dir.join("parquet");
            let ds = Dataset::create(&out, true, 1).unwrap();
            let mut t = TableBuilders::default();
            for r in &conns {
                t.connections.append(r);
            }
            for r in &https {
                t.http.append(r);
            }
            ds.write(Table::Connections, &t.connections.finish(), 0)
                .unwrap();
            ds.write(Table::Http, &t.http.finish(), 0).unwrap();
            black_box(ds.finish().unwrap())
        })
    });
    g.finish();
}

fn stages(c: &mut Criterion) {
    let (dir, buf) = capture();
    let pkts = frame_all(&buf);
    let segs: Vec<(FlowKey, Segment<'_>)> = pkts
        .iter()
        .filter_map(
            |&(lt, off, len, orig, ts)| match decode(lt, &buf[off..off + len], orig, ts) {
                Decoded::Tcp(t) => Some((FlowKey::new(t.seg.src, t.seg.dst, t.vlans), t.seg)),
                _ => None,
            },
        )
        .collect();
    bench_framing(c, &buf);
    bench_decode(c, &buf, &pkts);
    bench_reassembly(c, &segs);
    bench_http1(c);
    bench_parquet(c, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = stages
}
criterion_main!(benches);
