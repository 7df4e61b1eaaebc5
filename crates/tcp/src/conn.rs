//! The per-connection state machine.

use wirehouse_flow::{Dir, Endpoint, Segment};

use crate::history::{History, Kind, Scaled};
use crate::reasm::{Arrival, Ctx, Reasm};
use crate::seq::{SeqNumber, Unwrapper};
use crate::{CloseKind, Config, ConnSummary, EndReason, EventKind, Handshake, StreamSink};

/// Zeek's endpoint states (`TCP_ENDPOINT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

/// SYN and RST sequence numbers this far from the stream are not trusted for sizes (Zeek's
/// TOO_LARGE_SEQ_DELTA).
const TOO_LARGE_SEQ_DELTA: i64 = 1_048_576;

/// Ports that Zeek's analyzers register as server ports (its `likely_server_ports`), used to
/// guess which side is the server when the SYN was not captured.
const LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 79, 80, 81, 88, 110, 111, 113, 135, 137, 139, 143, 389, 443, 445, 464, 502,
    513, 514, 543, 544, 563, 585, 587, 614, 631, 636, 989, 990, 992, 993, 995, 1080, 1433, 1434,
    1812, 1883, 2049, 2811, 3128, 3268, 3306, 3389, 5060, 5222, 5223, 5269, 5432, 6379, 6666, 6667,
    6668, 6669, 8000, 8080, 8443, 8888, 20000,
];

fn likely_server_port(p: u16) -> bool {
    LIKELY_SERVER_PORTS.binary_search(&p).is_ok()
}

/// A stream position recorded once a flag was seen there, or [`SeenAt::NONE`]. One word,
/// not an `Option`'s two: with the reassembler's sentinels (see `Reasm`) this keeps a side
/// within four cache lines, and a connection at 768 bytes instead of 896 (its table entry
/// 896 instead of 1024). Positions are unwrapped sequence numbers near zero; none is
/// `i64::MIN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SeenAt(i64);

impl SeenAt {
    const NONE: SeenAt = SeenAt(i64::MIN);
}

/// One side of the connection (the sender of one direction).
///
/// Laid out in declaration order from a cache line's start (`repr(C)`, 64-byte aligned): what
/// every segment reads, up to the end of its reassembler's hot part ([`Side::HOT_BYTES`]),
/// comes first; handshake, close and history details after.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Side {
    ep: Endpoint,
    state: State,
    prev_state: State,
    fin_cnt: u32,
    rst_cnt: u32,
    /// Sequence numbering, once this side's first segment (or an ACK of it) was seen.
    seq: Option<Unwrapper>,
    /// Zeek's last_seq, as a position: one past the highest sequence number sent.
    last: i64,
    /// Zeek's ack_seq for this side: the highest position the peer acknowledged.
    ack: i64,
    pkts: u64,
    reasm: Reasm,
    /// Positions of the last SYN, FIN and RST, for Zeek's rule that a repeated flag adds to
    /// the history only at a new position.
    hist_last_syn: SeenAt,
    hist_last_fin: SeenAt,
    hist_last_rst: SeenAt,
    rxmt: Scaled,
    win0: Scaled,
    gaps: Scaled,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_permitted: bool,
    syn_count: u32,
    first_fin_ts: Option<i64>,
}

impl Side {
    /// This side sent a SYN (counted, or seen in the history), rather than being numbered
    /// mid-stream.
    fn saw_syn(&self) -> bool {
        self.syn_count > 0 || self.hist_last_syn != SeenAt::NONE
    }

    /// The leading bytes that a plain segment reads, of its sender's side and of the peer's.
    const HOT_BYTES: usize = std::mem::offset_of!(Side, reasm) + Reasm::HOT_BYTES;

    fn new(ep: Endpoint) -> Side {
        Side {
            ep,
            state: State::Inactive,
            prev_state: State::Inactive,
            seq: None,
            last: 0,
            ack: 0,
            fin_cnt: 0,
            rst_cnt: 0,
            hist_last_syn: SeenAt::NONE,
            hist_last_fin: SeenAt::NONE,
            hist_last_rst: SeenAt::NONE,
            rxmt: Scaled::default(),
            win0: Scaled::default(),
            gaps: Scaled::default(),
            mss: None,
            wscale: None,
            sack_permitted: false,
            pkts: 0,
            syn_count: 0,
            first_fin_ts: None,
            reasm: Reasm::default(),
        }
    }

    fn set_state(&mut self, s: State) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    /// Start sequence numbering with `base` at position 0 and `last` as Zeek's last_seq.
    fn init_seq(&mut self, base: SeqNumber, last: SeqNumber) {
        let u = Unwrapper::new(base);
        self.last = u.position(last, 0).max(0);
        self.ack = 0;
        self.seq = Some(u);
    }

    fn pos(&self, s: SeqNumber) -> i64 {
        match &self.seq {
            Some(u) => u.position(s, self.last.max(self.ack)),
            None => 0,
        }
    }

    /// Zeek's `TCP_Endpoint::Size`: payload bytes by sequence-space progress.
    fn size(&self, peer_state: State) -> u64 {
        if self.prev_state == State::SynSent
            && self.state == State::Reset
            && peer_state == State::Inactive
            && self.ack > 1
        {
            // A half-open connection discovered and aborted: the numbers mean nothing.
            return 0;
        }
        // Less the SYN's octet.
        let mut size = (self.last.max(self.ack).max(0) as u64).saturating_sub(1);
        if self.fin_cnt > 0 && size != 0 {
            size -= 1; // the FIN's octet
        }
        size
    }

    fn is_clean(&self) -> bool {
        self.state == State::Established
            || (self.state == State::Closed && self.prev_state == State::Established)
    }
}

/// A TCP connection being analysed. See the crate documentation.
///
/// Laid out in declaration order (`repr(C)`): the fields every segment reads first (up to
/// [`Connection::HOT_BYTES`]), then the two sides, each with its hot part first, then what
/// only handshakes, closes and the summary read. [`Connection::hot_parts`] names these
/// ranges for a caller that asks the CPU for them ahead of time.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Connection {
    /// Deliveries held back to keep the two directions in causal order (see `HoldSink`);
    /// boxed because it is almost always empty.
    held: Option<Box<Held>>,
    pkts: u64,
    last_ts: i64,
    initial_rtt: Option<i64>,
    ack_ts: Option<i64>,
    syn_last_ts: Option<i64>,
    history: History,
    /// Whether `a` is the originator (client).
    a_is_orig: bool,
    saw_syn_from_orig: bool,
    rst_by_a: Option<bool>,
    /// The first close signal: (sent by a, was a RST).
    first_close: Option<(bool, bool)>,
    end_reason: Option<EndReason>,
    /// Event kinds already reported (most are reported once per connection).
    reported: u32,
    /// `a` sent the first packet we saw; `b` is the other side.
    a: Side,
    b: Side,
    first_ts: i64,
    // Handshake timing.
    syn_first_ts: Option<i64>,
    syn_ack_ts: Option<i64>,
    syn_ack_last_ts: Option<i64>,
    server_rtt: Option<i64>,
    client_rtt: Option<i64>,
    rst_ts: Option<i64>,
    retransmitted: u64,
    out_of_order: u64,
    zero_windows: u64,
}

