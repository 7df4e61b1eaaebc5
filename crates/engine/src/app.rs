//! Application protocol detection and dispatch for one connection.
//!
//! The first bytes of each direction decide the protocol: HTTP/1 (parsed), a SOCKS
//! handshake (stripped, then detection starts again on what it tunnels), or protocols we
//! only label (TLS, SSH, HTTP/2 with prior knowledge). Enum dispatch, no trait objects: this
//! runs for every delivered chunk.

use wirehouse_flow::{Dir, Endpoint, FlowKey, Vlans};
use wirehouse_http1::{Http1, HttpSink, Transaction};
use wirehouse_output::TableBuilders;
use wirehouse_output::tables::{EventRow, HttpRow};

use crate::flows::{FlowWriter, FlowsOut};
use crate::socks::{Fed, Socks, looks_like_socks};

/// Bytes of each direction the protocol decision looks at.
const PROBE_BYTES: usize = 24;
/// Bytes a probe holds while waiting for the client's first bytes (the server's may come
/// first: server-first protocols, or a capture whose directions are out of step).
const PROBE_LIMIT: usize = 16 * 1024;
/// How many times the probe of a connection picked up mid-stream starts again (after a
/// client segment, or `PROBE_LIMIT` bytes of the server's, with no message start in them)
/// before the connection is taken for an unknown protocol. A capture begins inside messages
/// sent before it: an upload's tail, a download's, whose end the next message follows.
const MID_STREAM_PROBES: u16 = 1024;

/// Identity of a connection, for its rows. Built for every segment, so it borrows the
/// connection's flow key and names the client by one flag rather than copying both endpoints
/// (which cost about 1 % of a run).
pub(crate) struct Meta<'a> {
    pub(crate) conn_id: i64,
    pub(crate) file: &'a str,
    pub(crate) key: &'a FlowKey,
    /// Whether the client is `key.lo`.
    pub(crate) client_is_lo: bool,
    /// Whether each direction's SYN was seen (client to server, server to client); filled
    /// for `flows` and while the protocol is being decided (a stream whose start the capture
    /// missed may begin inside a message), false otherwise.
    pub(crate) syn_seen: [bool; 2],
}

impl Meta<'_> {
    pub(crate) fn client(&self) -> Endpoint {
        self.key.src(self.client_is_lo)
    }

    pub(crate) fn server(&self) -> Endpoint {
        self.key.dst(self.client_is_lo)
    }

    pub(crate) fn vlans(&self) -> Vlans {
        self.key.vlans
    }
}

/// Where an analyzer's output goes.
pub(crate) struct AppCtx<'a> {
    pub(crate) meta: &'a Meta<'a>,
    pub(crate) rows: &'a mut TableBuilders,
    pub(crate) http: &'a wirehouse_http1::Config,
    pub(crate) flows: Option<&'a FlowsOut>,
}

pub(crate) enum App {
    /// Not decided yet: what came so far, held.
    Probe(Box<Probe>),
    /// HTTP/1.x, parsed.
    Http(Box<Http1>),
    /// A SOCKS handshake, then whatever it carries.
    Socks(Box<(Socks, App)>),
    /// Recognised but not parsed.
    Named(&'static str),
    /// `wirehouse flows`: the bytes go to files.
    Flow(Box<FlowWriter>),
    /// Nothing we recognise.
    Unknown,
}

/// Bytes held while the protocol is not known yet, with running totals: each segment costs
/// the same however many came before. (Summed over the held chunks at every segment, a
/// connection picked up mid-stream whose server sent a byte per segment cost the square of
/// the 16 KiB it may hold: 0.37 s of one core per connection.)
#[derive(Default)]
pub(crate) struct Probe {
    /// The first bytes of each direction in arrival order, with their timestamps, and any
    /// gap (the `u64`: bytes missing before that chunk's bytes) met before there were bytes
    /// to decide on.
    chunks: Vec<(Dir, i64, Vec<u8>, u64)>,
    /// Bytes held per direction (`Dir::index`).
    have: [usize; 2],
    /// Whether any chunk (bytes or a gap) came from the client.
    client_seen: bool,
    /// The first `PROBE_BYTES` of each direction: all the decision reads.
    prefix: [([u8; PROBE_BYTES], usize); 2],
    /// Probes before this one on a connection picked up mid-stream.
    restarts: u16,
}

impl Probe {
    fn push(&mut self, dir: Dir, ts: i64, bytes: Vec<u8>, gap: u64) {
        let (buf, n) = &mut self.prefix[dir.index()];
        let take = (PROBE_BYTES - *n).min(bytes.len());
        buf[*n..*n + take].copy_from_slice(&bytes[..take]);
        *n += take;
        self.have[dir.index()] += bytes.len();
        self.client_seen |= dir == Dir::ToServer;
        self.chunks.push((dir, ts, bytes, gap));
    }

