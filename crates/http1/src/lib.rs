//! Streaming HTTP/1.x transaction analysis over reassembled TCP byte streams.
//!
//! [`Http1`] is fed the two directions of one connection as they come out of reassembly:
//! chunks with capture timestamps, gaps, and FINs. It produces one [`Transaction`] per request
//! (with its response, when there is one) through an [`HttpSink`].
//!
//! ## Design
//! - **Pairing by order.** HTTP/1.1 answers requests in order, so the i-th response belongs
//!   to the i-th request. The two directions may be delivered out of step (one may be held
//!   back while reassembly waits for a hole to fill), so requests and responses are queued
//!   separately and paired when both are complete; all times come from capture timestamps,
//!   never from delivery order. Pipelined requests, any number of them, and several messages
//!   in one segment are all logged.
//! - **Bodies are counted, never buffered.** Only header blocks are buffered, up to
//!   [`Config::max_header_bytes`]. Body framing follows RFC 9112 §6.3: chunked wins over
//!   Content-Length; HEAD, 1xx, 204 and 304 responses have no body; a response with neither
//!   ends when the server closes.
//! - **Gaps do not end analysis.** A gap inside a body of known length only shortens what is
//!   left to count. A gap in a header block or in chunk framing loses sync; the parser then
//!   scans for the next plausible message start and carries on (Zeek stops analysing HTTP on
//!   a connection after a content gap: zeek#3607).
//! - **What is not HTTP is left alone.** Bytes that cannot start a message stop parsing of
//!   that direction, with an event. After `101 Switching Protocols` or a successful CONNECT
//!   both directions are a tunnel and are not parsed.
//! - PROXY protocol v1/v2 headers at the start of the client stream are parsed and stripped
//!   ([`ProxyHeader`]).
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod proxy;

use std::collections::VecDeque;
use std::net::IpAddr;

pub use proxy::ProxyHeader;
pub use wirehouse_flow::{Dir, Endpoint};

/// Analyzer settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest header block buffered; a larger one is an event and loses sync.
    pub max_header_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_header_bytes: 64 * 1024,
        }
    }
}

/// Receives transactions and anomalies.
pub trait HttpSink {
    /// A finished transaction.
    fn transaction(&mut self, t: Transaction);
    /// An anomaly (names follow Zeek's weird.log where Zeek has one).
    fn event(&mut self, ts_ns: i64, kind: &'static str, detail: String);
}

/// One request and its response. Times are nanoseconds since the epoch; durations are
/// nanoseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transaction {
    /// 1 for the first request on the connection (Zeek's trans_depth).
    pub trans_depth: u32,
    /// First byte of the request (of the response, for a response with no request).
    pub ts: i64,
    /// Last byte of the request.
    pub request_end_ts: Option<i64>,
    /// First byte of the (final) response.
    pub response_ts: Option<i64>,
    /// Last byte of the response.
    pub response_end_ts: Option<i64>,
    /// Request end to first response byte; negative when the server answered before the
    /// request's last byte (an early error such as 413, or a handler that ignores the body).
    pub ttfb_ns: Option<i64>,
    /// Request start to the end of the exchange: the response's last byte, or the request's
    /// when that came later (the same early answers).
    pub total_ns: Option<i64>,
    /// Previous response end to this request's start.
    pub idle_before_ns: Option<i64>,
    /// Request version ("1.1", "1.0", "0.9").
    pub version: Option<String>,
    /// Response version.
    pub response_version: Option<String>,
    /// Method.
    pub method: Option<String>,
    /// Request target.
    pub uri: Option<String>,
    /// Host header.
    pub host: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Referer header.
    pub referrer: Option<String>,
    /// Request line and headers, with the blank line.
    pub request_header_bytes: u64,
    /// Request entity bytes after de-chunking.
    pub request_body_bytes: u64,
    /// The request body was chunked.
    pub request_chunked: bool,
    /// Status code.
    pub status: Option<u16>,
    /// Reason phrase.
    pub reason: Option<String>,
    /// Status line and headers.
    pub response_header_bytes: Option<u64>,
    /// Response entity bytes after de-chunking.
    pub response_body_bytes: Option<u64>,
    /// Content-Type of the response.
    pub content_type: Option<String>,
    /// Content-Encoding of the response.
    pub content_encoding: Option<String>,
    /// Transfer-Encoding of the response.
    pub transfer_encoding: Option<String>,
    /// Connection header of the request.
    pub request_connection: Option<String>,
    /// Connection header of the response.
    pub response_connection: Option<String>,
    /// Keep-Alive header of the response.
    pub keep_alive: Option<String>,
    /// Sent before the previous response was complete.
    pub pipelined: bool,
    /// Not the first request on the connection.
    pub reused_connection: bool,
    /// Sent after the server's FIN or after a response that announced the close.
    pub after_server_close: bool,
    /// Protocol switched to (101) or "connect" for a tunnel.
    pub upgrade: Option<String>,
    /// Client address from a PROXY header.
    pub proxied_client_ip: Option<IpAddr>,
    /// Client port from a PROXY header.
    pub proxied_client_port: Option<u16>,
    /// The response was seen to its end.
    pub complete: bool,
    /// Bytes of this transaction lost in the capture.
    pub missing_bytes: u64,
    /// Interim (1xx) responses before the final one.
    pub informational: u32,
}

/// Method tokens recognised when deciding whether a stream is HTTP (any token is accepted
/// once a connection is known to be HTTP).
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"TRACE",
    b"CONNECT",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
    b"QUERY",
    b"PURGE",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"NOTIFY",
    b"MKACTIVITY",
    b"CHECKOUT",
    b"MERGE",
    b"BPROPFIND",
    b"BCOPY",
    b"BMOVE",
    b"BDELETE",
    b"POLL",
    b"LINK",
    b"UNLINK",
    b"VERSION-CONTROL",
    b"BASELINE-CONTROL",
    b"ACL",
    b"BIND",
    b"UNBIND",
    b"REBIND",
    b"MKCALENDAR",
    b"ORDERPATCH",
    b"MKWORKSPACE",
    b"UPDATE",
    b"LABEL",
];

/// Could `first` (the start of a client stream) be an HTTP/1 request, or a PROXY header in
/// front of one?
pub fn looks_like_request(first: &[u8]) -> bool {
    let b = trim_leading_crlf(first);
    if proxy::may_start(b) {
        return true;
    }
    let tok_len = b.iter().take_while(|c| is_token_char(**c)).count();
    if tok_len == b.len() {
        // Only a prefix so far: plausible if it is a prefix of a known method.
        return !b.is_empty() && METHODS.iter().any(|m| m.starts_with(b));
    }
    let tok = &b[tok_len..];
    let method = &b[..tok_len];
    if METHODS.contains(&method) {
        // A known method, then the target (or a bare line, which servers answer with 400).
        return matches!(tok[0], b' ' | b'\r' | b'\n');
    }
    // An extension method (CCM_POST, vendor verbs): uppercase, then " /", " *" or an
    // absolute URI, so that arbitrary text is not taken for HTTP.
    (3..=24).contains(&tok_len)
        && method
            .iter()
            .all(|c| c.is_ascii_uppercase() || *c == b'_' || *c == b'-')
        && (tok.starts_with(b" /") || tok.starts_with(b" *") || tok.starts_with(b" http"))
}

/// Where the first whole status line in `data` begins, anywhere in it (a response follows
/// the body before it with no line break between): for resynchronising a server stream after
/// a gap, and for a connection picked up mid-stream whose server was sending a body when the
/// capture began. A status line cut by the end of `data` is not found (split over two
/// segments, rare enough to give up on: the next one is found).
pub fn find_status_line(data: &[u8]) -> Option<usize> {
    memchr::memmem::find_iter(data, b"HTTP/1.")
        .find(|&at| is_status_line_start(&data[at..]) == Some(true))
}

/// Could `first` (the start of a server stream) be an HTTP/1 response? For connections
/// picked up mid-stream, where the client's request was not captured.
pub fn looks_like_response(first: &[u8]) -> bool {
    let n = first.len().min(7);
    n > 0 && first[..n] == b"HTTP/1."[..n]
}

fn trim_leading_crlf(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .take_while(|c| **c == b'\r' || **c == b'\n')
        .count();
    &b[n..]
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Longest string kept per field; longer values are cut (with an event).
const MAX_FIELD: usize = 8 * 1024;

/// "1.0" or "1.1" (httparse accepts no other minor version) without the formatter.
fn http1_version(minor: u8) -> String {
    match minor {
        0 => "1.0".to_owned(),
        1 => "1.1".to_owned(),
        m => format!("1.{m}"),
    }
}

/// Whether `text` holds `word` in any letter case (as `to_ascii_lowercase().contains(word)`
/// would say for a lowercase `word`, without the lowercased copy).
fn contains_ignore_case(text: &str, word: &str) -> bool {
    text.as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// [`field`] of a value that is text already: the UTF-8 check is skipped unless the value
/// has to be cut.
fn field_text(v: &str) -> String {
    if v.len() <= MAX_FIELD {
        v.to_owned()
    } else {
        field(v.as_bytes())
    }
}

fn field(v: &[u8]) -> String {
    let v = &v[..v.len().min(MAX_FIELD)];
    // Valid UTF-8 (nearly every header) is checked a word at a time by `from_utf8`; the
    // lossy decoder walks it in chunks, about three times the instructions.
    match std::str::from_utf8(v) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(v).into_owned(),
    }
}

/// Where a direction's parser is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Expecting the start of a message (or a PROXY header, at the very start).
    Start,
    /// Inside a header block (buffered in `buf`).
    Headers,
    /// Counting body bytes.
    Body(Body),
    /// After a gap: looking for the next message start.
    Resync,
    /// A tunnel after 101 or CONNECT: not parsed.
    Tunnel,
    /// Not HTTP: not parsed.
    Dead,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    /// HTTP/0.9 response: raw bytes until close.
    Raw,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line (buffered in `buf`).
    Size,
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// Trailer lines after the last chunk (buffered in `buf`).
    Trailer,
}