/// Keeps the two directions of a connection in causal order for the application analyzer.
///
/// A segment that acknowledges bytes of the peer's stream was sent after its sender had those
/// bytes. When the capture has not shown them (dropped by the capturing kernel, or captured
/// late from a span port), the reassembler waits a grace period before it declares them a gap
/// (zeek#335); this side's own bytes wait with them. Without that, an HTTP parser would see a
/// keep-alive request before the end of the response its client had already received, and
/// call it pipelined. Only deliveries wait; events pass through.
struct HoldSink<'a, S: StreamSink> {
    inner: &'a mut S,
    held: &'a mut Option<Box<Held>>,
    /// Per direction (`Dir::index`): deliveries are queued rather than passed on.
    hold: [bool; 2],
    /// Per direction: the acknowledgment to go with the next bytes (`StreamSink::on_ack`),
    /// kept with them while they are held.
    ack: [Option<u64>; 2],
}

#[derive(Clone, Debug, Default)]
struct Held {
    calls: Vec<(Dir, Delivery)>,
    bytes: usize,
}

#[derive(Clone, Debug)]
enum Delivery {
    /// Bytes, with the sender's acknowledgment of the peer's stream when it sent them.
    Data(i64, Vec<u8>, Option<u64>),
    Gap(i64, u64),
    Fin(i64),
}

impl Held {
    /// Capture time of the first held delivery of `dir`.
    fn first_ts(held: &Option<Box<Held>>, dir: Dir) -> Option<i64> {
        let h = held.as_ref()?;
        h.calls
            .iter()
            .find(|(d, _)| *d == dir)
            .map(|(_, d)| match d {
                Delivery::Data(ts, _, _) | Delivery::Gap(ts, _) | Delivery::Fin(ts) => *ts,
            })
    }

    #[inline]
    fn holds(held: &Option<Box<Held>>, dir: Dir) -> bool {
        held.as_ref()
            .is_some_and(|h| h.calls.iter().any(|(d, _)| *d == dir))
    }
}

impl<'a, S: StreamSink> HoldSink<'a, S> {
    /// `ep` sent the segment being processed (direction `dir_of(ep_is_orig)`).
    fn new(
        inner: &'a mut S,
        held: &'a mut Option<Box<Held>>,
        ep_is_orig: bool,
        ep: &Side,
        peer: &Side,
    ) -> Self {
        let (d_ep, d_peer) = (dir_of(ep_is_orig), dir_of(!ep_is_orig));
        let mut hold = [false; 2];
        hold[d_ep.index()] = peer.reasm.acked_unseen() || Held::holds(held, d_ep);
        hold[d_peer.index()] = ep.reasm.acked_unseen() || Held::holds(held, d_peer);
        HoldSink {
            inner,
            held,
            hold,
            ack: [None; 2],
        }
    }

    fn push(&mut self, dir: Dir, d: Delivery) {
        let h = self.held.get_or_insert_with(Box::default);
        if let Delivery::Data(_, b, _) = &d {
            h.bytes += b.len();
        }
        h.calls.push((dir, d));
    }
}

impl<S: StreamSink> StreamSink for HoldSink<'_, S> {
    fn on_data(&mut self, dir: Dir, ts_ns: i64, data: &[u8]) {
        let ack = self.ack[dir.index()].take();
        if self.hold[dir.index()] {
            self.push(dir, Delivery::Data(ts_ns, data.to_vec(), ack));
        } else {
            if let Some(a) = ack {
                self.inner.on_ack(dir, a);
            }
            self.inner.on_data(dir, ts_ns, data);
        }
    }
    fn on_gap(&mut self, dir: Dir, ts_ns: i64, len: u64) {
        if self.hold[dir.index()] {
            self.push(dir, Delivery::Gap(ts_ns, len));
        } else {
            self.inner.on_gap(dir, ts_ns, len);
        }
    }
    fn on_fin(&mut self, dir: Dir, ts_ns: i64) {
        if self.hold[dir.index()] {
            self.push(dir, Delivery::Fin(ts_ns));
        } else {
            self.inner.on_fin(dir, ts_ns);
        }
    }
    fn on_event(&mut self, ts_ns: i64, kind: EventKind, detail: String) {
        self.inner.on_event(ts_ns, kind, detail);
    }
    fn on_ack(&mut self, dir: Dir, acked: u64) {
        self.ack[dir.index()] = Some(acked);
    }
}

/// Pass on held deliveries of a direction once the bytes they waited for were seen or
/// declared missing; all of them past the out-of-order cap (order is then given up rather
/// than memory).
fn release_held(
    held: &mut Option<Box<Held>>,
    sink: &mut impl StreamSink,
    cfg: &Config,
    ep_is_orig: bool,
    ep: &Side,
    peer: &Side,
) {
    let Some(h) = held.as_mut() else {
        return;
    };
    let mut waiting = [false; 2];
    waiting[dir_of(ep_is_orig).index()] = peer.reasm.acked_unseen();
    waiting[dir_of(!ep_is_orig).index()] = ep.reasm.acked_unseen();
    if h.bytes > cfg.max_ooo_bytes {
        waiting = [false; 2];
    }
    let calls = std::mem::take(&mut h.calls);
    h.bytes = 0;
    for (dir, d) in calls {
        if waiting[dir.index()] {
            if let Delivery::Data(_, b, _) = &d {
                h.bytes += b.len();
            }
            h.calls.push((dir, d));
        } else {
            deliver(sink, dir, d);
        }
    }
    if h.calls.is_empty() {
        *held = None;
    }
}

fn deliver(sink: &mut impl StreamSink, dir: Dir, d: Delivery) {
    match d {
        Delivery::Data(ts, b, ack) => {
            if let Some(a) = ack {
                sink.on_ack(dir, a);
            }
            sink.on_data(dir, ts, &b)
        }
        Delivery::Gap(ts, len) => sink.on_gap(dir, ts, len),
        Delivery::Fin(ts) => sink.on_fin(dir, ts),
    }
}

/// Adapts a sink so reassembly of side `a`/`b` reports the right direction.
fn dir_of(is_orig: bool) -> Dir {
    if is_orig {
        Dir::ToServer
    } else {
        Dir::ToClient
    }
}