    fn held(&self) -> usize {
        self.have[0] + self.have[1]
    }

    fn prefix(&self, dir: Dir) -> &[u8] {
        let (buf, n) = &self.prefix[dir.index()];
        &buf[..*n]
    }
}

fn is_tls(b: &[u8]) -> bool {
    // A TLS handshake record with a 3.x version.
    b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04
}

/// Any TLS record (change cipher spec, alert, handshake, application data) with a 3.x
/// version: what a connection picked up mid-stream shows at a segment start.
fn is_tls_record(b: &[u8]) -> bool {
    b.len() >= 3 && (0x14..=0x17).contains(&b[0]) && b[1] == 0x03 && b[2] <= 0x04
}

impl App {
    pub(crate) fn new() -> App {
        App::Probe(Box::default())
    }

    /// The protocol is not decided yet.
    pub(crate) fn is_probe(&self) -> bool {
        matches!(self, App::Probe(_))
    }

    /// HTTP/1, told which directions the capture picked up mid-stream.
    fn http1(cx: &AppCtx<'_>) -> App {
        let mut h = Http1::new(cx.http);
        for dir in [Dir::ToServer, Dir::ToClient] {
            if !cx.meta.syn_seen[dir.index()] {
                h.begins_mid_stream(dir);
            }
        }
        App::Http(Box::new(h))
    }

    /// The parsed HTTP analyzer, if any (inside SOCKS too).
    pub(crate) fn http(&self) -> Option<&Http1> {
        match self {
            App::Http(h) => Some(h),
            App::Socks(s) => s.1.http(),
            _ => None,
        }
    }

    /// The `app_protocol` column.
    pub(crate) fn protocol(&self) -> Option<String> {
        match self {
            App::Http(h) => match (h.is_http(), h.upgraded_to()) {
                (_, Some(u)) => Some(format!("http,{u}")),
                (true, None) => Some("http".into()),
                (false, None) => None,
            },
            App::Socks(s) => Some(match s.1.protocol() {
                Some(inner) => format!("socks,{inner}"),
                None => "socks".into(),
            }),
            App::Named(n) => Some((*n).into()),
            App::Probe(_) | App::Unknown | App::Flow(_) => None,
        }
    }

    /// Decide from the probe if possible (`force`: decide now, on what there is). Returns
    /// whether the probe started again instead (a connection picked up mid-stream, its
    /// first bytes no message start): the rest of the segment being probed is the middle
    /// of the same message, and is dropped with the bytes held.
    fn decide(&mut self, cx: &mut AppCtx<'_>, force: bool) -> bool {
        let App::Probe(p) = &*self else {
            return false;
        };
        let mid_stream = !cx.meta.syn_seen[0] || !cx.meta.syn_seen[1];
        let (c, s) = (p.prefix(Dir::ToServer), p.prefix(Dir::ToClient));
        let held = p.held();
        let enough = force
            || c.len() >= PROBE_BYTES
            || (!c.is_empty() && s.len() >= PROBE_BYTES)
            || held >= PROBE_LIMIT;
        let decided = if c.starts_with(b"PRI * HTTP/2.0") {
            Some(App::Named("http2"))
        } else if looks_like_socks(c) && (c.len() >= 2 || force) {
            Some(App::Socks(Box::new((Socks::new(c[0]), App::new()))))
        } else if wirehouse_http1::looks_like_request(c)
            || (c.is_empty() && wirehouse_http1::looks_like_response(s))
            || (mid_stream && s.starts_with(b"HTTP/1."))
        {
            // A prefix of a method is not enough once more bytes came and still fit.
            if enough || c.len() >= 4 || c.contains(&b' ') {
                Some(App::http1(cx))
            } else {
                None
            }
        } else if is_tls(c)
            || (c.is_empty() && is_tls(s))
            || (mid_stream && (is_tls_record(c) || (c.is_empty() && is_tls_record(s))))
        {
            Some(App::Named("tls"))
        } else if c.starts_with(b"SSH-") || s.starts_with(b"SSH-") {
            Some(App::Named("ssh"))
        } else if enough
            && mid_stream
            && c.is_empty()
            && p.chunks.iter().any(|(d, _, b, _)| {
                *d == Dir::ToClient && wirehouse_http1::find_status_line(b).is_some()
            })
        {
            // Only the server spoke, from inside a body, and a response follows it.
            Some(App::http1(cx))
        } else if enough && !force && mid_stream && p.restarts < MID_STREAM_PROBES {
            let restarts = p.restarts + 1;
            *self = App::Probe(Box::new(Probe {
                restarts,
                ..Probe::default()
            }));
            return true;
        } else if enough {
            Some(App::Unknown)
        } else {
            None
        };
        let Some(app) = decided else { return false };
        let App::Probe(p) = std::mem::replace(self, app) else {
            return false;
        };
        for (dir, ts, bytes, gap) in p.chunks {
            if gap > 0 {
                self.on_gap(cx, dir, ts, gap);
            }
            if !bytes.is_empty() {
                self.deliver(cx, dir, ts, &bytes);
            }
        }
        false
    }

