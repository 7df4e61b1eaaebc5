//! TCP connection analysis as a pure state machine.
//!
//! A [`Connection`] is fed the segments of one TCP connection, in capture order, with their
//! capture timestamps ([`Connection::on_segment`]). It never reads a clock or does I/O, so
//! every edge case is a deterministic unit test (the style of smoltcp's `tcp.rs`). It
//! produces:
//!
//! - the in-order byte stream of each direction, handed to a [`StreamSink`] chunk by chunk
//!   with the capture time of the packet that carried each chunk. In-order payload is passed
//!   straight through (zero copy); only out-of-order payload is copied, into a bounded buffer.
//!   Bytes the capture never saw are reported as gaps and the stream continues after them;
//! - a [`ConnSummary`]: handshake timing, options, counters, how it ended, and Zeek's
//!   `history` and `conn_state` codes.
//!
//! ## Conventions
//! The *client* (Zeek's originator) is the side that sent the SYN; without a SYN, the side
//! Zeek's port heuristics pick. [`Dir::ToServer`] is client-to-server. Sequence numbers are
//! only compared through [`seq::SeqNumber`] (wrap-safe), and positions inside a stream are
//! 64-bit offsets, so streams longer than 4 GiB and ISNs near 2^32 need no special cases.
//!
//! ## Where the rules come from
//! Endpoint states, history letters and `conn_state` follow Zeek's TCP analyzer
//! (`TCPSessionAdapter.cc`, `TCP_Endpoint.cc`, `conn/main.zeek`) so that `connections` can be
//! joined with or checked against a Zeek `conn.log`. `handshake_rtt` follows Wireshark's
//! `tcp.analysis.initial_rtt`. Reassembly (gap policy, overlap policy, caps) is our own and
//! is documented on [`Config`].
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod conn;
mod history;
mod reasm;
pub mod seq;

pub use conn::Connection;
pub use wirehouse_flow::{Dir, Endpoint, Segment};

/// Reassembly tunables.
#[derive(Clone, Debug)]
pub struct Config {
    /// Cap on out-of-order payload buffered per direction. When exceeded, the earliest hole
    /// is declared a gap so buffered data can be delivered.
    pub max_ooo_bytes: usize,
    /// Cap on out-of-order chunks buffered per direction.
    pub max_ooo_chunks: usize,
    /// Which copy wins when retransmitted bytes overlap buffered ones.
    pub overlap: OverlapPolicy,
    /// A hole the peer has acknowledged (the receiver got bytes the capture missed) becomes a
    /// gap only after this many further packets of the connection...
    pub gap_grace_packets: u32,
    /// ...or this much capture time, whichever comes first. Declaring on the first ACK would
    /// lose data that a capture merely reordered (zeek#335).
    pub gap_grace_ns: i64,
    /// Handle plain in-order segments on a shortcut (same results, fewer instructions).
    /// Off only to check that claim: tests run captures both ways and compare.
    pub plain_fast_path: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_ooo_bytes: 4 << 20,
            max_ooo_chunks: 2048,
            overlap: OverlapPolicy::FirstWins,
            gap_grace_packets: 16,
            gap_grace_ns: 1_000_000_000,
            plain_fast_path: true,
        }
    }
}

/// Overlapping retransmissions: whose bytes are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OverlapPolicy {
    /// The first copy seen wins (what most receivers do, and what reassembling IDSs default
    /// to).
    #[default]
    FirstWins,
    /// A later copy replaces bytes still buffered. Bytes already delivered are not kept, so
    /// they cannot be replaced.
    LastWins,
}

/// What reassembly produces. Implemented by the engine.
pub trait StreamSink {
    /// In-order bytes of one direction. `ts_ns` is the capture time of the packet that
    /// carried them or, for bytes that waited behind a hole, of the packet that filled it.
    fn on_data(&mut self, dir: Dir, ts_ns: i64, data: &[u8]);
    /// `len` bytes of this direction will never be delivered; the stream continues after
    /// them.
    fn on_gap(&mut self, dir: Dir, ts_ns: i64, len: u64);
    /// This direction's FIN was reached in sequence order.
    fn on_fin(&mut self, dir: Dir, ts_ns: i64);
    /// The bytes of `dir` delivered next were sent by a side that had acknowledged the
    /// peer's stream up to position `acked` (bytes from the stream's first). A parser can
    /// place a message against the other direction by causality this way, whatever the
    /// order the capture or reassembly hands the two directions over in.
    fn on_ack(&mut self, _dir: Dir, _acked: u64) {}
    /// An anomaly worth a row in the `events` table.
    fn on_event(&mut self, ts_ns: i64, kind: EventKind, detail: String);
}