impl Connection {
    /// State for a connection whose first captured packet is `first` (not yet processed).
    pub fn new(first: &Segment<'_>, _cfg: &Config) -> Connection {
        let f = first.flags;
        // Zeek's rule for a connection that does not start with a plain SYN: if the source
        // port looks like a server's, the sender is probably the responder.
        let mut a_is_orig = true;
        let mut flip = false;
        if !f.syn() || f.ack() {
            let (sp, dp) = (first.src.port, first.dst.port);
            if likely_server_port(sp) {
                flip = if likely_server_port(dp) {
                    !f.syn() && sp < dp
                } else {
                    true
                };
            }
        }
        if flip {
            a_is_orig = false;
        }
        let mut history = History::default();
        if flip {
            history.flip_marker();
        }
        Connection {
            a: Side::new(first.src),
            b: Side::new(first.dst),
            a_is_orig,
            history,
            first_ts: first.ts_ns,
            last_ts: first.ts_ns,
            pkts: 0,
            syn_first_ts: None,
            syn_last_ts: None,
            syn_ack_ts: None,
            syn_ack_last_ts: None,
            server_rtt: None,
            ack_ts: None,
            client_rtt: None,
            initial_rtt: None,
            saw_syn_from_orig: false,
            rst_ts: None,
            rst_by_a: None,
            first_close: None,
            retransmitted: 0,
            out_of_order: 0,
            zero_windows: 0,
            reported: 0,
            end_reason: None,
            held: None,
        }
    }

    /// The leading bytes that every segment reads: the connection's own counters and
    /// clocks, before the sides.
    const HOT_BYTES: usize = std::mem::offset_of!(Connection, a);

    /// Where the state that every segment reads lies, as (first byte, length) ranges: the
    /// connection's counters and both sides' sequence and reassembly positions, a few cache
    /// lines of the whole. A caller that knows which connection a coming packet belongs to
    /// can ask the CPU for these lines ahead of time (the engine's shard loop does).
    pub fn hot_parts(&self) -> [(*const u8, usize); 3] {
        [
            ((self as *const Connection).cast(), Self::HOT_BYTES),
            ((&self.a as *const Side).cast(), Side::HOT_BYTES),
            ((&self.b as *const Side).cast(), Side::HOT_BYTES),
        ]
    }

    /// Whether the client (originator) sent the first packet this connection was created
    /// from; it did not when that packet looked like a server's reply, or once the roles were
    /// found reversed later. Lets a caller that kept the first packet's sender name both
    /// endpoints without copying them from here.
    pub fn client_sent_first(&self) -> bool {
        self.a_is_orig
    }

    /// The client (originator).
    pub fn client(&self) -> Endpoint {
        if self.a_is_orig { self.a.ep } else { self.b.ep }
    }

    /// The server (responder).
    pub fn server(&self) -> Endpoint {
        if self.a_is_orig { self.b.ep } else { self.a.ep }
    }

    /// Direction of a segment of this connection.
    pub fn direction(&self, seg: &Segment<'_>) -> Dir {
        if seg.src == self.client() {
            Dir::ToServer
        } else {
            Dir::ToClient
        }
    }

    /// Capture time of the first packet.
    pub fn first_ts(&self) -> i64 {
        self.first_ts
    }

    /// Capture time of the latest packet.
    pub fn last_ts(&self) -> i64 {
        self.last_ts
    }

    /// Whether the side sending in `dir` was seen sending its SYN (so its stream offsets
    /// start at its initial sequence number, not at the first byte captured).
    pub fn saw_syn(&self, dir: Dir) -> bool {
        let from_a = (dir == Dir::ToServer) == self.a_is_orig;
        let side = if from_a { &self.a } else { &self.b };
        side.saw_syn()
    }

    /// Both sides sent FIN, or a RST was seen.
    pub fn is_closed(&self) -> bool {
        (self.a.fin_cnt > 0 && self.b.fin_cnt > 0) || self.a.rst_cnt > 0 || self.b.rst_cnt > 0
    }

    /// Bytes held in out-of-order buffers.
    pub fn buffered_bytes(&self) -> usize {
        self.a.reasm.buffered_bytes()
            + self.b.reasm.buffered_bytes()
            + self.held.as_ref().map_or(0, |h| h.bytes)
    }

    /// Whether `seg` starts a new connection on this 4-tuple (port reuse): a SYN without ACK
    /// with an initial sequence number other than the one this side opened with, after this
    /// connection closed or once data has flowed.
    pub fn starts_new_connection(&self, seg: &Segment<'_>) -> bool {
        if !seg.flags.syn() || seg.flags.ack() {
            return false;
        }
        if self.is_closed() {
            // The very SYN that opened this connection, again: a retransmission (of a
            // refused handshake) or a duplicate of the packet (a capture on two interfaces
            // at once, a span port copying twice). A new connection on the same 4-tuple
            // starts from another ISN (RFC 9293 3.4.1; TIME-WAIT reuse needs a larger one).
            let side = if seg.src == self.a.ep {
                &self.a
            } else {
                &self.b
            };
            let same_isn = side.seq.is_some_and(|u| u.base() == SeqNumber(seg.seq));
            return !same_isn;
        }
        let side = if seg.src == self.a.ep {
            &self.a
        } else {
            &self.b
        };
        match side.seq {
            Some(u) => {
                let syn_seen = side.saw_syn();
                let established = matches!(side.state, State::Established | State::Partial);
                let far = (side.pos(SeqNumber(seg.seq)) - side.last).abs() > TOO_LARGE_SEQ_DELTA;
                u.base() != SeqNumber(seg.seq)
                    && established
                    && (side.size(State::Established) > 0
                        // Numbered mid-stream (no SYN from this side ever seen), and the SYN
                        // far from that stream: this connection is the tail of an earlier
                        // one on the same 4-tuple (a late ACK after its record was retired),
                        // and the SYN opens the next. `init_endpoint` would ignore it.
                        || (!syn_seen && far))
            }
            None => false,
        }
    }

    fn report(&mut self, sink: &mut impl StreamSink, ts: i64, kind: EventKind, detail: String) {
        // Most anomalies are reported once per connection, like Zeek's weirds.
        let bit = 1u32 << (kind as u32 % 32);
        let repeatable = matches!(
            kind,
            EventKind::ContentGap | EventKind::RexmitInconsistency | EventKind::ReassemblyBufferCap
        );
        if !repeatable {
            if self.reported & bit != 0 {
                return;
            }
            self.reported |= bit;
        }
        sink.on_event(ts, kind, detail);
    }