    /// Bytes of one direction, in order.
    pub(crate) fn on_data(&mut self, cx: &mut AppCtx<'_>, dir: Dir, ts: i64, data: &[u8]) {
        if let App::Probe(p) = self {
            // Hold everything while only the server has spoken (whole segments, up to the
            // limit: a response that follows the tail of a body picked up mid-stream may
            // start anywhere in one); once the client has, hold just what the decision
            // needs and pass the rest on.
            let room = if p.client_seen || dir == Dir::ToServer {
                PROBE_BYTES.saturating_sub(p.have[dir.index()])
            } else if p.held() < PROBE_LIMIT {
                data.len()
            } else {
                0
            };
            let take = data.len().min(room.max(1));
            p.push(dir, ts, data[..take].to_vec(), 0);
            if self.decide(cx, false) {
                return;
            }
            let rest = &data[take..];
            if !rest.is_empty() {
                if matches!(self, App::Probe(_)) {
                    self.decide(cx, true);
                }
                self.deliver(cx, dir, ts, rest);
            }
            return;
        }
        self.deliver(cx, dir, ts, data);
    }

    /// Bytes for a decided protocol.
    fn deliver(&mut self, cx: &mut AppCtx<'_>, dir: Dir, ts: i64, data: &[u8]) {
        match self {
            App::Http(h) => h.on_data(dir, ts, data, &mut HttpRows::new(cx)),
            App::Socks(b) => {
                let (socks, inner) = &mut **b;
                match socks.feed(dir, data) {
                    Fed::More => {}
                    Fed::Done(rest) => {
                        if !rest.is_empty() {
                            inner.on_data(cx, dir, ts, rest);
                        }
                    }
                    Fed::Failed => {
                        *self = App::Unknown;
                    }
                }
            }
            App::Probe(_) => self.on_data(cx, dir, ts, data),
            App::Flow(w) => {
                if let Some(out) = cx.flows {
                    w.data(out, dir, (cx.meta.client(), cx.meta.server()), data);
                }
            }
            App::Named(_) | App::Unknown => {}
        }
    }

    /// Where the sender of `dir`'s next bytes stood in its peer's stream (HTTP/1 pairs
    /// requests and responses by it around bytes the capture lost). Only the analyzers fed
    /// the stream from its first byte use it: positions count from there.
    pub(crate) fn on_ack(&mut self, dir: Dir, acked: u64) {
        if let App::Http(h) = self {
            h.on_ack(dir, acked);
        }
    }

    pub(crate) fn on_gap(&mut self, cx: &mut AppCtx<'_>, dir: Dir, ts: i64, len: u64) {
        if let App::Probe(p) = self {
            if p.held() == 0 {
                // Nothing to decide on yet (a direction that starts with bytes its peer
                // acknowledged but the capture never had): keep the gap in line and wait.
                p.push(dir, ts, Vec::new(), len);
                return;
            }
            // A gap before the protocol is known: decide on what we have (HTTP picks up
            // again at the next message).
            self.decide(cx, true);
        }
        match self {
            App::Http(h) => h.on_gap(dir, ts, len, &mut HttpRows::new(cx)),
            App::Socks(b) if b.0.done() => b.1.on_gap(cx, dir, ts, len),
            App::Flow(w) => {
                if let Some(out) = cx.flows {
                    w.gap(
                        out,
                        dir,
                        (cx.meta.client(), cx.meta.server()),
                        len,
                        cx.meta.syn_seen[dir.index()],
                    );
                }
            }
            _ => {}
        }
    }

    pub(crate) fn on_fin(&mut self, cx: &mut AppCtx<'_>, dir: Dir, ts: i64) {
        if matches!(self, App::Probe(_)) {
            self.decide(cx, true);
        }
        match self {
            App::Http(h) => h.on_fin(dir, ts, &mut HttpRows::new(cx)),
            App::Socks(b) => b.1.on_fin(cx, dir, ts),
            _ => {}
        }
    }