/// Why the engine retired a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// It was closed (FIN/RST) and lingered long enough, or its 4-tuple was reused.
    Closed,
    /// No packet for the idle timeout.
    IdleTimeout,
    /// The capture ended.
    EndOfCapture,
    /// The live-connection cap was reached and it was among the least recently active.
    Evicted,
}

/// Anomalies reported as events. Names follow Zeek's `weird.log` where Zeek has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// Bytes the capture never saw (Zeek's `content_gap` event).
    ContentGap,
    /// The out-of-order buffer cap forced a gap.
    ReassemblyBufferCap,
    /// A retransmission's bytes differ from the first copy.
    RexmitInconsistency,
    /// Payload after this side sent a RST.
    DataAfterReset,
    /// Payload beyond this side's FIN.
    DataAfterFin,
    /// A SYN carrying payload (TCP Fast Open, or odd stacks).
    SynWithData,
    /// A repeated SYN with a different initial sequence number.
    SynSeqJump,
    /// A SYN inside an established connection.
    SynInsideConnection,
    /// A segment before the start of its side's sequence space.
    SeqUnderflow,
    /// An ACK for data before the start of the peer's sequence space.
    AckUnderflow,
    /// A SYN or RST whose sequence number is implausibly far from the stream: ignored for
    /// byte counts (zeek#3313).
    SeqJumpIgnored,
    /// Payload cut by the capture's snaplen.
    TruncatedPayload,
    /// Window scale option above RFC 7323's maximum of 14.
    ScaleRange,
    /// A FIN from a side that never completed a handshake.
    SpontaneousFin,
    /// A RST from a side that never sent anything else.
    SpontaneousRst,
    /// Payload sent before the handshake completed.
    DataBeforeEstablished,
    /// A SYN/ACK that acknowledges no SYN we saw.
    BadSynAck,
    /// Both sides sent a SYN.
    SimultaneousOpen,
    /// A side ACKs data it was never sent, having sent its own SYN.
    PossibleSplitRouting,
}

impl EventKind {
    /// The event's name in the `events` table.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::ContentGap => "content_gap",
            EventKind::ReassemblyBufferCap => "reassembly_buffer_cap",
            EventKind::RexmitInconsistency => "rexmit_inconsistency",
            EventKind::DataAfterReset => "data_after_reset",
            EventKind::DataAfterFin => "data_after_FIN",
            EventKind::SynWithData => "SYN_with_data",
            EventKind::SynSeqJump => "SYN_seq_jump",
            EventKind::SynInsideConnection => "SYN_inside_connection",
            EventKind::SeqUnderflow => "TCP_seq_underflow_or_misorder",
            EventKind::AckUnderflow => "TCP_ack_underflow_or_misorder",
            EventKind::SeqJumpIgnored => "TCP_seq_jump_ignored",
            EventKind::TruncatedPayload => "truncated_tcp_payload",
            EventKind::ScaleRange => "TCP_scale_range",
            EventKind::SpontaneousFin => "spontaneous_FIN",
            EventKind::SpontaneousRst => "spontaneous_RST",
            EventKind::DataBeforeEstablished => "data_before_established",
            EventKind::BadSynAck => "bad_SYN_ack",
            EventKind::SimultaneousOpen => "simultaneous_open",
            EventKind::PossibleSplitRouting => "possible_split_routing",
        }
    }
}

/// How the handshake went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// SYN, SYN/ACK and the client's ACK.
    Complete,
    /// SYN(s) and no answer.
    SynOnly,
    /// SYN answered by RST.
    Refused,
    /// SYN/ACK seen, but never the client's ACK.
    NoFinalAck,
    /// No SYN from the client: picked up mid-stream.
    Midstream,
}