    /// Process one segment. Returns false when it was plain in-order data or a plain
    /// acknowledgment, which leaves [`Connection::buffered_bytes`] as it was: the caller
    /// keeping account of buffered bytes need not look.
    pub fn on_segment(
        &mut self,
        seg: &Segment<'_>,
        cfg: &Config,
        sink: &mut impl StreamSink,
    ) -> bool {
        if cfg.plain_fast_path && self.plain_segment(seg, sink) {
            return false;
        }
        let from_a = seg.src == self.a.ep;
        self.pkts += 1;
        self.last_ts = self.last_ts.max(seg.ts_ns);
        let ts = seg.ts_ns;
        let f = seg.flags;
        let len = i64::from(seg.wire_len);
        let seq = SeqNumber(seg.seq);
        let ack = SeqNumber(seg.ack);
        let mut seg_len = len + i64::from(f.syn()) + i64::from(f.fin());
        if f.rst() {
            seg_len -= len; // RST payload is not stream data
        }
        {
            let (ep, _) = self.sides(from_a);
            ep.pkts += 1;
        }
        self.handshake_timing(seg, from_a);
        self.init_endpoint(from_a, seg, seg_len, sink);

        let rel_seq = self.sides(from_a).0.pos(seq);
        let underflow = rel_seq < 0;
        if underflow && !f.rst() {
            self.report(
                sink,
                ts,
                EventKind::SeqUnderflow,
                format!("segment {} bytes before the start of its stream", -rel_seq),
            );
        }
        self.update_history(from_a, seg, rel_seq, len);
        self.update_window(from_a, seg, sink);

        if f.syn() {
            self.syn_options(from_a, seg, sink);
            if len > 0 {
                self.report(
                    sink,
                    ts,
                    EventKind::SynWithData,
                    format!("{len} bytes on a SYN"),
                );
            }
        }
        if f.fin() {
            let (ep, _) = self.sides(from_a);
            ep.fin_cnt += 1;
            ep.first_fin_ts.get_or_insert(ts);
            self.first_close.get_or_insert((from_a, false));
        }
        if f.rst() {
            let (ep, _) = self.sides(from_a);
            ep.rst_cnt += 1;
            self.rst_ts.get_or_insert(ts);
            self.rst_by_a.get_or_insert(from_a);
            self.first_close.get_or_insert((from_a, true));
        }

        let mut rel_ack = 0i64;
        if f.ack() {
            let (_, peer) = self.sides(from_a);
            if peer.state == State::Inactive && peer.seq.is_none() {
                // The peer's numbering starts as if it had sent a SYN just before `ack`.
                peer.init_seq(ack.minus(1), ack.minus(1));
                rel_ack = 1;
                let (ep, _) = self.sides(from_a);
                if !f.syn()
                    && !f.fin()
                    && !f.rst()
                    && matches!(
                        ep.state,
                        State::SynSent | State::SynAckSent | State::Established
                    )
                {
                    self.report(
                        sink,
                        ts,
                        EventKind::PossibleSplitRouting,
                        "acknowledging data never seen from the peer".into(),
                    );
                }
            } else {
                rel_ack = peer.pos(ack);
                if rel_ack < 0 {
                    rel_ack = 0;
                    self.report(
                        sink,
                        ts,
                        EventKind::AckUnderflow,
                        "acknowledgment before the start of the peer's stream".into(),
                    );
                } else if !f.rst() {
                    let (_, peer) = self.sides(from_a);
                    let too_large = seg.ack == 0 && rel_ack - peer.ack > TOO_LARGE_SEQ_DELTA;
                    if !too_large && rel_ack > peer.ack {
                        peer.ack = rel_ack;
                    }
                }
            }
        }

        let delta_last = self.update_last_seq(from_a, rel_seq + seg_len, seg, len, sink);
        self.update_state(from_a, seg, len, delta_last, sink);

        // Reassembly. The side objects do not move on a role flip, only `a_is_orig` does,
        // so directions are computed after the state machine ran.
        let is_orig = from_a == self.a_is_orig;
        let pkts = self.pkts;
        let data_pos = rel_seq + i64::from(f.syn()); // position of the first payload byte
        let mut held = self.held.take();
        let (ep, peer) = self.sides(from_a);
        // A reassembly context for direction `$dir` whose deliveries go through the hold.
        macro_rules! held_cx {
            ($dir:expr, $cx:ident => $body:expr) => {{
                let mut hs = HoldSink::new(&mut *sink, &mut held, is_orig, ep, peer);
                let mut $cx = Ctx {
                    dir: $dir,
                    cfg,
                    sink: &mut hs,
                    pkts,
                };
                $body
            }};
        }
        // The acknowledgment first: this side had received those bytes of the peer's stream
        // before it sent this segment's payload.
        held_cx!(dir_of(!is_orig), pcx => if f.ack() && rel_ack >= 1 {
            peer.reasm.acked(&mut pcx, ts, (rel_ack - 1) as u64);
        } else {
            peer.reasm.hole_check(&mut pcx, ts);
        });
        // New bytes from this side beyond its own acknowledged hole, acknowledging all the
        // peer's bytes held behind that hole: a whole round trip went by without the missing
        // bytes showing up, so they were lost from the capture, not captured late. The gap
        // goes first, then the peer's held bytes, then this side's.
        if len > 0
            && !f.rst()
            && f.ack()
            && ep.reasm.acked_unseen()
            && data_pos >= 1
            && (data_pos - 1) as u64 > ep.reasm.next
            && rel_ack >= 1
            && (rel_ack - 1) as u64 >= peer.reasm.next
            && Held::holds(&held, dir_of(!is_orig))
        {
            // What this side had sent before the held bytes were captured goes before them.
            let by = Held::first_ts(&held, dir_of(!is_orig));
            held_cx!(dir_of(is_orig), cx => ep.reasm.declare_acked_holes(&mut cx, ts, by));
            release_held(&mut held, sink, cfg, is_orig, ep, peer);
            held_cx!(dir_of(is_orig), cx => ep.reasm.drain_ready(&mut cx, ts));
        }
        let mut hs = HoldSink::new(&mut *sink, &mut held, is_orig, ep, peer);
        let mut cx = Ctx {
            dir: dir_of(is_orig),
            cfg,
            sink: &mut hs,
            pkts,
        };
        let mut arrival = None;
        let state_reset = ep.state == State::Reset && ep.prev_state != State::Inactive;
        if len > 0 && !f.rst() && data_pos >= 1 && ep.seq.is_some() {
            let off = (data_pos - 1) as u64;
            if ep.reasm.fin_at().is_some_and(|fin| off >= fin) {
                cx.sink.on_event(
                    ts,
                    EventKind::DataAfterFin,
                    format!("{len} bytes at stream offset {off}, after this side's FIN"),
                );
            }
            let keepalive = len <= 1 && off + 1 == ep.reasm.next && !f.syn() && !f.fin();
            let ack = (f.ack() && rel_ack >= 1).then(|| (rel_ack - 1) as u64);
            let a = ep
                .reasm
                .data(&mut cx, ts, off, seg.payload, len as u64, ack);
            if !keepalive {
                arrival = Some(a);
            }
        } else {
            ep.reasm.hole_check(&mut cx, ts);
        }
        if f.fin() && data_pos + len >= 1 {
            let fin_off = (data_pos + len - 1) as u64;
            ep.reasm.fin(&mut cx, ts, fin_off);
        }
        release_held(&mut held, sink, cfg, is_orig, ep, peer);
        self.held = held;
        match arrival {
            Some(Arrival::Old) => self.retransmitted += 1,
            Some(Arrival::FillsHole) => self.out_of_order += 1,
            _ => {}
        }
        if len > 0 && state_reset && !f.rst() {
            self.report(
                sink,
                ts,
                EventKind::DataAfterReset,
                format!("{len} bytes after RST"),
            );
        }
        self.record_gaps();
        true
    }