    /// The connection closed: keep what the rows still need, give back buffers.
    pub(crate) fn release_memory(&mut self) {
        match self {
            App::Http(h) => h.release_memory(),
            App::Socks(b) => b.1.release_memory(),
            _ => {}
        }
    }

    pub(crate) fn finish(&mut self, cx: &mut AppCtx<'_>, ts: i64) {
        self.decide(cx, true);
        match self {
            App::Flow(w) => {
                if let Some(out) = cx.flows {
                    w.finish(out);
                }
            }
            App::Http(h) => h.finish(ts, &mut HttpRows::new(cx)),
            App::Socks(b) => b.1.finish(cx, ts),
            _ => {}
        }
    }
}

/// Rows from the HTTP analyzer.
struct HttpRows<'a, 'b> {
    cx: &'a mut AppCtx<'b>,
}

impl<'a, 'b> HttpRows<'a, 'b> {
    fn new(cx: &'a mut AppCtx<'b>) -> HttpRows<'a, 'b> {
        HttpRows { cx }
    }
}

/// Nanoseconds to microseconds, rounded to the nearest.
pub(crate) fn us(ns: Option<i64>) -> Option<i64> {
    ns.map(|v| (v + if v >= 0 { 500 } else { -500 }) / 1000)
}

impl HttpSink for HttpRows<'_, '_> {
    fn transaction(&mut self, t: Transaction) {
        let m = self.cx.meta;
        let (client, server) = (m.client(), m.server());
        self.cx.rows.http.append(&HttpRow {
            conn_id: m.conn_id,
            file: m.file.to_string(),
            trans_depth: t.trans_depth,
            ts: t.ts,
            request_end_ts: t.request_end_ts,
            response_ts: t.response_ts,
            response_end_ts: t.response_end_ts,
            ttfb_us: us(t.ttfb_ns),
            total_us: us(t.total_ns),
            idle_before_us: us(t.idle_before_ns),
            client_ip: client.addr.to_text(),
            client_port: client.port,
            server_ip: server.addr.to_text(),
            server_port: server.port,
            version: t.version,
            response_version: t.response_version,
            method: t.method,
            uri: t.uri,
            host: t.host,
            user_agent: t.user_agent,
            referrer: t.referrer,
            request_header_bytes: t.request_header_bytes as i64,
            request_body_bytes: t.request_body_bytes as i64,
            request_chunked: t.request_chunked,
            status: t.status,
            reason: t.reason,
            response_header_bytes: t.response_header_bytes.map(|v| v as i64),
            response_body_bytes: t.response_body_bytes.map(|v| v as i64),
            content_type: t.content_type,
            content_encoding: t.content_encoding,
            transfer_encoding: t.transfer_encoding,
            request_connection: t.request_connection,
            response_connection: t.response_connection,
            keep_alive: t.keep_alive,
            pipelined: t.pipelined,
            reused_connection: t.reused_connection,
            after_server_close: t.after_server_close,
            upgrade: t.upgrade,
            informational: t.informational,
            proxied_client_ip: t.proxied_client_ip.map(|ip| ip.to_string()),
            proxied_client_port: t.proxied_client_port,
            complete: t.complete,
            missing_bytes: t.missing_bytes as i64,
            stream_id: None,
        });
    }