impl Handshake {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Handshake::Complete => "complete",
            Handshake::SynOnly => "syn_only",
            Handshake::Refused => "refused",
            Handshake::NoFinalAck => "no_final_ack",
            Handshake::Midstream => "midstream",
        }
    }
}

/// How the connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    /// A FIN came first.
    Fin,
    /// A RST came first.
    Rst,
    /// Neither; it went idle.
    IdleTimeout,
    /// Neither; the capture ended.
    EndOfCapture,
    /// Neither; evicted at the connection cap.
    Evicted,
}

impl CloseKind {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseKind::Fin => "fin",
            CloseKind::Rst => "rst",
            CloseKind::IdleTimeout => "idle_timeout",
            CloseKind::EndOfCapture => "end_of_capture",
            CloseKind::Evicted => "evicted",
        }
    }
}

/// Everything the `connections` row needs. Times are nanoseconds since the epoch, durations
/// nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnSummary {
    /// First packet.
    pub first_ts: i64,
    /// Last packet.
    pub last_ts: i64,
    /// The client (originator).
    pub client: Endpoint,
    /// The server (responder).
    pub server: Endpoint,
    /// No SYN from the client was seen.
    pub midstream: bool,
    /// Handshake outcome.
    pub handshake: Handshake,
    /// First SYN.
    pub syn_ts: Option<i64>,
    /// First SYN/ACK.
    pub syn_ack_ts: Option<i64>,
    /// The client's ACK that completed the handshake.
    pub ack_ts: Option<i64>,
    /// SYNs sent after the first.
    pub syn_retries: u32,
    /// SYN/ACK minus the SYN it answers (the latest SYN before it).
    pub server_rtt_ns: Option<i64>,
    /// Handshake ACK minus the SYN/ACK.
    pub client_rtt_ns: Option<i64>,
    /// Wireshark's initial RTT: the most recent SYN to the first segment with ACK and without
    /// SYN, in either direction.
    pub handshake_rtt_ns: Option<i64>,
    /// Client MSS option.
    pub mss_client: Option<u16>,
    /// Server MSS option.
    pub mss_server: Option<u16>,
    /// Client window scale.
    pub wscale_client: Option<u8>,
    /// Server window scale.
    pub wscale_server: Option<u8>,
    /// Both sides offered SACK.
    pub sack_permitted: bool,
    /// Packets from the client.
    pub client_pkts: u64,
    /// Packets from the server.
    pub server_pkts: u64,
    /// Client payload bytes by sequence-space progress (Zeek's orig_bytes).
    pub client_bytes: u64,
    /// Server payload bytes (Zeek's resp_bytes).
    pub server_bytes: u64,
    /// Client bytes declared missing.
    pub client_missing_bytes: u64,
    /// Server bytes declared missing.
    pub server_missing_bytes: u64,
    /// Segments whose payload was entirely seen before (keep-alive probes excluded).
    pub retransmitted_pkts: u64,
    /// Segments that filled a hole below the highest sequence seen.
    pub out_of_order_pkts: u64,
    /// Segments advertising a zero window.
    pub zero_window_events: u64,
    /// Overlaps whose bytes differed from the first copy.
    pub overlap_conflicts: u64,
    /// Times the out-of-order buffer cap forced a gap.
    pub ooo_cap_hits: u64,
    /// Client's first FIN.
    pub client_fin_ts: Option<i64>,
    /// Server's first FIN.
    pub server_fin_ts: Option<i64>,
    /// First RST.
    pub rst_ts: Option<i64>,
    /// Who sent the first RST.
    pub rst_by: Option<Dir>,
    /// Who closed first (FIN or RST).
    pub close_initiator: Option<Dir>,
    /// How it ended.
    pub close_kind: CloseKind,
    /// One side sent a FIN and the other neither FIN nor RST.
    pub half_closed: bool,
    /// Zeek's history letters.
    pub history: String,
    /// Zeek's conn_state.
    pub conn_state: &'static str,
    /// Why the engine retired it, once finished.
    pub end_reason: Option<EndReason>,
}