    /// The segment most of a capture is made of, handled without the general machinery: an
    /// ACK, with no payload or with the next bytes of its direction, on a connection
    /// established both ways, with nothing held back, buffered or missing on either side.
    /// Returns false, having changed nothing, for any other segment.
    ///
    /// It runs the same steps as the general path in the same order, minus those that cannot
    /// act on such a segment (SYN/FIN/RST handling, endpoint initialisation, state changes,
    /// holding deliveries around holes, buffering). On the generated benchmark capture 95 %
    /// of segments take it, which saves about a third of the reassembly stage's
    /// instructions. A test runs whole captures both ways and compares every table.
    fn plain_segment(&mut self, seg: &Segment<'_>, sink: &mut impl StreamSink) -> bool {
        let f = seg.flags;
        if !f.ack() || f.syn() || f.fin() || f.rst() || self.held.is_some() {
            return false;
        }
        let from_a = seg.src == self.a.ep;
        let len = i64::from(seg.wire_len);
        let (ep, peer) = if from_a {
            (&self.a, &self.b)
        } else {
            (&self.b, &self.a)
        };
        if ep.state != State::Established
            || peer.state != State::Established
            || ep.seq.is_none()
            || peer.seq.is_none()
        {
            return false;
        }
        let rel_seq = ep.pos(SeqNumber(seg.seq));
        let rel_ack = peer.pos(SeqNumber(seg.ack));
        if rel_seq < 1
            || rel_ack < 1
            || !ep.reasm.is_plain()
            || !peer.reasm.ack_is_plain((rel_ack - 1) as u64)
        {
            return false;
        }
        if len > 0
            && ((rel_seq - 1) as u64 != ep.reasm.next || seg.payload.len() as u64 != len as u64)
        {
            return false;
        }
        // As in `on_segment`, in its order.
        self.pkts += 1;
        self.last_ts = self.last_ts.max(seg.ts_ns);
        self.sides(from_a).0.pkts += 1;
        // An ACK without SYN changes the handshake timing only until both figures it can
        // set are known: past the handshake, nearly every segment skips the call.
        if self.initial_rtt.is_none() || self.ack_ts.is_none() {
            self.handshake_timing(seg, from_a);
        }
        self.update_history(from_a, seg, rel_seq, len);
        self.update_window(from_a, seg, sink);
        let (_, peer) = self.sides(from_a);
        let too_large = seg.ack == 0 && rel_ack - peer.ack > TOO_LARGE_SEQ_DELTA;
        if !too_large && rel_ack > peer.ack {
            peer.ack = rel_ack;
        }
        self.update_last_seq(from_a, rel_seq + len, seg, len, sink);
        let is_orig = from_a == self.a_is_orig;
        let (ep, peer) = self.sides(from_a);
        peer.reasm.acked_plain((rel_ack - 1) as u64);
        if len > 0 {
            sink.on_ack(dir_of(is_orig), (rel_ack - 1) as u64);
            ep.reasm
                .in_order_plain(sink, dir_of(is_orig), seg.ts_ns, seg.payload);
        } else {
            ep.reasm.no_hole();
        }
        true
    }

    /// Zeek adds a scaled `G` for gaps only while both sides are established (or closing
    /// cleanly from there).
    fn record_gaps(&mut self) {
        if self.a.reasm.new_gaps == 0 && self.b.reasm.new_gaps == 0 {
            return; // nearly every segment
        }
        let clean = self.a.is_clean() && self.b.is_clean();
        for from_a in [true, false] {
            let is_orig = from_a == self.a_is_orig;
            let (ep, _) = self.sides(from_a);
            let n = std::mem::take(&mut ep.reasm.new_gaps);
            let mut g = ep.gaps;
            if clean {
                for _ in 0..n {
                    self.history.scaled(is_orig, 'G', &mut g);
                }
            }
            self.sides(from_a).0.gaps = g;
        }
    }

    fn sides(&mut self, from_a: bool) -> (&mut Side, &mut Side) {
        if from_a {
            (&mut self.a, &mut self.b)
        } else {
            (&mut self.b, &mut self.a)
        }
    }

    fn handshake_timing(&mut self, seg: &Segment<'_>, from_a: bool) {
        let f = seg.flags;
        let ts = seg.ts_ns;
        let is_orig = from_a == self.a_is_orig;
        if f.syn() && !f.ack() {
            self.syn_first_ts.get_or_insert(ts);
            self.syn_last_ts = Some(ts);
            self.sides(from_a).0.syn_count += 1;
            if is_orig {
                self.saw_syn_from_orig = true;
            }
        }
        if f.syn() && f.ack() {
            if self.syn_ack_ts.is_none() {
                self.syn_ack_ts = Some(ts);
                self.server_rtt = self.syn_last_ts.map(|s| ts - s);
            }
            self.syn_ack_last_ts = Some(ts);
        }
        if f.ack() && !f.syn() {
            // Wireshark: the first segment with ACK and without SYN, from either side, ends
            // the initial RTT measured from the most recent SYN.
            // Wireshark keeps the value in an nstime_t where zero means "not measured", so a
            // delta of exactly 0 (same-timestamp packets) leaves it unset and the next ACK
            // measures it; we do the same so the figures agree.
            if self.initial_rtt.is_none()
                && let Some(s) = self.syn_last_ts
                && ts != s
            {
                self.initial_rtt = Some(ts - s);
            }
            if is_orig
                && self.ack_ts.is_none()
                && !f.rst()
                && let Some(sa) = self.syn_ack_last_ts
            {
                self.ack_ts = Some(ts);
                self.client_rtt = Some(ts - sa);
            }
        }
    }