/// One direction's stream parser.
#[derive(Clone, Debug)]
struct Side {
    phase: Phase,
    /// Body bytes counted by the fast path of [`Http1::on_data`] and not yet added to the
    /// message they belong to (the last one queued for this direction): see
    /// [`Http1::settle_body`].
    unsettled: u64,
    buf: Vec<u8>,
    /// Capture time of the current message's first byte.
    start_ts: i64,
    /// At the very start of the stream (PROXY headers are only valid there).
    at_stream_start: bool,
    /// The capture began after this direction's stream did (its SYN was not seen), so its
    /// first bytes may be the middle of a message rather than a message start.
    unknown_start: bool,
    ended: bool,
    /// Inside an established CONNECT tunnel: parse on only if HTTP shows up there.
    tunnel_probe: bool,
    /// Stream position (bytes delivered or lost so far) of the next byte to parse.
    pos: u64,
    /// Stream position of the current message's first byte.
    msg_pos: u64,
    /// How far this side had acknowledged the peer's stream when it sent the bytes being
    /// parsed (see [`Http1::on_ack`]), if reassembly says.
    peer_acked: Option<u64>,
}

impl Default for Side {
    fn default() -> Side {
        Side {
            phase: Phase::Start,
            unsettled: 0,
            buf: Vec::new(),
            start_ts: 0,
            at_stream_start: true,
            unknown_start: false,
            ended: false,
            tunnel_probe: false,
            pos: 0,
            msg_pos: 0,
            peer_acked: None,
        }
    }
}

/// A request as parsed.
#[derive(Clone, Debug, Default)]
struct Req {
    t: Transaction,
    complete: bool,
    head: bool,
    connect: bool,
    upgrade: Option<String>,
    /// How much of the server's stream had been delivered (or lost) when this request
    /// began: the server sent all of that before it could have read this request.
    server_pos: u64,
}

/// A response as parsed.
#[derive(Clone, Debug, Default)]
struct Resp {
    ts: i64,
    end_ts: Option<i64>,
    status: u16,
    reason: String,
    version: String,
    header_bytes: u64,
    body_bytes: u64,
    content_type: Option<String>,
    content_encoding: Option<String>,
    transfer_encoding: Option<String>,
    connection: Option<String>,
    keep_alive: Option<String>,
    informational: u32,
    /// Seen to its end.
    complete: bool,
    /// No more bytes will be added (complete, or sync was lost).
    done: bool,
    missing: u64,
    /// Announces that the server will close (Connection: close, or 1.0 without keep-alive).
    closes: bool,
    /// HTTP/0.9: no status line at all.
    raw: bool,
    /// Stands for a response the capture lost entirely: its request gets none.
    lost: bool,
    /// Server stream position of its first byte.
    start_pos: u64,
    /// Where the server's stream lost bytes before this response began, and whether at a
    /// boundary between responses (see [`Http1::answered_in_lost_bytes`]).
    loss_before: Option<(u64, bool)>,
}

/// HTTP/1.x analysis of one connection.
#[derive(Clone, Debug, Default)]
pub struct Http1 {
    max_header: usize,
    client: Side,
    server: Side,
    reqs: VecDeque<Req>,
    resps: VecDeque<Resp>,
    /// Requests parsed so far (the next one's trans_depth is this + 1).
    n_reqs: u32,
    /// Responses (final, non-1xx) parsed so far.
    n_resps: u32,
    /// Transactions emitted.
    emitted: u32,
    /// 1xx responses seen for the response being waited for.
    informational: u32,
    after_close: u32,
    server_fin_ts: Option<i64>,
    close_announced_ts: Option<i64>,
    /// When the previous response's last byte arrived (for `pipelined`, `idle_before`).
    prev_response_end: Option<i64>,
    /// The previous request had a response (else whether the next was pipelined is unknown).
    prev_answered: bool,
    /// The previous response was seen whole.
    prev_clean: bool,
    /// Last response bytes skipped while resynchronising after a gap: the aborted response
    /// went on until then.
    skipped_until: Option<i64>,
    proxy: Option<ProxyHeader>,
    upgraded: Option<String>,
    saw_http: bool,
    /// The previous request was HTTP/0.9 (its response has no header).
    http09: bool,
    /// The server's stream at the start of the request being parsed (see `Req::server_pos`).
    req_server_pos: u64,
    /// Where the server's stream first lost bytes since the last response began, and
    /// whether that was between two responses (see [`Http1::answered_in_lost_bytes`]).
    resp_loss: Option<(u64, bool)>,
    /// Where the server's stream last lost bytes that may have held response boundaries
    /// (a ring of the last `recent_losses.len()`, `n_losses` recorded in all): see
    /// [`answer_was_lost`].
    recent_losses: [u64; 4],
    n_losses: u32,
}

/// Whether request `q`'s response was in server bytes the capture lost (`loss`: where,
/// and whether at a boundary between responses), before the response starting at
/// `start_pos`; `next` is the request after `q`, if parsed, and `recent` where the server's
/// stream recently lost bytes that may have held response boundaries. See
/// [`Http1::answered_in_lost_bytes`]. The boundary rule speaks for one response only, so it is
/// used up here.
fn answer_was_lost(
    q: &Req,
    next: Option<&Req>,
    loss: &mut Option<(u64, bool)>,
    start_pos: u64,
    recent: &[u64],
) -> bool {
    let mut after_boundary = false;
    if let Some((lost_at, between)) = *loss {
        // Server bytes before the request's `server_pos` were sent before the server read
        // it: a loss there (the answer to a request the capture lost as well) is not its.
        after_boundary = between && start_pos > lost_at && lost_at >= q.server_pos;
        *loss = Some((lost_at, false));
    }
    // The client sent `next` after receiving server bytes beyond what it had when it sent
    // `q`, and this response only came after those: bytes lost among them, at or after
    // `q.server_pos`, held `q`'s response (a loss right before this response, or one
    // further back that swallowed more than one response of a pipelined burst).
    let lost_before_next = next.is_some_and(|next| {
        next.server_pos > q.server_pos
            && next.server_pos <= start_pos
            && (loss.is_some_and(|(l, _)| l < next.server_pos)
                || recent
                    .iter()
                    .any(|&l| l >= q.server_pos && l < next.server_pos))
    });
    after_boundary || lost_before_next
}

/// Queue `v`, starting an empty queue at capacity one. Most connections never have more
/// than one message in flight, and `VecDeque`'s default first allocation (four slots of a
/// ~600-byte request) was the largest per-connection cost at tens of thousands of live
/// connections; pipelining still grows the queue by doubling.
fn push_lean<T>(q: &mut VecDeque<T>, v: T) {
    if q.capacity() == 0 {
        q.reserve_exact(1);
    }
    q.push_back(v);
}

impl Http1 {
    /// Give back memory held for messages that can no longer come: called once the
    /// connection is closed, whose analyzer may linger a while (Zeek's close delay) for late
    /// retransmissions. What is still queued (an unanswered request) is kept.
    pub fn release_memory(&mut self) {
        self.reqs.shrink_to_fit();
        self.resps.shrink_to_fit();
        for side in [&mut self.client, &mut self.server] {
            side.buf.shrink_to_fit();
        }
    }