    fn event(&mut self, ts_ns: i64, kind: &'static str, detail: String) {
        let m = self.cx.meta;
        self.cx.rows.events.append(&EventRow {
            ts: Some(ts_ns),
            conn_id: Some(m.conn_id),
            file: m.file.to_string(),
            kind: kind.to_string(),
            detail,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirehouse_flow::Addr;

    /// Feed `(direction, bytes)` chunks to a new analyzer, each chunk cut into pieces of
    /// `piece` bytes, and return the protocol it decided on.
    fn decided(chunks: &[(Dir, &[u8])], piece: usize) -> Option<String> {
        decided_with(chunks, piece, [false; 2])
    }

    /// [`decided`] for a connection whose SYNs were seen (`syn_seen`) or not.
    fn decided_with(chunks: &[(Dir, &[u8])], piece: usize, syn_seen: [bool; 2]) -> Option<String> {
        let client = Endpoint::new(Addr::v4([10, 0, 0, 1]), 40000);
        let server = Endpoint::new(Addr::v4([10, 0, 0, 2]), 80);
        let (key, client_is_lo) = FlowKey::oriented(client, server, Vlans::default());
        let meta = Meta {
            conn_id: 1,
            file: "t.pcap",
            key: &key,
            client_is_lo,
            syn_seen,
        };
        let mut rows = TableBuilders::default();
        let http = wirehouse_http1::Config::default();
        let mut cx = AppCtx {
            meta: &meta,
            rows: &mut rows,
            http: &http,
            flows: None,
        };
        let mut app = App::new();
        let mut ts = 0;
        for (dir, bytes) in chunks {
            for p in bytes.chunks(piece) {
                ts += 1;
                app.on_data(&mut cx, *dir, ts, p);
            }
        }
        app.protocol()
    }

    const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    /// A connection picked up mid-stream begins inside messages sent before the capture:
    /// its protocol is the one of the first message start that follows (a client segment
    /// that starts a request, a status line anywhere in what the server sent, TLS records
    /// at a segment start). With both SYNs seen, the same first bytes mean an unknown
    /// protocol.
    #[test]
    fn a_connection_picked_up_mid_stream_is_decided_on_its_next_message() {
        let upload_tail = &b"rest of an upload, sent before the capture began"[..];
        let mut download_tail = vec![0x5au8; 40 << 10];
        download_tail.extend_from_slice(RESPONSE);
        let tls_data = [0x17u8, 0x03, 0x03, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef];
        type Chunks<'a> = Vec<(Dir, &'a [u8])>;
        let cases: [(&str, Chunks<'_>, Option<&str>); 4] = [
            (
                "upload tail, then a request",
                vec![(Dir::ToServer, upload_tail), (Dir::ToServer, REQUEST)],
                Some("http"),
            ),
            (
                "download tail with a response after it, the client silent",
                vec![(Dir::ToClient, &download_tail[..])],
                Some("http"),
            ),
            (
                "TLS application data",
                vec![
                    (Dir::ToServer, &tls_data[..]),
                    (Dir::ToClient, &tls_data[..]),
                ],
                Some("tls"),
            ),
            (
                "nothing recognisable",
                vec![(Dir::ToServer, upload_tail), (Dir::ToClient, upload_tail)],
                None,
            ),
        ];
        for (what, chunks, want) in &cases {
            // Whole segments: the probe starts again at a segment start.
            assert_eq!(decided(chunks, 1 << 20).as_deref(), *want, "{what}");
        }
        // With the SYNs seen the stream starts are message starts: the upload's tail is
        // not HTTP, and what follows does not change that.
        let seen = decided_with(&cases[0].1, 1 << 20, [true; 2]);
        assert_eq!(seen, None, "SYNs seen");
    }

    #[test]
    fn the_decision_reads_the_first_bytes_across_segments() {
        for piece in [1, 3, 7, 1000] {
            let exchange = [(Dir::ToServer, REQUEST), (Dir::ToClient, RESPONSE)];
            assert_eq!(
                decided(&exchange, piece).as_deref(),
                Some("http"),
                "{piece}"
            );
            let tls = [
                0x16u8, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c, 0x03, 0x03,
            ];
            let tls = [
                (Dir::ToServer, &tls[..]),
                (Dir::ToClient, &[0x16, 0x03, 0x03][..]),
            ];
            assert_eq!(decided(&tls, piece).as_deref(), Some("tls"), "{piece}");
            let ssh = [(Dir::ToClient, &b"SSH-2.0-OpenSSH_9.2\r\n"[..])];
            let ssh = [ssh[0], (Dir::ToServer, &b"SSH-2.0-libssh\r\n"[..])];
            assert_eq!(decided(&ssh, piece).as_deref(), Some("ssh"), "{piece}");
        }
    }

    /// A connection picked up in the middle of a response: the server's bytes are held up
    /// to the limit while the client says nothing, and a response start decides HTTP.
    #[test]
    fn a_connection_picked_up_mid_response_is_decided_on_the_servers_bytes() {
        let body = vec![b'x'; 3 * PROBE_LIMIT];
        let mid_body = [(Dir::ToClient, &body[..])];
        assert_eq!(
            decided(&mid_body, 1448),
            None,
            "unrecognised bytes decide nothing"
        );
        let mut stream = RESPONSE.to_vec();
        stream.extend_from_slice(&body);
        let from_response = [(Dir::ToClient, &stream[..])];
        assert_eq!(decided(&from_response, 1448).as_deref(), Some("http"));
        assert_eq!(decided(&from_response, 5).as_deref(), Some("http"));
        assert_eq!(decided(&from_response, 1).as_deref(), Some("http"));
        assert_eq!(decided(&mid_body, 1), None);
    }
}