    /// Zeek's `init_endpoint`.
    fn init_endpoint(
        &mut self,
        from_a: bool,
        seg: &Segment<'_>,
        seg_len: i64,
        sink: &mut impl StreamSink,
    ) {
        let f = seg.flags;
        let seq = SeqNumber(seg.seq);
        let last = seq.plus(seg_len as u32);
        let ts = seg.ts_ns;
        let (ep, _) = self.sides(from_a);
        match ep.state {
            State::Inactive => {
                if ep.seq.is_none() {
                    if f.syn() {
                        ep.init_seq(seq, last);
                    } else {
                        // A partial connection: number as if a SYN had come just before.
                        ep.init_seq(seq.minus(1), seq);
                    }
                } else if f.syn() {
                    // Numbering came from the peer's ACK; the SYN is authoritative.
                    ep.init_seq(seq, last);
                }
            }
            State::SynSent | State::SynAckSent => {
                if f.syn() && ep.seq.is_some_and(|u| u.base() != seq) {
                    ep.init_seq(seq, last);
                    ep.reasm.restart();
                    self.report(
                        sink,
                        ts,
                        EventKind::SynSeqJump,
                        "SYN retried with a different initial sequence number".into(),
                    );
                }
            }
            State::Established | State::Partial => {
                if f.syn() {
                    let changed = ep.seq.is_some_and(|u| u.base() != seq);
                    // A SYN far from where this side's stream is cannot be a new handshake
                    // of this connection; re-basing on it would zero (or, with the old base,
                    // inflate: zeek#3313) the byte counts. Ignore it for numbering.
                    let far = (ep.pos(seq) - ep.last).abs() > TOO_LARGE_SEQ_DELTA;
                    // Unless the handshake is being retried: this side has sent nothing past
                    // its SYN and the peer never acknowledged that SYN. A listener answering a
                    // retried SYN without the state of the first (SYN cookies, a restarted
                    // server) sends a SYN/ACK with a new initial sequence number, and the
                    // connection goes on from the one the peer acknowledges: seen on loopback
                    // with 2 % loss, where the first SYN/ACK never reached the client.
                    let retried = ep.last <= 1 && ep.ack == 0 && ep.fin_cnt == 0;
                    if changed && far && !retried {
                        self.report(
                            sink,
                            ts,
                            EventKind::SeqJumpIgnored,
                            "SYN with a sequence number far from the stream; ignored".into(),
                        );
                        return;
                    }
                    let had_data = ep.size(State::Established) > 0;
                    if changed {
                        ep.init_seq(seq, last);
                        ep.reasm.restart();
                    }
                    if had_data {
                        self.report(
                            sink,
                            ts,
                            EventKind::SynInsideConnection,
                            "SYN inside an established connection".into(),
                        );
                    }
                    if changed {
                        self.report(
                            sink,
                            ts,
                            EventKind::SynSeqJump,
                            "SYN with a different initial sequence number".into(),
                        );
                    }
                }
            }
            State::Reset => {
                if f.syn() && ep.prev_state == State::Inactive {
                    ep.init_seq(seq, last);
                    ep.reasm.restart();
                }
            }
            State::Closed => {}
        }
    }

    /// Zeek's `update_history`, including its role flip for connections that began with a
    /// SYN/ACK once real traffic shows up.
    fn update_history(&mut self, from_a: bool, seg: &Segment<'_>, rel_seq: i64, len: i64) {
        let f = seg.flags;
        let bits = u32::from(f.syn()) + u32::from(f.fin()) + u32::from(f.rst());
        let is_orig = from_a == self.a_is_orig;
        if bits > 1 {
            if f.fin() && f.rst() {
                self.history.check(Kind::FinRst, is_orig, 'I');
            } else {
                self.history.check(Kind::MultiFlag, is_orig, 'Q');
            }
        } else if bits == 1 {
            if f.syn() {
                let code = if f.ack() { 'H' } else { 'S' };
                let seen = self.history.check(Kind::Syn, is_orig, code);
                let (ep, _) = self.sides(from_a);
                let differs = ep.hist_last_syn != SeenAt(rel_seq);
                ep.hist_last_syn = SeenAt(rel_seq);
                if seen && differs {
                    self.history.add(is_orig, code);
                }
            }
            if f.fin() {
                let seen = self.history.check(Kind::Fin, is_orig, 'F');
                let (ep, _) = self.sides(from_a);
                let differs = ep.hist_last_fin != SeenAt(rel_seq + len);
                ep.hist_last_fin = SeenAt(rel_seq + len);
                if seen && differs {
                    self.history.add(is_orig, 'F');
                }
            }
            if f.rst() {
                let seen = self.history.check(Kind::Rst, is_orig, 'R');
                let (ep, _) = self.sides(from_a);
                let differs = ep.hist_last_rst != SeenAt(rel_seq);
                ep.hist_last_rst = SeenAt(rel_seq);
                if seen && differs {
                    self.history.add(is_orig, 'R');
                }
            }
        } else if len > 0 || f.ack() {
            if self.history.letters() == "H" {
                // Began with a SYN/ACK (which Zeek keeps as the originator in case it is a
                // stealth scan); real traffic now says otherwise.
                self.a_is_orig = !self.a_is_orig;
                self.history.replace("^h");
            }
            let is_orig = from_a == self.a_is_orig;
            if len > 0 {
                self.history.check(Kind::Data, is_orig, 'D');
            } else {
                self.history.check(Kind::Ack, is_orig, 'A');
            }
        }
    }

    fn update_window(&mut self, from_a: bool, seg: &Segment<'_>, _sink: &mut impl StreamSink) {
        let f = seg.flags;
        let is_orig = from_a == self.a_is_orig;
        let (ep, peer) = self.sides(from_a);
        if seg.window == 0 && !f.rst() && peer.state != State::Closed && ep.state != State::Reset {
            let mut w = ep.win0;
            self.history.scaled(is_orig, 'W', &mut w);
            self.sides(from_a).0.win0 = w;
            self.zero_windows += 1;
        }
    }

    fn syn_options(&mut self, from_a: bool, seg: &Segment<'_>, sink: &mut impl StreamSink) {
        let o = seg.options;
        let ts = seg.ts_ns;
        let (ep, _) = self.sides(from_a);
        if o.mss.is_some() {
            ep.mss = o.mss;
        }
        if let Some(w) = o.wscale {
            ep.wscale = Some(w);
            if w > 14 {
                self.report(
                    sink,
                    ts,
                    EventKind::ScaleRange,
                    format!("window scale {w} above 14"),
                );
            }
        }
        if o.sack_permitted {
            self.sides(from_a).0.sack_permitted = true;
        }
    }