    /// A fresh analyzer for one connection.
    pub fn new(cfg: &Config) -> Http1 {
        Http1 {
            max_header: cfg.max_header_bytes.max(256),
            prev_answered: true,
            prev_clean: true,
            ..Http1::default()
        }
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u32 {
        self.n_reqs
    }

    /// Requests sent after the server had closed or announced it would.
    pub fn requests_after_server_close(&self) -> u32 {
        self.after_close
    }

    /// The PROXY header the client stream began with.
    pub fn proxy(&self) -> Option<&ProxyHeader> {
        self.proxy.as_ref()
    }

    /// The protocol the connection switched to ("websocket", "h2c", "connect"...).
    pub fn upgraded_to(&self) -> Option<&str> {
        self.upgraded.as_deref()
    }

    /// At least one valid request or response was seen.
    pub fn is_http(&self) -> bool {
        self.saw_http
    }

    /// The capture began after `dir`'s stream did (the connection was picked up mid-stream,
    /// its SYN never seen): if its first bytes are not a message start, they are the rest of
    /// a message sent before the capture (a body, typically), and the analyzer looks for the
    /// next message start as after a gap, instead of giving the direction up as not HTTP.
    /// Every capture of a busy server begins so for its long-lived keep-alive connections,
    /// and every file of a rotated set read without `--merge`.
    pub fn begins_mid_stream(&mut self, dir: Dir) {
        self.side(dir).unknown_start = true;
    }

    /// Bytes of one direction, in order.
    pub fn on_data(&mut self, dir: Dir, ts: i64, data: &[u8], sink: &mut impl HttpSink) {
        // Most segments continue a body of known length without finishing it. Counting them
        // is all [`Http1::body`] would do, and since every call leaves no transaction ready
        // to emit, one that finishes no message cannot make one ready. So such a segment
        // touches this side's parser state only: the queued request and response, which
        // [`Http1::emit_ready`] reads and the count goes to, have gone cold by the next
        // segment of a busy link. The count is settled into the message by the next call
        // that does anything else.
        let n = data.len() as u64;
        let s = self.side(dir);
        let base = s.pos;
        s.pos += n;
        match s.phase {
            Phase::Body(Body::Length(rem)) if n < rem => {
                s.unsettled += n;
                s.phase = Phase::Body(Body::Length(rem - n));
                return;
            }
            Phase::Body(Body::Chunked(Chunk::Data(rem))) if n < rem => {
                s.unsettled += n;
                s.phase = Phase::Body(Body::Chunked(Chunk::Data(rem - n)));
                return;
            }
            _ => {}
        }
        self.settle_body();
        let mut rest = data;
        // Each pass consumes bytes or changes phase (a pass that does neither would loop
        // forever, so it stops the loop).
        let mut stalls = 0;
        while !rest.is_empty() {
            let before = std::mem::discriminant(&self.side(dir).phase);
            // Where `rest` begins, for a message starting there.
            self.side(dir).pos = base + (n - rest.len() as u64);
            let used = self.step(dir, ts, rest, sink);
            rest = &rest[used.min(rest.len())..];
            if used == 0 {
                stalls += 1;
                if before == std::mem::discriminant(&self.side(dir).phase) || stalls > 8 {
                    break;
                }
            } else {
                stalls = 0;
            }
            self.emit_ready(sink);
        }
        self.side(dir).pos = base + n;
        self.emit_ready(sink);
    }

    /// The bytes of `dir` parsed next were sent by a side that had acknowledged the peer's
    /// stream up to `acked` (a position counted from the peer stream's first byte, as this
    /// parser counts its own).
    #[inline]
    pub fn on_ack(&mut self, dir: Dir, acked: u64) {
        let s = self.side(dir);
        s.peer_acked = Some(s.peer_acked.map_or(acked, |a| a.max(acked)));
    }

    /// Add the body bytes the fast path of [`Http1::on_data`] counted to the messages they
    /// belong to. Called first by every call that may change the message queues or read
    /// them: until then, the last message queued for each direction is the one whose body
    /// those bytes continued.
    fn settle_body(&mut self) {
        for dir in [Dir::ToServer, Dir::ToClient] {
            let n = std::mem::take(&mut self.side(dir).unsettled);
            if n > 0 {
                self.count_body(dir, n);
            }
        }
    }

    fn side(&mut self, dir: Dir) -> &mut Side {
        match dir {
            Dir::ToServer => &mut self.client,
            Dir::ToClient => &mut self.server,
        }
    }

    /// Consume a prefix of `data`; returns how many bytes.
    fn step(&mut self, dir: Dir, ts: i64, data: &[u8], sink: &mut impl HttpSink) -> usize {
        let phase = self.side(dir).phase.clone();
        match phase {
            Phase::Tunnel | Phase::Dead => data.len(),
            Phase::Start => self.start(dir, ts, data, sink),
            Phase::Headers => self.headers(dir, ts, data, sink),
            Phase::Body(body) => self.body(dir, ts, data, body, sink),
            Phase::Resync => {
                let n = self.resync(dir, ts, data, sink);
                if dir == Dir::ToClient && n > 0 {
                    self.skipped_until = Some(self.skipped_until.map_or(ts, |e| e.max(ts)));
                    if self.resps.is_empty() && !self.prev_clean {
                        // Its transaction is out already: what follows still learns when
                        // it really ended.
                        self.prev_response_end = self.prev_response_end.map(|e| e.max(ts));
                    }
                }
                n
            }
        }
    }

    fn start(&mut self, dir: Dir, ts: i64, data: &[u8], sink: &mut impl HttpSink) -> usize {
        let at_start = self.side(dir).at_stream_start;
        // Blank lines between messages are allowed (RFC 9112 §2.2), but a PROXY v2 header
        // also starts with CRLFs, so it is looked for first.
        let proxy_here = dir == Dir::ToServer && at_start && proxy::may_start(data);
        let blanks = data
            .iter()
            .take_while(|c| **c == b'\r' || **c == b'\n')
            .count();
        if blanks > 0 && !proxy_here {
            return blanks;
        }
        if self.side(dir).tunnel_probe {
            // A CONNECT tunnel usually carries TLS; plain HTTP through it is analysed too.
            let http = match dir {
                Dir::ToServer => looks_like_request(data),
                Dir::ToClient => looks_like_response(data),
            };
            let s = self.side(dir);
            s.tunnel_probe = false;
            if !http {
                s.phase = Phase::Tunnel;
                return data.len();
            }
        }
        self.side(dir).at_stream_start = false;
        if proxy_here {
            self.message_starts(dir);
            let s = self.side(dir);
            s.start_ts = ts;
            s.buf.clear();
            s.phase = Phase::Headers;
            s.at_stream_start = true; // still waiting for the PROXY header
            return 0;
        }
        // Where the stream may begin inside a message, only what can still be a request
        // line will do (an uppercase method, a space, a line ending in an HTTP version; a
        // line not complete yet may be one): an upload's tail passes for a token and a space
        // as easily as for anything else.
        let mid_stream = at_start && self.side(dir).unknown_start;
        let plausible = match dir {
            Dir::ToServer if mid_stream => is_request_line_start(data) != Some(false),
            Dir::ToServer => {
                let tok = data.iter().take_while(|c| is_token_char(**c)).count();
                tok > 0 && (tok == data.len() || matches!(data[tok], b' ' | b'\r' | b'\n'))
            }
            Dir::ToClient => looks_like_response(data),
        };
        if !plausible && mid_stream {
            sink.event(
                ts,
                "HTTP_midstream",
                format!(
                    "the capture begins inside a message ({:?}): looking for the next one",
                    preview(data)
                ),
            );
            self.side(dir).phase = Phase::Resync;
            return 0;
        }
        if !plausible && dir == Dir::ToClient && self.reqs.len() > self.resps.len() {
            // A request is waiting and the server answers without a status line: an
            // HTTP/0.9 response (to a 0.9 request, or to curl --http0.9), a document that
            // runs to the close.
            if !self.http09 {
                sink.event(
                    ts,
                    "HTTP_response_without_status_line",
                    format!(
                        "response begins {:?}; counted as a raw body to the close",
                        preview(data)
                    ),
                );
            }
            self.begin_response_raw(ts);
            self.side(dir).phase = Phase::Body(Body::Raw);
            return 0;
        }
        if !plausible {
            let kind = match dir {
                Dir::ToServer => "bad_HTTP_request",
                Dir::ToClient => "bad_HTTP_reply",
            };
            sink.event(
                ts,
                kind,
                format!("not an HTTP message start: {:?}", preview(data)),
            );
            self.side(dir).phase = Phase::Dead;
            return data.len();
        }
        self.message_starts(dir);
        let s = self.side(dir);
        s.start_ts = ts;
        s.buf.clear();
        s.phase = Phase::Headers;
        0
    }

    /// A message of `dir` begins at the current position.
    fn message_starts(&mut self, dir: Dir) {
        let s = self.side(dir);
        s.msg_pos = s.pos;
        if dir == Dir::ToServer {
            // What the client had of the server's stream when it sent this: from its
            // acknowledgment when reassembly gives it, else what the capture had delivered
            // of that stream by now (the same when both directions arrive in causal order).
            self.req_server_pos = self.client.peer_acked.unwrap_or(self.server.pos);
        }
    }

    fn headers(&mut self, dir: Dir, ts: i64, data: &[u8], sink: &mut impl HttpSink) -> usize {
        let max = self.max_header;
        let s = self.side(dir);
        let before = s.buf.len();
        if before == 0 && !(s.at_stream_start && dir == Dir::ToServer) {
            // The usual case: the whole header block is in these bytes. Parsed where it lies,
            // instead of copied into `buf` (a fresh allocation grown by doubling for every
            // message); the same block, so the same result.
            if let Some(end) = header_end(&data[..data.len().min(max + 4)], 0) {
                s.phase = Phase::Start;
                self.head(dir, ts, &data[..end], sink);
                return end;
            }
        }
        // Search only the new bytes (and the 3 before them, for a split CRLFCRLF).
        s.buf
            .extend_from_slice(&data[..data.len().min(max + 4 - before.min(max + 4))]);
        if s.at_stream_start && dir == Dir::ToServer {
            match proxy::parse(&s.buf) {
                proxy::Parsed::Partial => {
                    return data.len();
                }
                proxy::Parsed::Done(h, n) => {
                    s.at_stream_start = false;
                    s.buf.clear();
                    s.phase = Phase::Start;
                    self.proxy = Some(h);
                    return n.saturating_sub(before);
                }
                proxy::Parsed::Invalid => {
                    s.at_stream_start = false;
                    s.buf.truncate(before);
                    return 0; // parse as an ordinary header block
                }
            }
        }
        let from = before.saturating_sub(3);
        let Some(end) = header_end(&s.buf, from) else {
            if s.buf.len() > max {
                sink.event(
                    ts,
                    "HTTP_header_block_too_large",
                    format!("header block over {max} bytes; looking for the next message"),
                );
                s.buf.clear();
                s.phase = Phase::Resync;
            } else if dir == Dir::ToServer
                && s.buf[from..].contains(&b'\n')
                && is_http09_line(&s.buf)
            {
                // Checked only when a line end arrives: the answer depends on the first line
                // alone, and scanning the whole buffer for it at every segment made a long
                // first line sent in small pieces cost the square of its length.
                // "GET /path\r\n" with no version: an HTTP/0.9 request, complete at its line.
                let line_end = s.buf.iter().position(|c| *c == b'\n').unwrap_or(0) + 1;
                let used = line_end.saturating_sub(before);
                let line = s.buf[..line_end].to_vec();
                s.buf.clear();
                s.phase = Phase::Start;
                self.request_09(ts, &line);
                return used;
            }
            return data.len();
        };
        let used = end - before;
        let block = std::mem::take(&mut s.buf);
        let block = &block[..end];
        s.phase = Phase::Start;
        self.head(dir, ts, block, sink);
        used
    }

    /// A complete header block, wherever it was assembled.
    fn head(&mut self, dir: Dir, ts: i64, block: &[u8], sink: &mut impl HttpSink) {
        match dir {
            Dir::ToServer => self.request_head(ts, block, sink),
            Dir::ToClient => self.response_head(ts, block, sink),
        }
    }

    fn request_09(&mut self, ts: i64, line: &[u8]) {
        let text = field(line.trim_ascii_end());
        let mut parts = text.split(' ');
        let method = parts.next().map(str::to_string);
        let uri = parts.next().map(str::to_string);
        self.n_reqs += 1;
        self.saw_http = true;
        self.http09 = true;
        let start = self.client.start_ts;
        push_lean(
            &mut self.reqs,
            Req {
                t: Transaction {
                    ts: start,
                    request_end_ts: Some(ts),
                    version: Some("0.9".into()),
                    method,
                    uri,
                    request_header_bytes: line.len() as u64,
                    ..Transaction::default()
                },
                complete: true,
                server_pos: self.req_server_pos,
                ..Req::default()
            },
        );
    }

    fn request_head(&mut self, ts: i64, block: &[u8], sink: &mut impl HttpSink) {
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut big;
        let mut req = httparse::Request::new(&mut headers);
        let parsed = match req.parse(block) {
            Err(httparse::Error::TooManyHeaders) => {
                big = vec![httparse::EMPTY_HEADER; 1024];
                req = httparse::Request::new(&mut big);
                req.parse(block)
            }
            other => other,
        };
        if !matches!(parsed, Ok(httparse::Status::Complete(_))) {
            // Not valid HTTP/1.1 syntax, but possibly still a request a server will answer
            // (odd spacing, a missing version, no URI): read it leniently, line by line, and
            // report it.
            sink.event(
                ts,
                "bad_HTTP_request",
                format!("malformed request header block: {:?}", preview(block)),
            );
            match lenient_request(block) {
                Some((method, uri, version, headers)) => {
                    let hdrs = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
                    self.push_request(ts, block.len(), method, uri, version, hdrs, sink);
                }
                None => {
                    // Keep an anonymous request so the server's answer (typically 400)
                    // pairs with it.
                    self.n_reqs += 1;
                    push_lean(
                        &mut self.reqs,
                        Req {
                            t: Transaction {
                                ts: self.client.start_ts,
                                request_end_ts: Some(ts),
                                request_header_bytes: block.len() as u64,
                                ..Transaction::default()
                            },
                            complete: true,
                            server_pos: self.req_server_pos,
                            ..Req::default()
                        },
                    );
                    self.client.phase = Phase::Resync;
                }
            }
            return;
        }
        let method = req.method.unwrap_or("").to_string();
        // httparse hands the target over as text already: no second UTF-8 check.
        let uri = req.path.map(field_text);
        let version = Some(http1_version(req.version.unwrap_or(1)));
        let hdrs = req.headers.iter().map(|h| (h.name, h.value));
        self.push_request(ts, block.len(), Some(method), uri, version, hdrs, sink);
    }

    /// Record a request whose head has been read.
    #[allow(clippy::too_many_arguments)]
    fn push_request<'h>(
        &mut self,
        ts: i64,
        header_bytes: usize,
        method: Option<String>,
        uri: Option<String>,
        version: Option<String>,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        sink: &mut impl HttpSink,
    ) {
        self.saw_http = true;
        self.http09 = version.as_deref() == Some("0.9");
        self.n_reqs += 1;
        let is_method = |m: &str| method.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(m));
        let (connect, head) = (is_method("CONNECT"), is_method("HEAD"));
        let mut t = Transaction {
            ts: self.client.start_ts,
            version,
            method,
            uri,
            request_header_bytes: header_bytes as u64,
            ..Transaction::default()
        };
        let mut framing = Framing::default();
        let mut upgrade = None;
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("host") {
                t.host.get_or_insert_with(|| field(value));
            } else if name.eq_ignore_ascii_case("user-agent") {
                t.user_agent.get_or_insert_with(|| field(value));
            } else if name.eq_ignore_ascii_case("referer") {
                t.referrer.get_or_insert_with(|| field(value));
            } else if name.eq_ignore_ascii_case("connection") {
                t.request_connection.get_or_insert_with(|| field(value));
            } else if name.eq_ignore_ascii_case("upgrade") {
                upgrade = Some(field(value));
            } else {
                framing.header(name, value);
            }
        }
        let body = framing.decide(ts, sink, false);
        t.request_chunked = matches!(body, Some(Body::Chunked(_)));
        let body = match body {
            Some(Body::UntilClose) | None => None, // a request without length has no body
            Some(b) => Some(b),
        };
        let complete = body.is_none();
        if complete {
            t.request_end_ts = Some(ts);
        }
        push_lean(
            &mut self.reqs,
            Req {
                t,
                complete,
                head,
                connect,
                upgrade,
                server_pos: self.req_server_pos,
            },
        );
        if let Some(b) = body {
            self.client.phase = Phase::Body(b);
        }
    }

    /// The request a response being parsed now answers, if already parsed. A response can
    /// only be framed by its request's method (HEAD, CONNECT) when the request came first;
    /// if the request direction is still held back by reassembly, the response is framed
    /// by its own headers.
    ///
    /// Which request that is follows the rule pairing uses when the response is emitted
    /// ([`Http1::answered_in_lost_bytes`]): a response after bytes the capture lost may answer
    /// a later request than the next in order, and framing it by the wrong request's method
    /// (a GET's response read as a HEAD's, without its body) would lose sync for the rest of
    /// the connection.
    fn request_for_next_response(&self, loss_before: Option<(u64, bool)>) -> Option<&Req> {
        let mut idx = self.n_resps.checked_sub(self.emitted)? as usize;
        let mut loss = loss_before;
        let start_pos = self.server.msg_pos;
        loop {
            let q = self.reqs.get(idx)?;
            let recent =
                &self.recent_losses[..(self.n_losses as usize).min(self.recent_losses.len())];
            if !answer_was_lost(q, self.reqs.get(idx + 1), &mut loss, start_pos, recent) {
                return Some(q);
            }
            idx += 1;
        }
    }

    fn begin_response_raw(&mut self, ts: i64) {
        push_lean(
            &mut self.resps,
            Resp {
                ts,
                raw: true,
                ..Resp::default()
            },
        );
        self.n_resps += 1;
        self.http09 = false;
    }

    fn response_head(&mut self, ts: i64, block: &[u8], sink: &mut impl HttpSink) {
        let mut headers = [httparse::EMPTY_HEADER; 96];
        let mut big;
        let mut resp = httparse::Response::new(&mut headers);
        let parsed = match resp.parse(block) {
            Err(httparse::Error::TooManyHeaders) => {
                big = vec![httparse::EMPTY_HEADER; 1024];
                resp = httparse::Response::new(&mut big);
                resp.parse(block)
            }
            other => other,
        };
        if !matches!(parsed, Ok(httparse::Status::Complete(_))) {
            sink.event(
                ts,
                "bad_HTTP_reply",
                format!("unparsable response header block: {:?}", preview(block)),
            );
            self.server.phase = Phase::Resync;
            return;
        }
        self.saw_http = true;
        let status = resp.code.unwrap_or(0);
        let minor = resp.version.unwrap_or(1);
        if (100..200).contains(&status) && status != 101 {
            // Interim response (100 Continue, 103 Early Hints): the final one follows.
            self.informational += 1;
            return;
        }
        let mut r = Resp {
            ts: self.server.start_ts,
            status,
            reason: field(resp.reason.unwrap_or("").as_bytes()),
            version: http1_version(minor),
            header_bytes: block.len() as u64,
            informational: std::mem::take(&mut self.informational),
            start_pos: self.server.msg_pos,
            loss_before: self.resp_loss.take(),
            ..Resp::default()
        };
        let mut framing = Framing::default();
        for h in resp.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-type") {
                r.content_type.get_or_insert_with(|| field(h.value));
            } else if name.eq_ignore_ascii_case("content-encoding") {
                r.content_encoding.get_or_insert_with(|| field(h.value));
            } else if name.eq_ignore_ascii_case("connection") {
                r.connection.get_or_insert_with(|| field(h.value));
            } else if name.eq_ignore_ascii_case("keep-alive") {
                r.keep_alive.get_or_insert_with(|| field(h.value));
            } else {
                if name.eq_ignore_ascii_case("transfer-encoding") {
                    r.transfer_encoding.get_or_insert_with(|| field(h.value));
                }
                framing.header(name, h.value);
            }
        }
        let conn_close = r
            .connection
            .as_deref()
            .is_some_and(|v| contains_ignore_case(v, "close"));
        let keep_alive = r
            .connection
            .as_deref()
            .is_some_and(|v| contains_ignore_case(v, "keep-alive"));
        r.closes = conn_close || (minor == 0 && !keep_alive);
        let (head, connect, upgrade) = match self.request_for_next_response(r.loss_before) {
            Some(q) => (q.head, q.connect, q.upgrade.clone()),
            None => (false, false, None),
        };
        let no_body = head
            || status == 204
            || status == 304
            || status == 101
            || (connect && (200..300).contains(&status));
        let body = if no_body {
            None
        } else {
            framing.decide(ts, sink, true)
        };
        if r.closes && self.close_announced_ts.is_none() {
            self.close_announced_ts = Some(r.ts);
        }
        if status == 101 || (connect && (200..300).contains(&status)) {
            let to = if status == 101 {
                upgrade
                    .map(|u| {
                        u.split(',')
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_ascii_lowercase()
                    })
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| "unknown".into())
            } else {
                "connect".into()
            };
            let connect_ok = status != 101;
            self.upgraded = Some(to);
            for side in [&mut self.client, &mut self.server] {
                if connect_ok {
                    side.phase = Phase::Start;
                    side.tunnel_probe = true;
                } else {
                    side.phase = Phase::Tunnel;
                }
            }
            // The request is complete too: nothing more of it will be parsed.
            if let Some(q) = self.reqs.iter_mut().rev().find(|q| !q.complete) {
                q.complete = true;
                q.t.request_end_ts.get_or_insert(ts);
            }
        }
        self.n_resps += 1;
        match body {
            None => {
                r.end_ts = Some(ts);
                r.complete = true;
                r.done = true;
                push_lean(&mut self.resps, r);
            }
            Some(b) => {
                push_lean(&mut self.resps, r);
                if self.server.phase != Phase::Tunnel {
                    self.server.phase = Phase::Body(b);
                }
            }
        }
    }

    fn body(
        &mut self,
        dir: Dir,
        ts: i64,
        data: &[u8],
        body: Body,
        sink: &mut impl HttpSink,
    ) -> usize {
        match body {
            Body::Length(rem) => {
                let n = (data.len() as u64).min(rem);
                self.count_body(dir, n);
                if n == rem {
                    self.end_message(dir, ts);
                } else {
                    self.side(dir).phase = Phase::Body(Body::Length(rem - n));
                }
                n as usize
            }
            Body::UntilClose | Body::Raw => {
                self.count_body(dir, data.len() as u64);
                self.touch_end(dir, ts);
                data.len()
            }
            Body::Chunked(c) => self.chunked(dir, ts, data, c, sink),
        }
    }

    fn chunked(
        &mut self,
        dir: Dir,
        ts: i64,
        data: &[u8],
        c: Chunk,
        sink: &mut impl HttpSink,
    ) -> usize {
        match c {
            Chunk::Data(rem) => {
                let n = (data.len() as u64).min(rem);
                self.count_body(dir, n);
                let next = if n == rem {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(rem - n)
                };
                self.side(dir).phase = Phase::Body(Body::Chunked(next));
                n as usize
            }
            Chunk::DataEnd => {
                // Tolerate a bare LF, as servers do.
                let n = if data.starts_with(b"\r\n") {
                    2
                } else if data.starts_with(b"\n") {
                    1
                } else if data == b"\r" {
                    return 1; // the LF comes in the next chunk
                } else {
                    sink.event(
                        ts,
                        "HTTP_chunk_framing",
                        "chunk data not followed by CRLF".into(),
                    );
                    0
                };
                self.side(dir).phase = Phase::Body(Body::Chunked(Chunk::Size));
                self.side(dir).buf.clear();
                n
            }
            Chunk::Size | Chunk::Trailer => {
                let s = self.side(dir);
                let Some(nl) = data.iter().position(|b| *b == b'\n') else {
                    s.buf.extend_from_slice(data);
                    if s.buf.len() > 4096 {
                        sink.event(
                            ts,
                            "HTTP_chunk_framing",
                            "chunk-size or trailer line too long".into(),
                        );
                        s.buf.clear();
                        s.phase = Phase::Resync;
                        self.abort_message(dir, ts);
                    }
                    return data.len();
                };
                s.buf.extend_from_slice(&data[..nl]);
                let line = std::mem::take(&mut s.buf);
                let line = line.trim_ascii();
                if c == Chunk::Trailer {
                    if line.is_empty() {
                        self.end_message(dir, ts);
                    }
                    return nl + 1;
                }
                let hex = line
                    .split(|b| *b == b';')
                    .next()
                    .unwrap_or(b"")
                    .trim_ascii();
                match parse_hex(hex) {
                    Some(0) => {
                        self.side(dir).phase = Phase::Body(Body::Chunked(Chunk::Trailer));
                    }
                    Some(n) => {
                        self.side(dir).phase = Phase::Body(Body::Chunked(Chunk::Data(n)));
                    }
                    None => {
                        sink.event(
                            ts,
                            "HTTP_bad_chunk_size",
                            format!("bad chunk-size line {:?}", preview(line)),
                        );
                        self.side(dir).phase = Phase::Resync;
                        self.abort_message(dir, ts);
                    }
                }
                nl + 1
            }
        }
    }

    fn count_body(&mut self, dir: Dir, n: u64) {
        match dir {
            Dir::ToServer => {
                if let Some(q) = self.reqs.back_mut() {
                    q.t.request_body_bytes += n;
                }
            }
            Dir::ToClient => {
                if let Some(r) = self.resps.back_mut() {
                    r.body_bytes += n;
                }
            }
        }
    }

    fn touch_end(&mut self, dir: Dir, ts: i64) {
        if dir == Dir::ToClient
            && let Some(r) = self.resps.back_mut()
        {
            r.end_ts = Some(ts);
        }
    }

    fn end_message(&mut self, dir: Dir, ts: i64) {
        match dir {
            Dir::ToServer => {
                if let Some(q) = self.reqs.back_mut() {
                    q.complete = true;
                    q.t.request_end_ts = Some(ts);
                }
            }
            Dir::ToClient => {
                if let Some(r) = self.resps.back_mut() {
                    r.complete = true;
                    r.done = true;
                    r.end_ts = Some(ts);
                }
            }
        }
        let s = self.side(dir);
        if s.phase != Phase::Tunnel && s.phase != Phase::Resync {
            s.phase = Phase::Start;
        }
    }

    /// The current message lost sync: it ends here, incomplete.
    fn abort_message(&mut self, dir: Dir, ts: i64) {
        match dir {
            Dir::ToServer => {
                if let Some(q) = self.reqs.back_mut()
                    && !q.complete
                {
                    q.complete = true;
                    q.t.request_end_ts = Some(ts);
                }
            }
            Dir::ToClient => {
                if let Some(r) = self.resps.back_mut()
                    && !r.done
                {
                    // Done (later responses can pair) but not complete.
                    r.end_ts.get_or_insert(ts);
                    r.done = true;
                }
            }
        }
    }

    /// Find the next status line in the server's stream, anywhere in `data`: a response
    /// follows the previous body with no line break between (binary bodies seldom end in
    /// one), so looking only at line starts, as for requests, could skip every response to
    /// the end of a keep-alive connection. Returns the bytes to skip.
    fn resync_response(&mut self, ts: i64, data: &[u8], sink: &mut impl HttpSink) -> usize {
        self.server.buf.clear();
        let Some(at) = find_status_line(data) else {
            return data.len();
        };
        if at > 0 {
            sink.event(
                ts,
                "HTTP_resync",
                format!("skipped {at} bytes to the next message after a gap"),
            );
        }
        self.server.phase = Phase::Start;
        at
    }

    fn resync(&mut self, dir: Dir, ts: i64, data: &[u8], sink: &mut impl HttpSink) -> usize {
        if dir == Dir::ToClient {
            return self.resync_response(ts, data, sink);
        }
        // Look for a line that starts a message; keep a partial last line for next time.
        let s = self.side(dir);
        let carried = s.buf.len();
        if carried > 0 && is_request_line_start(data) == Some(true) {
            // The bytes carried end without a line break (a body's last bytes, an upload
            // cut by the start of the capture) and this segment starts a request: clients
            // send a request in segments of its own.
            s.buf.clear();
            s.phase = Phase::Start;
            return 0;
        }
        s.buf.extend_from_slice(&data[..data.len().min(8192)]);
        let buf = std::mem::take(&mut s.buf);
        let mut line_start = 0;
        while line_start < buf.len() {
            let rest = &buf[line_start..];
            let found = match dir {
                Dir::ToServer => is_request_line_start(rest),
                Dir::ToClient => is_status_line_start(rest),
            };
            match found {
                Some(true) => {
                    let skipped = line_start;
                    if skipped > 0 {
                        sink.event(
                            ts,
                            "HTTP_resync",
                            format!("skipped {skipped} bytes to the next message after a gap"),
                        );
                    }
                    let s = self.side(dir);
                    s.phase = Phase::Start;
                    // Bytes of `data` consumed: everything before the new message start.
                    return line_start.saturating_sub(carried);
                }
                None => {
                    // Undecidable yet (the line is incomplete): wait for more.
                    let s = self.side(dir);
                    s.buf = buf[line_start..].to_vec();
                    if s.buf.len() > 8192 {
                        s.buf.clear();
                    }
                    return data.len();
                }
                Some(false) => {}
            }
            match rest.iter().position(|b| *b == b'\n') {
                Some(nl) => line_start += nl + 1,
                None => {
                    let s = self.side(dir);
                    s.buf = rest[rest.len().saturating_sub(64)..].to_vec();
                    return data.len();
                }
            }
        }
        data.len()
    }

    /// Bytes of one direction that the capture never saw.
    pub fn on_gap(&mut self, dir: Dir, ts: i64, len: u64, sink: &mut impl HttpSink) {
        self.settle_body();
        let phase = self.side(dir).phase.clone();
        let at = self.side(dir).pos;
        self.side(dir).pos += len;
        if dir == Dir::ToClient {
            // Where response boundaries may have been lost: anywhere but inside a body whose
            // length is known past the gap (or in a tunnel, which has none).
            let lost = match phase {
                Phase::Tunnel | Phase::Dead => None,
                Phase::Body(Body::Length(rem)) if len <= rem => None,
                Phase::Body(Body::Chunked(Chunk::Data(rem))) if len < rem => None,
                Phase::Body(Body::Length(rem)) => Some((at + rem, true)),
                Phase::Start => Some((at, true)),
                _ => Some((at, false)),
            };
            if let Some(l) = lost {
                self.resp_loss.get_or_insert(l);
                let slot = self.n_losses as usize % self.recent_losses.len();
                self.recent_losses[slot] = l.0;
                self.n_losses = self.n_losses.saturating_add(1);
            }
        }
        self.note_missing(dir, len);
        match phase {
            Phase::Tunnel | Phase::Dead | Phase::Resync => {}
            Phase::Body(Body::Length(rem)) if len < rem => {
                self.count_body(dir, len);
                self.side(dir).phase = Phase::Body(Body::Length(rem - len));
            }
            Phase::Body(Body::Length(rem)) if len == rem => {
                self.count_body(dir, len);
                self.end_message(dir, ts);
            }
            Phase::Body(Body::UntilClose) | Phase::Body(Body::Raw) => {
                self.count_body(dir, len);
            }
            Phase::Body(Body::Chunked(Chunk::Data(rem))) if len < rem => {
                self.count_body(dir, len);
                self.side(dir).phase = Phase::Body(Body::Chunked(Chunk::Data(rem - len)));
            }
            Phase::Start => {
                self.side(dir).phase = Phase::Resync;
            }
            Phase::Headers => {
                // The gap's bytes were noted before the salvaged message existed: they are
                // its own (the rest of its header block and whatever followed).
                self.salvage_head(dir, ts, len.max(1), sink);
                let s = self.side(dir);
                s.buf.clear();
                s.phase = Phase::Resync;
            }
            _ => {
                // Lost inside a header block or chunk framing, or past the end of a body.
                if matches!(phase, Phase::Body(Body::Length(_))) {
                    if let Phase::Body(Body::Length(rem)) = phase {
                        self.count_body(dir, rem);
                    }
                    self.end_message(dir, ts);
                } else {
                    self.abort_message(dir, ts);
                }
                let s = self.side(dir);
                s.buf.clear();
                s.phase = Phase::Resync;
            }
        }
        self.emit_ready(sink);
    }

    fn note_missing(&mut self, dir: Dir, len: u64) {
        match dir {
            Dir::ToServer => {
                if let Some(q) = self.reqs.back_mut()
                    && !q.complete
                {
                    q.t.missing_bytes += len;
                }
            }
            Dir::ToClient => {
                if let Some(r) = self.resps.back_mut()
                    && !r.done
                {
                    r.missing += len;
                }
            }
        }
    }

    /// This direction ended cleanly (its FIN was reached).
    pub fn on_fin(&mut self, dir: Dir, ts: i64, sink: &mut impl HttpSink) {
        self.settle_body();
        let side = self.side(dir);
        side.ended = true;
        let phase = side.phase.clone();
        if dir == Dir::ToClient {
            self.server_fin_ts.get_or_insert(ts);
            if matches!(
                phase,
                Phase::Body(Body::UntilClose) | Phase::Body(Body::Raw)
            ) {
                self.end_message(dir, ts);
            }
        }
        self.emit_ready(sink);
    }

    /// A header block cut short (by a gap, or by the end of the capture): keep what its
    /// first line says, as tshark does for a truncated request, with the loss recorded:
    /// `lost` is the gap's length, or 1 when the capture ended (how much never came is
    /// unknown, but something did not).
    fn salvage_head(&mut self, dir: Dir, ts: i64, lost: u64, sink: &mut impl HttpSink) {
        let buf = std::mem::take(&mut self.side(dir).buf);
        if buf.is_empty() {
            return;
        }
        match dir {
            Dir::ToServer => {
                if self.client.at_stream_start && proxy::may_start(&buf) {
                    return;
                }
                let Some((method, uri, version, headers)) = lenient_request(&buf) else {
                    return;
                };
                sink.event(
                    ts,
                    "HTTP_truncated_header",
                    format!("request header block cut after {} bytes", buf.len()),
                );
                let hdrs = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
                self.push_request(ts, buf.len(), method, uri, version, hdrs, sink);
                if let Some(q) = self.reqs.back_mut() {
                    q.complete = true;
                    q.t.request_end_ts.get_or_insert(ts);
                    q.t.missing_bytes += lost;
                }
                self.client.phase = Phase::Start;
            }
            Dir::ToClient => {
                if !is_status_line_start(&buf).unwrap_or(false) {
                    return;
                }
                let code = std::str::from_utf8(&buf[9..12])
                    .ok()
                    .and_then(|c| c.parse().ok());
                sink.event(
                    ts,
                    "HTTP_truncated_header",
                    format!("response header block cut after {} bytes", buf.len()),
                );
                let loss_before = self.resp_loss.take();
                self.n_resps += 1;
                push_lean(
                    &mut self.resps,
                    Resp {
                        ts: self.server.start_ts,
                        end_ts: Some(ts),
                        status: code.unwrap_or(0),
                        version: format!("1.{}", char::from(buf[7])),
                        header_bytes: buf.len() as u64,
                        informational: std::mem::take(&mut self.informational),
                        done: true,
                        missing: lost,
                        start_pos: self.server.msg_pos,
                        loss_before,
                        ..Resp::default()
                    },
                );
                self.saw_http = true;
                self.server.phase = Phase::Start;
            }
        }
    }

    /// The connection is over: emit everything pending.
    pub fn finish(&mut self, ts: i64, sink: &mut impl HttpSink) {
        self.settle_body();
        for dir in [Dir::ToServer, Dir::ToClient] {
            if self.side(dir).phase == Phase::Headers {
                self.salvage_head(dir, ts, 1, sink);
            }
        }
        self.emit_ready(sink);
        while !self.reqs.is_empty() || !self.resps.is_empty() {
            let q = self.reqs.pop_front();
            let r = self.resps.pop_front();
            self.emit(q, r, sink);
        }
    }

    /// Emit every transaction whose request and response are both complete.
    ///
    /// Called after every chunk of every direction (1.6 M times on the 1 GB generated
    /// capture, for 25 k transactions), so the common answer, nothing to emit, is decided
    /// inline; the loop and the row building behind it are not.
    #[inline]
    fn emit_ready(&mut self, sink: &mut impl HttpSink) {
        let ready = matches!(
            (self.reqs.front(), self.resps.front()),
            (Some(q), Some(r)) if q.complete && r.done
        );
        if ready {
            self.emit_ready_slow(sink);
        }
    }

    #[inline(never)]
    fn emit_ready_slow(&mut self, sink: &mut impl HttpSink) {
        while let (Some(q), Some(r)) = (self.reqs.front(), self.resps.front()) {
            if !q.complete || !r.done {
                break;
            }
            if r.ts < q.t.ts {
                // The response began before this request was sent: it answers no request
                // we saw (a server sending unsolicited responses, or a request the capture
                // missed). Logged on its own, as Zeek does.
                let r = self.resps.pop_front();
                self.emit(None, r, sink);
            } else if self.answered_in_lost_bytes() {
                let q = self.reqs.pop_front();
                let ts = q.as_ref().map_or(0, |q| q.t.ts);
                let lost = Resp {
                    ts,
                    done: true,
                    lost: true,
                    ..Resp::default()
                };
                // Counted as a response parsed, so the next one is matched to the next
                // request (see `request_for_next_response`).
                self.n_resps += 1;
                self.emit(q, Some(lost), sink);
            } else {
                let q = self.reqs.pop_front();
                let r = self.resps.pop_front();
                self.emit(q, r, sink);
            }
        }
        self.release_idle_queues();
    }

    /// Whether the oldest waiting request's response was in server bytes the capture lost,
    /// before the oldest parsed response: then that request gets no response, instead of it
    /// and every later request on the connection getting its predecessor's.
    ///
    /// Two facts decide it, from causality rather than timing. Responses follow each other
    /// without a byte between, so bytes lost right after a response that ended in sync were
    /// the next response: the one the oldest waiting request expects, unless they lie before
    /// that request's `server_pos` (then they answered a request lost too). And a request was sent
    /// only after its client had the server's stream up to the request's `server_pos`, so
    /// the server sent those bytes before it read the request: when the loss lies before that
    /// point and the parsed response starts at or after it, the request before got its
    /// answer in what was lost. A client that waits for each response sends its next request
    /// further along the server's stream than the one before; a pipelining client does not,
    /// and then pairing stays in order.
    fn answered_in_lost_bytes(&mut self) -> bool {
        let (Some(q), Some(r)) = (self.reqs.front(), self.resps.front_mut()) else {
            return false;
        };
        let recent = &self.recent_losses[..(self.n_losses as usize).min(self.recent_losses.len())];
        answer_was_lost(q, self.reqs.get(1), &mut r.loss_before, r.start_pos, recent)
    }

    /// Give the queues' slots back once nothing is in flight. A keep-alive connection spends
    /// most of its life between transactions, and the request slot (~390 bytes) and response
    /// slot held through that time were 11 of the heap's 129 MB at its peak on the 10 GB
    /// generated capture (31 k live connections, 2 threads). Taking them again costs an
    /// allocation per message, 25 k per GB of that capture.
    fn release_idle_queues(&mut self) {
        if self.reqs.is_empty() && self.reqs.capacity() > 0 {
            self.reqs = VecDeque::new();
        }
        if self.resps.is_empty() && self.resps.capacity() > 0 {
            self.resps = VecDeque::new();
        }
    }

    fn emit(&mut self, q: Option<Req>, r: Option<Resp>, sink: &mut impl HttpSink) {
        self.emitted += 1;
        let req_seen = q.is_some();
        let mut t = match q {
            Some(q) => q.t,
            None => Transaction {
                // A response to a request the capture did not show.
                ts: r.as_ref().map_or(0, |r| r.ts),
                ..Transaction::default()
            },
        };
        // Like Zeek's trans_depth: the position of this transaction on the connection,
        // counting responses that answered no visible request.
        t.trans_depth = self.emitted;
        t.reused_connection = t.trans_depth > 1;
        if req_seen {
            t.pipelined = t.trans_depth > 1
                && (!self.prev_answered || self.prev_response_end.is_none_or(|e| t.ts < e));
            t.idle_before_ns = self
                .prev_response_end
                .filter(|_| t.trans_depth > 1)
                .map(|e| t.ts - e)
                .filter(|d| *d >= 0);
            t.after_server_close = self.server_fin_ts.is_some_and(|f| t.ts > f)
                || self.close_announced_ts.is_some_and(|c| t.ts > c);
            if t.after_server_close {
                self.after_close += 1;
            }
        }
        if let Some(p) = &self.proxy
            && let Some(src) = p.src
        {
            t.proxied_client_ip = Some(src.addr.to_ip());
            t.proxied_client_port = Some(src.port);
        }
        if !req_seen || t.method.is_some() || r.is_some() {
            // fall through
        } else {
            // An unparsable fragment nobody answered: nothing to describe.
            self.emitted -= 1;
            return;
        }
        match r {
            Some(r) if r.lost => {
                // Its response was in bytes the capture lost.
                t.missing_bytes = t.missing_bytes.max(1);
                self.prev_answered = false;
                self.prev_response_end = None;
            }
            Some(r) => {
                t.response_ts = Some(r.ts);
                t.response_end_ts = r.end_ts;
                if !r.raw {
                    t.status = Some(r.status);
                    t.reason = Some(r.reason);
                    t.response_version = Some(r.version);
                    t.response_header_bytes = Some(r.header_bytes);
                }
                t.response_body_bytes = Some(r.body_bytes);
                t.content_type = r.content_type;
                t.content_encoding = r.content_encoding;
                t.transfer_encoding = r.transfer_encoding;
                t.response_connection = r.connection;
                t.keep_alive = r.keep_alive;
                t.informational = r.informational;
                t.complete = r.complete && r.missing == 0;
                t.missing_bytes += r.missing;
                t.ttfb_ns = t.request_end_ts.map(|e| r.ts - e);
                // Until the later of the two ends: a server may answer before the
                // request's body is over (an early 413, or a handler that ignores it).
                t.total_ns = r
                    .end_ts
                    .filter(|_| req_seen)
                    .map(|e| e.max(t.request_end_ts.unwrap_or(e)) - t.ts);
                self.prev_response_end = r.end_ts;
                if !r.complete {
                    // Cut short by a gap: its remaining bytes were skipped until then.
                    self.prev_response_end = match (r.end_ts, self.skipped_until) {
                        (Some(e), Some(k)) => Some(e.max(k)),
                        (e, k) => e.or(k),
                    };
                }
                self.prev_clean = r.complete;
                self.skipped_until = None;
                self.prev_answered = true;
                if r.status == 101
                    || t.method
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"))
                {
                    t.upgrade = self.upgraded.clone();
                }
            }
            None => {
                self.prev_answered = false;
            }
        }
        sink.transaction(t);
    }
}