    /// Zeek's `update_last_seq`; also counts retransmissions for the `T` history letter.
    fn update_last_seq(
        &mut self,
        from_a: bool,
        last: i64,
        seg: &Segment<'_>,
        len: i64,
        sink: &mut impl StreamSink,
    ) -> i64 {
        let f = seg.flags;
        let is_orig = from_a == self.a_is_orig;
        let (ep, _) = self.sides(from_a);
        let delta = last - ep.last;
        if (f.syn() || f.rst()) && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
            self.report(
                sink,
                seg.ts_ns,
                EventKind::SeqJumpIgnored,
                format!("sequence number {delta} bytes from the stream; not counted"),
            );
        } else if f.fin() && ep.last == 1 {
            ep.last = last;
        } else if ep.state == State::Reset {
        } else if delta > 0 {
            ep.last = last;
        } else if len > 0 {
            let mut r = ep.rxmt;
            self.history.scaled(is_orig, 'T', &mut r);
            self.sides(from_a).0.rxmt = r;
        }
        delta
    }

    /// Zeek's `UpdateStateMachine`.
    fn update_state(
        &mut self,
        from_a: bool,
        seg: &Segment<'_>,
        len: i64,
        delta_last: i64,
        sink: &mut impl StreamSink,
    ) {
        let f = seg.flags;
        let ts = seg.ts_ns;
        let is_orig = from_a == self.a_is_orig;
        let state = self.sides(from_a).0.state;
        match state {
            State::Inactive => {
                if f.syn() {
                    if is_orig {
                        let s = if f.ack() {
                            State::SynAckSent
                        } else {
                            State::SynSent
                        };
                        self.sides(from_a).0.set_state(s);
                    } else {
                        let (ep, peer) = self.sides(from_a);
                        if f.ack() {
                            let bad = !matches!(peer.state, State::Inactive | State::Partial)
                                && peer.seq.is_some_and(|u| {
                                    let p = u.position(SeqNumber(seg.ack), peer.last);
                                    p < 0 || p > peer.last
                                });
                            if bad {
                                self.report(
                                    sink,
                                    ts,
                                    EventKind::BadSynAck,
                                    "SYN/ACK acknowledges no SYN seen".into(),
                                );
                            }
                        } else if peer.state == State::SynAckSent
                            && ep.seq.is_some_and(|u| u.base() == SeqNumber(seg.seq))
                        {
                            // A SYN/SYN-ACK reversal: the SYN/ACK came first in the capture.
                            self.a_is_orig = !self.a_is_orig;
                            self.history.flip_marker();
                            let (_, peer) = self.sides(from_a);
                            peer.set_state(State::Established);
                        } else {
                            self.report(
                                sink,
                                ts,
                                EventKind::SimultaneousOpen,
                                "both sides sent a SYN".into(),
                            );
                        }
                        let (ep, peer) = self.sides(from_a);
                        if peer.state == State::SynSent {
                            peer.set_state(State::Established);
                        }
                        ep.set_state(State::Established);
                    }
                }
                if f.fin() {
                    let (ep, peer) = self.sides(from_a);
                    ep.set_state(State::Closed);
                    if peer.state != State::Partial && !f.syn() {
                        self.report(
                            sink,
                            ts,
                            EventKind::SpontaneousFin,
                            "FIN from a side that never opened".into(),
                        );
                    }
                }
                if f.rst() {
                    let (ep, peer) = self.sides(from_a);
                    ep.set_state(State::Reset);
                    if peer.state == State::Inactive {
                        self.report(
                            sink,
                            ts,
                            EventKind::SpontaneousRst,
                            "RST from a side that sent nothing else".into(),
                        );
                    }
                }
                let (ep, peer) = self.sides(from_a);
                if ep.state == State::Inactive {
                    let orig_state = if is_orig { ep.state } else { peer.state };
                    if !is_orig && len == 0 && orig_state == State::SynSent {
                        // An eccentric stack ACKing the SYN before its SYN/ACK: not partial.
                    } else if f.ack() && peer.state == State::Established {
                        ep.set_state(State::Established);
                    } else {
                        ep.set_state(State::Partial);
                    }
                }
            }
            State::SynSent | State::SynAckSent => {
                if f.fin() {
                    self.sides(from_a).0.set_state(State::Closed);
                }
                if f.rst() {
                    self.sides(from_a).0.set_state(State::Reset);
                } else if len > 0 {
                    self.report(
                        sink,
                        ts,
                        EventKind::DataBeforeEstablished,
                        format!("{len} bytes before the handshake completed"),
                    );
                }
            }
            State::Established | State::Partial => {
                let (ep, peer) = self.sides(from_a);
                if f.syn()
                    && ep.state == State::Partial
                    && peer.state == State::Inactive
                    && !f.ack()
                {
                    ep.set_state(State::SynSent);
                }
                if f.fin() && !f.rst() {
                    ep.set_state(State::Closed);
                    if peer.state == State::Reset && peer.prev_state == State::Closed {
                        // The peer sent FIN then RST: a normal termination after all.
                        peer.set_state(State::Closed);
                    }
                }
                if f.rst() {
                    ep.set_state(State::Reset);
                }
            }
            State::Closed => {
                let (ep, peer) = self.sides(from_a);
                let _ = delta_last;
                if f.rst() && peer.state != State::Closed {
                    ep.set_state(State::Reset);
                }
            }
            State::Reset => {}
        }
    }

    /// Memory ran short outside this connection (its shard's out-of-order budget, `budget`
    /// bytes): pass on what it holds back, the bytes buffered behind holes (those holes
    /// become gaps) and deliveries held for the other direction's acknowledged hole. Order
    /// between the directions is given up, as past the per-direction cap. Returns whether
    /// anything was held back.
    pub fn give_up_buffered_holes(
        &mut self,
        ts_ns: i64,
        budget: usize,
        cfg: &Config,
        sink: &mut impl StreamSink,
    ) -> bool {
        let mut any = false;
        if let Some(h) = self.held.take() {
            any = true;
            for (dir, d) in h.calls {
                deliver(sink, dir, d);
            }
        }
        let pkts = self.pkts;
        for from_a in [true, false] {
            let is_orig = from_a == self.a_is_orig;
            let (ep, _) = self.sides(from_a);
            let mut cx = Ctx {
                dir: dir_of(is_orig),
                cfg,
                sink: &mut *sink,
                pkts,
            };
            any |= ep.reasm.give_up_buffered_holes(&mut cx, ts_ns, budget);
        }
        self.record_gaps();
        any
    }

    /// Retire the connection: flush buffered data (holes become gaps) and fix the outcome.
    pub fn finish(&mut self, reason: EndReason, ts_ns: i64, sink: &mut impl StreamSink) {
        if self.end_reason.is_some() {
            return;
        }
        self.end_reason = Some(reason);
        let pkts = self.pkts;
        let cfg = Config::default();
        // Acknowledged holes are declared first and what waited behind them goes out; then
        // each direction delivers what it still buffers.
        let mut held = self.held.take();
        if held.is_some() {
            for from_a in [true, false] {
                let is_orig = from_a == self.a_is_orig;
                let (ep, peer) = self.sides(from_a);
                let mut hs = HoldSink::new(&mut *sink, &mut held, is_orig, ep, peer);
                let mut cx = Ctx {
                    dir: dir_of(is_orig),
                    cfg: &cfg,
                    sink: &mut hs,
                    pkts,
                };
                let by = Held::first_ts(cx.sink.held, dir_of(!is_orig));
                ep.reasm.declare_acked_holes(&mut cx, ts_ns, by);
            }
            if let Some(h) = held {
                for (dir, d) in h.calls {
                    deliver(sink, dir, d);
                }
            }
        }
        for from_a in [true, false] {
            let is_orig = from_a == self.a_is_orig;
            let (ep, _) = self.sides(from_a);
            let mut cx = Ctx {
                dir: dir_of(is_orig),
                cfg: &cfg,
                sink: &mut *sink,
                pkts,
            };
            ep.reasm.finish(&mut cx, ts_ns);
        }
        self.record_gaps();
    }

    /// The row for the `connections` table.
    pub fn summary(&self) -> ConnSummary {
        let (orig, resp) = if self.a_is_orig {
            (&self.a, &self.b)
        } else {
            (&self.b, &self.a)
        };
        let to_dir = |by_a: bool| dir_of(by_a == self.a_is_orig);
        let handshake = if !self.saw_syn_from_orig && self.syn_first_ts.is_none() {
            Handshake::Midstream
        } else if self.ack_ts.is_some() {
            Handshake::Complete
        } else if self.syn_ack_ts.is_some() {
            Handshake::NoFinalAck
        } else if self.rst_by_a.is_some_and(|a| a != self.a_is_orig) {
            Handshake::Refused
        } else if self.syn_first_ts.is_some() {
            Handshake::SynOnly
        } else {
            Handshake::Midstream
        };
        let close_kind = match self.first_close {
            Some((_, true)) => CloseKind::Rst,
            Some((_, false)) => CloseKind::Fin,
            None => match self.end_reason {
                Some(EndReason::IdleTimeout) => CloseKind::IdleTimeout,
                Some(EndReason::Evicted) => CloseKind::Evicted,
                _ => CloseKind::EndOfCapture,
            },
        };
        let half_closed =
            (orig.fin_cnt > 0) != (resp.fin_cnt > 0) && orig.rst_cnt == 0 && resp.rst_cnt == 0;
        ConnSummary {
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            client: orig.ep,
            server: resp.ep,
            midstream: !self.saw_syn_from_orig,
            handshake,
            syn_ts: self.syn_first_ts,
            syn_ack_ts: self.syn_ack_ts,
            ack_ts: self.ack_ts,
            syn_retries: orig.syn_count.saturating_sub(1),
            server_rtt_ns: self.server_rtt,
            client_rtt_ns: self.client_rtt,
            handshake_rtt_ns: self.initial_rtt,
            mss_client: orig.mss,
            mss_server: resp.mss,
            wscale_client: orig.wscale,
            wscale_server: resp.wscale,
            sack_permitted: orig.sack_permitted && resp.sack_permitted,
            client_pkts: orig.pkts,
            server_pkts: resp.pkts,
            client_bytes: orig.size(resp.state),
            server_bytes: resp.size(orig.state),
            client_missing_bytes: orig.reasm.missing,
            server_missing_bytes: resp.reasm.missing,
            retransmitted_pkts: self.retransmitted,
            out_of_order_pkts: self.out_of_order,
            zero_window_events: self.zero_windows,
            overlap_conflicts: orig.reasm.overlap_conflicts + resp.reasm.overlap_conflicts,
            ooo_cap_hits: orig.reasm.cap_hits + resp.reasm.cap_hits,
            client_fin_ts: orig.first_fin_ts,
            server_fin_ts: resp.first_fin_ts,
            rst_ts: self.rst_ts,
            rst_by: self.rst_by_a.map(to_dir),
            close_initiator: self.first_close.map(|(a, _)| to_dir(a)),
            close_kind,
            half_closed,
            history: self.history.letters().to_string(),
            conn_state: conn_state(orig, resp, self.history.letters()),
            end_reason: self.end_reason,
        }
    }
}