/// Content-Length / Transfer-Encoding bookkeeping for one message.
#[derive(Default)]
struct Framing {
    /// The first valid Content-Length value.
    length: Option<u64>,
    /// Any further values (a list, or repeated headers): kept apart so that the usual single
    /// value needs no allocation.
    more_lengths: Vec<u64>,
    bad_length: bool,
    chunked: bool,
    other_coding: bool,
}

impl Framing {
    fn header(&mut self, name: &str, value: &[u8]) {
        if name.eq_ignore_ascii_case("content-length") {
            // "Content-Length: 42, 42" (a list of equal values) is allowed.
            for part in value.split(|b| *b == b',') {
                let part = part.trim_ascii();
                match std::str::from_utf8(part)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    Some(n) if !part.is_empty() && part.iter().all(u8::is_ascii_digit) => {
                        if self.length.is_none() {
                            self.length = Some(n);
                        } else {
                            self.more_lengths.push(n);
                        }
                    }
                    _ => self.bad_length = true,
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked counts only as the final coding (RFC 9112 §6.3). "identity" (a no-op,
            // dropped from the registry) does not count as a coding at all.
            let last = value
                .rsplit(|b| *b == b',')
                .map(|c| c.trim_ascii())
                .find(|c| !c.eq_ignore_ascii_case(b"identity"))
                .unwrap_or(b"");
            if last.eq_ignore_ascii_case(b"chunked") {
                self.chunked = true;
            } else if !last.is_empty() && !last.eq_ignore_ascii_case(b"identity") {
                self.other_coding = true;
            }
        }
    }

    /// How the body is delimited (RFC 9112 §6.3). `None`: no body.
    fn decide(&self, ts: i64, sink: &mut impl HttpSink, response: bool) -> Option<Body> {
        if self.chunked {
            if self.length.is_some() {
                // Both: Transfer-Encoding wins, as servers and RFC 9112 do; a classic
                // request-smuggling setup, so it is reported.
                sink.event(
                    ts,
                    "HTTP_both_Content_Length_and_Transfer_Encoding",
                    "Content-Length ignored in favour of chunked".into(),
                );
            }
            return Some(Body::Chunked(Chunk::Size));
        }
        if self.other_coding {
            // A transfer coding other than chunked: the body runs to the close.
            return if response {
                Some(Body::UntilClose)
            } else {
                None
            };
        }
        if let Some(first) = self.length {
            if self.bad_length || self.more_lengths.iter().any(|&l| l != first) {
                // Conflicting or invalid lengths make the message unreadable for a server
                // (RFC 9112 §6.3 item 5); we follow the first valid value so that one
                // message stays one record (zeek#1798), and report it.
                sink.event(
                    ts,
                    "HTTP_conflicting_Content_Length",
                    format!(
                        "Content-Length values {:?}; using {first}",
                        std::iter::once(&first)
                            .chain(&self.more_lengths)
                            .collect::<Vec<_>>()
                    ),
                );
            }
            return if first == 0 {
                None
            } else {
                Some(Body::Length(first))
            };
        }
        if self.bad_length {
            sink.event(
                ts,
                "HTTP_bad_Content_Length",
                "unparsable Content-Length".into(),
            );
        }
        if response {
            Some(Body::UntilClose)
        } else {
            None
        }
    }
}

fn parse_hex(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut n: u64 = 0;
    for c in b {
        let d = (*c as char).to_digit(16)?;
        n = n.checked_mul(16)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Method, target, version and headers of a request head that httparse rejected. `None`
/// when the first line does not even start with a method token.
#[allow(clippy::type_complexity)]
fn lenient_request(
    block: &[u8],
) -> Option<(
    Option<String>,
    Option<String>,
    Option<String>,
    Vec<(String, Vec<u8>)>,
)> {
    let mut lines = block
        .split(|c| *c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    let mut words = first
        .split(|c| *c == b' ' || *c == b'\t')
        .filter(|w| !w.is_empty());
    let method = words.next()?;
    // Any token works for httparse-valid requests; a malformed one must at least look like
    // a method (a known one, or 3+ uppercase token characters like CCM_POST) to count.
    let known = METHODS.iter().any(|m| m.eq_ignore_ascii_case(method));
    let shaped = method.len() >= 3
        && method
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-');
    if !(known || shaped) {
        return None;
    }
    let uri = words.next().map(field);
    let third = words.next();
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            // Obsolete line folding: the line continues the previous header's value
            // (RFC 9112 §5.2 lets a recipient replace the fold with a space).
            if let Some((_, v)) = headers.last_mut() {
                v.push(b' ');
                v.extend_from_slice(line.trim_ascii());
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|c| *c == b':') {
            let name = String::from_utf8_lossy(line[..colon].trim_ascii()).into_owned();
            headers.push((name, line[colon + 1..].trim_ascii().to_vec()));
        }
    }
    // "METHOD /path" alone, with no version and no headers, is an HTTP/0.9 request.
    let version = match third {
        Some(v) => v.strip_prefix(b"HTTP/").map(field),
        None if uri.is_some() && headers.is_empty() => Some("0.9".to_string()),
        None => None,
    };
    Some((Some(field(method)), uri, version, headers))
}

/// End of a header block (index just past the blank line) searching from `from`.
///
/// Lines are found with `memchr`: header blocks of real clients run to hundreds of bytes,
/// and the plain byte loop was 1,150 instructions per call on the generated capture.
fn header_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        let nl = i + memchr::memchr(b'\n', &b[i..])?;
        // The line after this newline is empty ("\r\n" or "\n").
        if b.get(nl + 1) == Some(&b'\n') {
            return Some(nl + 2);
        }
        if b.get(nl + 1) == Some(&b'\r') && b.get(nl + 2) == Some(&b'\n') {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// "METHOD /uri\r\n" with no version.
fn is_http09_line(b: &[u8]) -> bool {
    let Some(nl) = b.iter().position(|c| *c == b'\n') else {
        return false;
    };
    let line = b[..nl].trim_ascii_end();
    let mut parts = line.split(|c| *c == b' ');
    let (Some(m), Some(u), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !m.is_empty() && m.iter().all(|c| is_token_char(*c)) && u.first() == Some(&b'/')
}

/// Does `b` start with a request line? `None` when the line is not complete yet.
fn is_request_line_start(b: &[u8]) -> Option<bool> {
    let tok = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if tok == b.len() {
        return if tok < 20 { None } else { Some(false) };
    }
    if !(3..=20).contains(&tok) || b[tok] != b' ' {
        return Some(false);
    }
    let Some(nl) = b.iter().position(|c| *c == b'\n') else {
        return if b.len() > 8192 { Some(false) } else { None };
    };
    let line = b[..nl].trim_ascii_end();
    Some(line.len() > 9 && line[line.len() - 9..line.len() - 1] == *b" HTTP/1.")
}

/// Does `b` start with a status line?
fn is_status_line_start(b: &[u8]) -> Option<bool> {
    if b.len() < 12 {
        return if b"HTTP/1.".starts_with(&b[..b.len().min(7)]) {
            None
        } else {
            Some(false)
        };
    }
    Some(b.starts_with(b"HTTP/1.") && b[8] == b' ' && b[9..12].iter().all(u8::is_ascii_digit))
}

fn preview(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{
        Config, Dir, Http1, HttpSink, MAX_FIELD, Transaction, contains_ignore_case, field,
        field_text, header_end,
    };
    use proptest::prelude::*;

    #[derive(Default)]
    struct Count(usize);

    impl HttpSink for Count {
        fn transaction(&mut self, _t: Transaction) {
            self.0 += 1;
        }
        fn event(&mut self, _ts: i64, _kind: &'static str, _detail: String) {}
    }

    /// Between keep-alive transactions the analyzer holds no request or response slot; while
    /// a request waits for its response, or two are pipelined, the queues hold them.
    #[test]
    fn idle_keep_alive_connection_holds_no_message_slots() {
        let get = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let mut h = Http1::new(&Config::default());
        let mut rows = Count::default();
        for round in 1..=3 {
            h.on_data(Dir::ToServer, 10 * round, get, &mut rows);
            assert_eq!(h.reqs.len(), 1, "request waiting for its response");
            h.on_data(Dir::ToClient, 10 * round + 5, ok, &mut rows);
            assert_eq!(rows.0, round as usize);
            assert_eq!((h.reqs.capacity(), h.resps.capacity()), (0, 0));
        }
        // Pipelined: two requests, then one response; the second request stays queued.
        h.on_data(Dir::ToServer, 100, get, &mut rows);
        h.on_data(Dir::ToServer, 101, get, &mut rows);
        h.on_data(Dir::ToClient, 102, ok, &mut rows);
        assert_eq!((rows.0, h.reqs.len()), (4, 1));
        h.on_data(Dir::ToClient, 103, ok, &mut rows);
        assert_eq!((rows.0, h.reqs.capacity(), h.resps.capacity()), (5, 0, 0));
    }

    #[test]
    fn fields_are_utf8_with_invalid_bytes_replaced() {
        assert_eq!(field(b"caf\xc3\xa9"), "caf\u{e9}");
        assert_eq!(field(b"a\xffb"), "a\u{fffd}b");
        // Cut at MAX_FIELD inside a two-byte character: the half left is replaced.
        let mut long = vec![b'x'; MAX_FIELD - 1];
        long.extend_from_slice("\u{e9}tail".as_bytes());
        let f = field(&long);
        assert_eq!(f.len(), MAX_FIELD - 1 + '\u{fffd}'.len_utf8());
        assert!(f.ends_with('\u{fffd}'));
    }

    #[test]
    fn text_fields_are_cut_like_byte_fields() {
        for v in ["", "/a?b=c", "caf\u{e9}"] {
            assert_eq!(field_text(v), field(v.as_bytes()));
        }
        for extra in 0..3 {
            // Past MAX_FIELD, with the cut before, inside and after a two-byte character.
            let mut long = "x".repeat(MAX_FIELD - 2 + extra);
            long.push_str("\u{e9}tail");
            assert_eq!(field_text(&long), field(long.as_bytes()), "{extra}");
        }
    }

    #[test]
    fn connection_tokens_are_found_in_any_case() {
        for (value, word, want) in [
            ("close", "close", true),
            ("Close", "close", true),
            ("Keep-Alive, Upgrade", "keep-alive", true),
            ("TE, CLOSE", "close", true),
            ("keep-alive", "close", false),
            ("clos", "close", false),
            ("", "close", false),
        ] {
            assert_eq!(contains_ignore_case(value, word), want, "{value} / {word}");
            assert_eq!(
                value.to_ascii_lowercase().contains(word),
                want,
                "reference: {value} / {word}"
            );
        }
    }

    /// The blank line that ends a header block, found the slow, obvious way.
    fn header_end_reference(b: &[u8], from: usize) -> Option<usize> {
        (from..b.len()).find_map(|nl| {
            if b[nl] != b'\n' {
                None
            } else if b.get(nl + 1) == Some(&b'\n') {
                Some(nl + 2)
            } else if b[nl + 1..].starts_with(b"\r\n") {
                Some(nl + 3)
            } else {
                None
            }
        })
    }

    #[test]
    fn header_end_finds_the_blank_line() {
        let b = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
        assert_eq!(header_end(b, 0), Some(27));
        assert_eq!(header_end(b"GET / HTTP/1.0\n\nx", 0), Some(16));
        assert_eq!(header_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
        assert_eq!(header_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r", 0), None);
    }

    proptest! {
        #[test]
        fn header_end_agrees_with_a_byte_by_byte_search(
            b in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a'), Just(b':'), any::<u8>()],
                0..200,
            ),
            from in 0usize..220,
        ) {
            let from = from.min(b.len());
            prop_assert_eq!(header_end(&b, from), header_end_reference(&b, from));
        }
    }
}