/// Zeek's `conn_state` (base/protocols/conn/main.zeek).
fn conn_state(o: &Side, r: &Side, history: &str) -> &'static str {
    let (os, rs) = (o.state, r.state);
    let o_inactive = matches!(os, State::Inactive | State::Partial);
    let r_inactive = matches!(rs, State::Inactive | State::Partial);
    if rs == State::Reset {
        if matches!(os, State::SynSent | State::SynAckSent)
            || (os == State::Reset && o.size(rs) == 0 && r.size(os) == 0)
        {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
        }
    } else if os == State::Reset {
        if r_inactive {
            if rstos0(history) { "RSTOS0" } else { "OTH" }
        } else {
            "RSTO"
        }
    } else if rs == State::Closed && os == State::Closed {
        "SF"
    } else if os == State::Closed {
        if r_inactive { "SH" } else { "S2" }
    } else if rs == State::Closed {
        if o_inactive { "SHR" } else { "S3" }
    } else if os == State::SynSent && rs == State::Inactive {
        "S0"
    } else if os == State::Established && rs == State::Established {
        "S1"
    } else {
        "OTH"
    }
}

/// `/\^?S[^HAFGIQ]*R.*/`: the originator sent a SYN and then a RST with nothing but its
/// own packets in between.
fn rstos0(h: &str) -> bool {
    let h = h.strip_prefix('^').unwrap_or(h);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    /// The hot parts that the engine asks for ahead of time hold every field a plain segment
    /// reads or writes (what `plain_segment` and the checks around it touch), and stay a
    /// few cache lines: a field added in front of them would silently push some out.
    #[test]
    fn hot_parts_cover_what_a_plain_segment_touches() {
        let side = [
            offset_of!(Side, ep),
            offset_of!(Side, state),
            offset_of!(Side, fin_cnt),
            offset_of!(Side, rst_cnt),
            offset_of!(Side, seq),
            offset_of!(Side, last),
            offset_of!(Side, ack),
            offset_of!(Side, pkts),
            offset_of!(Side, reasm) + offset_of!(Reasm, next),
            offset_of!(Side, reasm) + offset_of!(Reasm, high),
        ];
        assert!(side.iter().all(|&o| o < Side::HOT_BYTES), "{side:?}");
        const { assert!(Side::HOT_BYTES <= 2 * 64) };
        let conn = [
            offset_of!(Connection, held),
            offset_of!(Connection, pkts),
            offset_of!(Connection, last_ts),
            offset_of!(Connection, initial_rtt),
            offset_of!(Connection, ack_ts),
            offset_of!(Connection, syn_last_ts),
            offset_of!(Connection, history),
            offset_of!(Connection, a_is_orig),
        ];
        assert!(conn.iter().all(|&o| o < Connection::HOT_BYTES), "{conn:?}");
        const { assert!(Connection::HOT_BYTES <= 2 * 64) };
        // Twelve lines: with the shard's key and analyzer, a table entry of 896 bytes.
        const { assert!(size_of::<Connection>() <= 12 * 64) };

        let seg = Segment {
            ts_ns: 0,
            src: Endpoint::default(),
            dst: Endpoint::default(),
            seq: 0,
            ack: 0,
            flags: Default::default(),
            window: 0,
            options: Default::default(),
            payload: &[],
            wire_len: 0,
        };
        let c = Connection::new(&seg, &Config::default());
        let start = (&c as *const Connection).cast::<u8>() as usize;
        let end = start + size_of::<Connection>();
        for (first, len) in c.hot_parts() {
            assert!(first as usize >= start && first as usize + len <= end);
        }
    }
}
