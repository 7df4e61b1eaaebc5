//! TCP state machine tests written as packet traces. Expected values follow RFC 9293
//! sequence arithmetic, Zeek's history/conn_state rules (TCPSessionAdapter.cc,
//! conn/main.zeek) and Wireshark's initial-RTT definition, worked out by hand per trace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use wirehouse_flow::{Addr, Dir, Endpoint, Segment, TcpFlags, TcpOptions};
use wirehouse_tcp::{
    CloseKind, Config, Connection, EndReason, EventKind, Handshake, OverlapPolicy, StreamSink,
};

#[derive(Default, Debug)]
struct Sink {
    data: [Vec<u8>; 2],
    chunks: Vec<(Dir, i64, usize)>,
    gaps: Vec<(Dir, u64)>,
    fins: Vec<Dir>,
    events: Vec<EventKind>,
    /// Every delivery in the order the sink got it: (direction, what, capture time).
    order: Vec<(Dir, String, i64)>,
    /// `on_ack` calls: (direction, acknowledged position, bytes of the direction delivered
    /// before it, gaps included).
    acks: Vec<(Dir, u64, usize)>,
}

impl StreamSink for Sink {
    fn on_data(&mut self, dir: Dir, ts: i64, data: &[u8]) {
        self.data[dir.index()].extend_from_slice(data);
        self.chunks.push((dir, ts, data.len()));
        self.order
            .push((dir, String::from_utf8_lossy(data).into_owned(), ts));
    }
    fn on_gap(&mut self, dir: Dir, ts: i64, len: u64) {
        self.gaps.push((dir, len));
        self.order.push((dir, format!("gap {len}"), ts));
        // Keep offsets aligned in the collected stream.
        self.data[dir.index()].extend(std::iter::repeat_n(0u8, len as usize));
    }
    fn on_ack(&mut self, dir: Dir, acked: u64) {
        self.acks.push((dir, acked, self.data[dir.index()].len()));
    }
    fn on_fin(&mut self, dir: Dir, ts: i64) {
        self.fins.push(dir);
        self.order.push((dir, "fin".into(), ts));
    }
    fn on_event(&mut self, _ts: i64, kind: EventKind, _detail: String) {
        self.events.push(kind);
    }
}

const CLIENT: Endpoint = Endpoint {
    addr: Addr::v4_const([10, 0, 0, 1]),
    port: 40000,
};

/// A small trace builder: `t.syn(C, 1000)`, `t.data(S, seq, ack, b"..")` with an advancing
/// clock (1 ms per packet unless `at` sets it).
struct T {
    conn: Option<Connection>,
    cfg: Config,
    sink: Sink,
    now: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    C,
    S,
}
use Side::*;

fn server() -> Endpoint {
    Endpoint::new(Addr::v4([10, 0, 0, 2]), 80)
}

impl T {
    fn new() -> T {
        T::with(Config::default())
    }
    fn with(cfg: Config) -> T {
        T {
            conn: None,
            cfg,
            sink: Sink::default(),
            now: 1_000_000_000,
        }
    }
    fn at(&mut self, ts: i64) -> &mut T {
        self.now = ts;
        self
    }
    #[allow(clippy::too_many_arguments)]
    fn seg(
        &mut self,
        side: Side,
        flags: u8,
        seq: u32,
        ack: u32,
        payload: &[u8],
        wire: u32,
        opts: TcpOptions,
        window: u16,
    ) {
        let (src, dst) = match side {
            C => (CLIENT, server()),
            S => (server(), CLIENT),
        };
        let s = Segment {
            ts_ns: self.now,
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            window,
            options: opts,
            payload,
            wire_len: wire,
        };
        let cfg = self.cfg.clone();
        let conn = self.conn.get_or_insert_with(|| Connection::new(&s, &cfg));
        conn.on_segment(&s, &cfg, &mut self.sink);
        self.now += 1_000_000;
    }
    fn syn(&mut self, side: Side, seq: u32) -> &mut T {
        let o = TcpOptions {
            mss: Some(1460),
            wscale: Some(7),
            sack_permitted: true,
        };
        self.seg(side, TcpFlags::SYN, seq, 0, b"", 0, o, 64240);
        self
    }
    fn synack(&mut self, side: Side, seq: u32, ack: u32) -> &mut T {
        let o = TcpOptions {
            mss: Some(1400),
            wscale: Some(9),
            sack_permitted: true,
        };
        self.seg(
            side,
            TcpFlags::SYN | TcpFlags::ACK,
            seq,
            ack,
            b"",
            0,
            o,
            65160,
        );
        self
    }
    fn ack(&mut self, side: Side, seq: u32, ack: u32) -> &mut T {
        self.seg(
            side,
            TcpFlags::ACK,
            seq,
            ack,
            b"",
            0,
            TcpOptions::default(),
            500,
        );
        self
    }
    fn data(&mut self, side: Side, seq: u32, ack: u32, payload: &[u8]) -> &mut T {
        self.seg(
            side,
            TcpFlags::ACK | TcpFlags::PSH,
            seq,
            ack,
            payload,
            payload.len() as u32,
            TcpOptions::default(),
            500,
        );
        self
    }
    fn fin(&mut self, side: Side, seq: u32, ack: u32) -> &mut T {
        self.seg(
            side,
            TcpFlags::FIN | TcpFlags::ACK,
            seq,
            ack,
            b"",
            0,
            TcpOptions::default(),
            500,
        );
        self
    }
    fn rst(&mut self, side: Side, seq: u32, ack: u32, with_ack: bool) -> &mut T {
        let f = TcpFlags::RST | if with_ack { TcpFlags::ACK } else { 0 };
        self.seg(side, f, seq, ack, b"", 0, TcpOptions::default(), 0);
        self
    }
    fn finish(&mut self, reason: EndReason) -> wirehouse_tcp::ConnSummary {
        let conn = self.conn.as_mut().unwrap();
        conn.finish(reason, self.now, &mut self.sink);
        conn.summary()
    }
    /// The classic handshake: client ISN 1000, server ISN 5000.
    fn handshake(&mut self) -> &mut T {
        self.syn(C, 1000).synack(S, 5000, 1001).ack(C, 1001, 5001)
    }
}

#[test]
fn plain_connection_history_state_and_timing() {
    let mut t = T::new();
    t.at(0).syn(C, 1000);
    t.at(10_000_000).synack(S, 5000, 1001);
    t.at(12_000_000).ack(C, 1001, 5001);
    t.data(C, 1001, 5001, b"GET / HTTP/1.1\r\n\r\n");
    t.ack(S, 5001, 1019);
    t.data(S, 5001, 1019, b"HTTP/1.1 200 OK\r\n\r\n");
    t.ack(C, 1019, 5020);
    t.fin(S, 5020, 1019).fin(C, 1019, 5021).ack(S, 5021, 1020);
    let s = t.finish(EndReason::Closed);
    // Zeek: S (orig SYN), h (resp SYN/ACK), A (pure ACK), D (orig data), a, d, then the
    // responder's FIN (f) before the originator's (F).
    assert_eq!(s.history, "ShADadfF");
    assert_eq!(s.conn_state, "SF");
    assert_eq!(s.handshake, Handshake::Complete);
    assert_eq!(
        (s.syn_ts, s.syn_ack_ts, s.ack_ts),
        (Some(0), Some(10_000_000), Some(12_000_000))
    );
    assert_eq!(
        (s.server_rtt_ns, s.client_rtt_ns, s.handshake_rtt_ns),
        (Some(10_000_000), Some(2_000_000), Some(12_000_000))
    );
    assert_eq!(
        (s.mss_client, s.mss_server, s.wscale_client, s.wscale_server),
        (Some(1460), Some(1400), Some(7), Some(9))
    );
    assert!(s.sack_permitted);
    assert_eq!((s.client_bytes, s.server_bytes), (18, 19));
    assert_eq!((s.client_pkts, s.server_pkts), (5, 5));
    assert_eq!(s.close_initiator, Some(Dir::ToClient));
    assert_eq!(s.close_kind, CloseKind::Fin);
    assert!(!s.half_closed);
    assert_eq!(t.sink.data[0], b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(t.sink.data[1], b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(t.sink.fins, vec![Dir::ToClient, Dir::ToServer]);
}

#[test]
fn syn_retries_measure_from_the_latest_syn() {
    let mut t = T::new();
    t.at(0).syn(C, 1000);
    t.at(1_000_000_000).syn(C, 1000);
    t.at(3_000_000_000).syn(C, 1000);
    t.at(3_020_000_000).synack(S, 5000, 1001);
    t.at(3_021_000_000).ack(C, 1001, 5001);
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(s.syn_retries, 2);
    assert_eq!(s.syn_ts, Some(0));
    // Wireshark's initial RTT runs from the most recent SYN.
    assert_eq!(s.handshake_rtt_ns, Some(21_000_000));
    assert_eq!(s.server_rtt_ns, Some(20_000_000));
    // Same sequence number: Zeek adds no second S.
    assert_eq!(s.history, "ShA");
    assert_eq!(s.conn_state, "S1");
    assert_eq!(s.close_kind, CloseKind::EndOfCapture);
}

#[test]
fn refused_syn_only_and_no_final_ack() {
    let mut t = T::new();
    t.syn(C, 1000).rst(S, 0, 1001, true);
    let s = t.finish(EndReason::Closed);
    assert_eq!(
        (s.handshake, s.conn_state, s.history.as_str()),
        (Handshake::Refused, "REJ", "Sr")
    );
    assert_eq!(s.close_kind, CloseKind::Rst);

    let mut t = T::new();
    t.syn(C, 1000);
    let s = t.finish(EndReason::IdleTimeout);
    assert_eq!(
        (s.handshake, s.conn_state, s.history.as_str()),
        (Handshake::SynOnly, "S0", "S")
    );
    assert_eq!(s.close_kind, CloseKind::IdleTimeout);
    assert_eq!(s.handshake_rtt_ns, None);

    let mut t = T::new();
    t.syn(C, 1000).synack(S, 5000, 1001);
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(
        (s.handshake, s.conn_state, s.history.as_str()),
        (Handshake::NoFinalAck, "S1", "Sh")
    );
}

#[test]
fn midstream_pickup_and_syn_ack_first() {
    // No SYN: the client sent data to port 80, a likely server port.
    let mut t = T::new();
    t.data(C, 7000, 9000, b"GET / HTTP/1.1\r\n\r\n").data(
        S,
        9000,
        7018,
        b"HTTP/1.1 200 OK\r\n\r\n",
    );
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(s.handshake, Handshake::Midstream);
    assert!(s.midstream);
    assert_eq!(s.client, CLIENT);
    assert_eq!(s.history, "Dd");
    assert_eq!(s.conn_state, "OTH");
    assert_eq!(t.sink.data[0], b"GET / HTTP/1.1\r\n\r\n");

    // First packet from the server: Zeek flips the roles by port (80 is a server port).
    let mut t = T::new();
    t.data(S, 9000, 7000, b"HTTP/1.1 200 OK\r\n\r\n");
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(s.client, CLIENT, "the port-80 side is the server");
    assert_eq!(s.history, "^d");
}

#[test]
fn data_on_syn_is_stream_data() {
    let mut t = T::new();
    let o = TcpOptions::default();
    t.seg(C, TcpFlags::SYN, 1000, 0, b"early", 5, o, 100);
    t.synack(S, 5000, 1006)
        .ack(C, 1006, 5001)
        .data(C, 1006, 5001, b"-late");
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(t.sink.data[0], b"early-late");
    assert_eq!(s.client_bytes, 10);
    assert!(t.sink.events.contains(&EventKind::SynWithData));
}

#[test]
fn sequence_numbers_wrap_around_2_32() {
    let mut t = T::new();
    let isn = 0xffff_fff0u32;
    t.syn(C, isn)
        .synack(S, 5000, isn.wrapping_add(1))
        .ack(C, isn.wrapping_add(1), 5001);
    let a: Vec<u8> = (0..40u8).collect();
    t.data(C, isn.wrapping_add(1), 5001, &a[..20]);
    t.data(C, isn.wrapping_add(21), 5001, &a[20..]); // crosses 2^32
    t.ack(S, 5001, isn.wrapping_add(41));
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(t.sink.data[0], a);
    assert_eq!(s.client_bytes, 40);
    assert_eq!(s.retransmitted_pkts, 0);
}

#[test]
fn out_of_order_is_delivered_in_order_when_the_hole_fills() {
    let mut t = T::new();
    t.handshake();
    t.at(50).data(C, 1011, 5001, b"world");
    t.at(100).data(C, 1001, 5001, b"hello ----");
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(t.sink.data[0], b"hello ----world");
    let times: Vec<i64> = t.sink.chunks.iter().map(|c| c.1).collect();
    assert_eq!(
        times,
        vec![100, 100],
        "the early segment is only usable once the hole before it fills"
    );
    assert_eq!(s.out_of_order_pkts, 1);
    assert_eq!(s.client_missing_bytes, 0);
}

#[test]
fn retransmission_and_partial_overlaps() {
    let mut t = T::new();
    t.handshake();
    t.data(C, 1001, 5001, b"abcdef");
    t.data(C, 1001, 5001, b"abcdef"); // full retransmission
    t.data(C, 1004, 5001, b"defGHI"); // overlaps the tail, adds GHI
    t.data(C, 1013, 5001, b"MNO"); // ahead: buffered
    t.data(C, 1011, 5001, b"KLMN"); // overlaps the buffered chunk's head
    t.data(C, 1010, 5001, b"J"); // fills the hole
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(t.sink.data[0], b"abcdefGHIJKLMNO");
    assert_eq!(s.retransmitted_pkts, 1);
    assert!(
        s.history.contains('T'),
        "Zeek's T for a retransmission: {}",
        s.history
    );
    assert_eq!(s.client_bytes, 15);
}

#[test]
fn conflicting_overlap_first_wins_by_default_last_wins_by_policy() {
    for (policy, expect) in [
        (OverlapPolicy::FirstWins, b"01234abcde"),
        (OverlapPolicy::LastWins, b"01234abXYe"),
    ] {
        let mut t = T::with(Config {
            overlap: policy,
            ..Config::default()
        });
        t.handshake();
        t.data(C, 1006, 5001, b"abcde"); // buffered, ahead of a hole
        t.data(C, 1008, 5001, b"XY"); // differs from the buffered copy
        t.data(C, 1001, 5001, b"01234");
        let s = t.finish(EndReason::EndOfCapture);
        assert_eq!(&t.sink.data[0], expect);
        assert_eq!(s.overlap_conflicts, 1);
        assert!(t.sink.events.contains(&EventKind::RexmitInconsistency));
    }
}

#[test]
fn gap_when_the_buffer_cap_is_hit() {
    let mut t = T::with(Config {
        max_ooo_bytes: 10,
        ..Config::default()
    });
    t.handshake();
    t.data(C, 1011, 5001, b"0123456789"); // 10 buffered behind a 10-byte hole
    t.data(C, 1021, 5001, b"abc"); // would exceed the cap: the hole becomes a gap
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(t.sink.gaps, vec![(Dir::ToServer, 10)]);
    assert_eq!(&t.sink.data[0][10..], b"0123456789abc");
    assert_eq!((s.ooo_cap_hits, s.client_missing_bytes), (1, 10));
}

#[test]
fn giving_up_buffered_holes_delivers_what_was_held_back() {
    use Dir::{ToClient as S2C, ToServer as C2S};
    // Two holes in the client's stream, with bytes buffered behind each: giving up turns
    // both holes into gaps and delivers everything, in stream order, and the connection
    // goes on from there.
    let mut t = T::new();
    t.handshake();
    t.data(C, 1001, 5001, b"01");
    t.data(C, 1005, 5001, b"45"); // 1003..1005 missing
    t.data(C, 1009, 5001, b"89"); // 1007..1009 missing
    let conn = t.conn.as_mut().unwrap();
    assert_eq!(conn.buffered_bytes(), 4);
    let now = t.now;
    assert!(conn.give_up_buffered_holes(now, 1 << 20, &t.cfg, &mut t.sink));
    assert_eq!(conn.buffered_bytes(), 0);
    assert_eq!(
        order(&t),
        vec![
            (C2S, "01"),
            (C2S, "gap 2"),
            (C2S, "45"),
            (C2S, "gap 2"),
            (C2S, "89")
        ]
    );
    let conn = t.conn.as_mut().unwrap();
    assert!(!conn.give_up_buffered_holes(now, 1 << 20, &t.cfg, &mut t.sink));
    t.data(C, 1011, 5001, b"ab");
    assert_eq!(&t.sink.data[0], b"01\x00\x0045\x00\x0089ab");
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!((s.ooo_cap_hits, s.client_missing_bytes), (1, 4));
    assert_eq!(
        t.sink.events,
        vec![EventKind::ReassemblyBufferCap],
        "one event for the direction given up, none at the end: nothing was left"
    );

    // Deliveries held for the other direction's acknowledged hole are passed on too: the
    // request waits for response 1's missing bytes, and goes out when memory runs short.
    let mut t = first_exchange_started(); // 5005..5009 never captured
    t.data(C, 1005, 5009, b"GET2");
    assert_eq!(order(&t), vec![(C2S, "GET1"), (S2C, "AAAA")]);
    let conn = t.conn.as_mut().unwrap();
    assert_eq!(conn.buffered_bytes(), 4);
    let now = t.now;
    assert!(conn.give_up_buffered_holes(now, 1 << 20, &t.cfg, &mut t.sink));
    assert_eq!(conn.buffered_bytes(), 0);
    assert_eq!(order(&t), vec![(C2S, "GET1"), (S2C, "AAAA"), (C2S, "GET2")]);
}

#[test]
fn acked_hole_becomes_a_gap_after_the_grace_period_only() {
    // The server acknowledges bytes the capture never had: a gap, after 16 more packets.
    let mut t = T::new();
    t.handshake();
    t.data(C, 1001, 5001, b"0123");
    let arrived = t.now;
    t.data(C, 1009, 5001, b"89"); // 1005..1009 lost in the capture
    t.ack(S, 5001, 1011);
    for _ in 0..15 {
        t.ack(S, 5001, 1011);
    }
    assert!(t.sink.gaps.is_empty(), "not yet: grace period");
    t.ack(S, 5001, 1011);
    assert_eq!(t.sink.gaps, vec![(Dir::ToServer, 4)]);
    assert_eq!(t.sink.data[0], b"0123\0\0\0\089");
    assert_eq!(
        t.sink.chunks.last().map(|c| c.1),
        Some(arrived),
        "nothing filled the hole: the bytes after it keep the time they arrived"
    );
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(s.client_missing_bytes, 4);
    assert!(s.history.contains('G'), "{}", s.history);

    // zeek#335: an ACK seen before the data it acknowledges (capture reordering) must not
    // turn into a gap when the data follows shortly.
    let mut t = T::new();
    t.handshake();
    t.ack(S, 5001, 1011);
    t.data(C, 1001, 5001, b"0123456789");
    let s = t.finish(EndReason::EndOfCapture);
    assert!(t.sink.gaps.is_empty());
    assert_eq!(t.sink.data[0], b"0123456789");
    assert_eq!(s.client_missing_bytes, 0);
}

/// The deliveries of `t` as (direction, what) in the order the sink got them.
fn order(t: &T) -> Vec<(Dir, &str)> {
    t.sink
        .order
        .iter()
        .map(|(d, w, _)| (*d, w.as_str()))
        .collect()
}

/// Keep-alive exchange 1 under way: request "GET1" (client 1001..1005), and the first 4 bytes
/// of its response "AAAA" (server 5001..5005).
fn first_exchange_started() -> T {
    let mut t = T::new();
    t.handshake();
    t.data(C, 1001, 5001, b"GET1");
    t.data(S, 5001, 1005, b"AAAA");
    t
}

#[test]
fn bytes_sent_after_an_acknowledged_hole_wait_for_it() {
    use Dir::{ToClient as S2C, ToServer as C2S};
    // Keep-alive: response 1 loses its middle segment in the capture (the capturing kernel
    // dropped it); the client acknowledges all of it and sends request 2, the server answers.
    // The application must see response 1 end (with its gap) before request 2, and the gap
    // dated when the client acknowledged the bytes, not when the wait for them ran out.
    let mut t = first_exchange_started(); // 5005..5009 "BBBB" never captured
    let acked_at = t.now;
    t.data(C, 1005, 5009, b"GET2");
    t.data(S, 5009, 1009, b"RESP");
    assert_eq!(
        order(&t),
        vec![
            (C2S, "GET1"),
            (S2C, "AAAA"),
            (S2C, "gap 4"),
            (C2S, "GET2"),
            (S2C, "RESP")
        ]
    );
    let gap_ts = t.sink.order.iter().find(|o| o.1 == "gap 4").map(|o| o.2);
    assert_eq!(gap_ts, Some(acked_at));
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(s.server_missing_bytes, 4);

    // The same bytes captured late (a span port delayed one direction): no gap, and the
    // late bytes still come before the request that acknowledged them.
    let mut t = first_exchange_started();
    t.data(C, 1005, 5009, b"GET2");
    t.data(S, 5005, 1005, b"BBBB");
    t.data(S, 5009, 1009, b"RESP");
    t.finish(EndReason::EndOfCapture);
    assert!(t.sink.gaps.is_empty());
    assert_eq!(
        order(&t),
        vec![
            (C2S, "GET1"),
            (S2C, "AAAA"),
            (S2C, "BBBB"),
            (C2S, "GET2"),
            (S2C, "RESP")
        ]
    );

    // The lost segment is in the middle of response 1: its tail was captured (and buffered
    // behind the hole) before request 2, so it goes before request 2; response 2 after it.
    let mut t = first_exchange_started(); // 5005..5009 never captured
    t.data(S, 5009, 1005, b"CCCC");
    t.data(C, 1005, 5013, b"GET2");
    t.data(S, 5013, 1009, b"RESP");
    assert_eq!(
        order(&t),
        vec![
            (C2S, "GET1"),
            (S2C, "AAAA"),
            (S2C, "gap 4"),
            (S2C, "CCCC"),
            (C2S, "GET2"),
            (S2C, "RESP")
        ]
    );

    // The capture ends while request 2 waits: the hole is declared, then request 2 and the
    // client's FIN follow.
    let mut t = first_exchange_started();
    t.data(C, 1005, 5009, b"GET2");
    t.fin(C, 1009, 5009);
    t.finish(EndReason::EndOfCapture);
    assert_eq!(
        order(&t),
        vec![
            (C2S, "GET1"),
            (S2C, "AAAA"),
            (S2C, "gap 4"),
            (C2S, "GET2"),
            (C2S, "fin")
        ]
    );
}

#[test]
fn a_response_that_lost_two_segments_still_comes_before_the_next_request() {
    use Dir::{ToClient as S2C, ToServer as C2S};
    // Response 1 lost two segments in the capture (5005..5009 and 5013..5017); the client
    // acknowledged all of it and sent request 2, which waits for those holes. Response 2
    // acknowledging request 2 shows a round trip went by: both holes are gaps, and request 2
    // is passed on before response 2 (else an HTTP parser frames response 2 without its
    // request, and a HEAD's answer is read as having a body).
    let mut t = first_exchange_started();
    t.data(S, 5009, 1005, b"CCCC");
    t.data(S, 5017, 1005, b"EEEE");
    t.data(C, 1005, 5021, b"GET2");
    t.data(S, 5021, 1009, b"RESP");
    assert_eq!(
        order(&t),
        vec![
            (C2S, "GET1"),
            (S2C, "AAAA"),
            (S2C, "gap 4"),
            (S2C, "CCCC"),
            (S2C, "gap 4"),
            (S2C, "EEEE"),
            (C2S, "GET2"),
            (S2C, "RESP")
        ]
    );
}

#[test]
fn bytes_keep_their_senders_acknowledgment_through_a_hole() {
    use Dir::{ToClient as S2C, ToServer as C2S};
    // Exchange 2 is lost from the capture both ways ("GET2" at 1005, "RSP2" at 5005). "GET3"
    // waits behind the client's hole until the server's next segment acknowledges past it;
    // when it is delivered it must still say that its client had 8 bytes of the server's
    // stream (RSP1 and RSP2): that is how HTTP pairing knows RSP2 was not GET3's answer.
    let mut t = T::new();
    t.handshake();
    t.data(C, 1001, 5001, b"GET1");
    t.data(S, 5001, 1005, b"RSP1");
    t.data(C, 1009, 5009, b"GET3");
    t.data(S, 5009, 1013, b"RSP3");
    t.finish(EndReason::EndOfCapture);
    assert_eq!(t.sink.data[0], b"GET1\0\0\0\0GET3");
    assert_eq!(t.sink.data[1], b"RSP1\0\0\0\0RSP3");
    let get3 = t.sink.acks.iter().rfind(|a| a.0 == C2S);
    assert_eq!(get3, Some(&(C2S, 8, 8)), "{:?}", t.sink.acks);
    let rsp3 = t.sink.acks.iter().rfind(|a| a.0 == S2C);
    assert_eq!(rsp3, Some(&(S2C, 12, 8)), "{:?}", t.sink.acks);
    assert!(
        t.sink.acks.contains(&(C2S, 0, 0)),
        "GET1: {:?}",
        t.sink.acks
    );
}

#[test]
fn snaplen_cut_payload_is_a_gap_and_the_stream_continues() {
    let mut t = T::new();
    t.handshake();
    t.seg(
        C,
        TcpFlags::ACK,
        1001,
        5001,
        b"abc",
        10,
        TcpOptions::default(),
        500,
    );
    t.data(C, 1011, 5001, b"next");
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(t.sink.gaps, vec![(Dir::ToServer, 7)]);
    assert_eq!(t.sink.data[0], b"abc\0\0\0\0\0\0\0next");
    assert_eq!(s.client_missing_bytes, 7);
    assert_eq!(s.client_bytes, 14);
    assert!(t.sink.events.contains(&EventKind::TruncatedPayload));
}

#[test]
fn keepalive_probe_and_zero_window() {
    let mut t = T::new();
    t.handshake();
    t.data(C, 1001, 5001, b"x");
    t.data(C, 1001, 5001, b"x"); // keep-alive: one old byte at next-1
    t.seg(
        S,
        TcpFlags::ACK,
        5001,
        1002,
        b"",
        0,
        TcpOptions::default(),
        0,
    ); // zero window
    t.seg(
        S,
        TcpFlags::ACK,
        5001,
        1002,
        b"",
        0,
        TcpOptions::default(),
        0,
    );
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(
        s.retransmitted_pkts, 0,
        "a keep-alive probe is not a retransmission"
    );
    assert_eq!(s.zero_window_events, 2);
    assert_eq!(t.sink.data[0], b"x");
}

#[test]
fn rst_teardown_and_half_close() {
    let mut t = T::new();
    t.handshake()
        .data(C, 1001, 5001, b"abc")
        .rst(C, 1004, 5001, true);
    let s = t.finish(EndReason::Closed);
    assert_eq!(
        (s.close_kind, s.close_initiator),
        (CloseKind::Rst, Some(Dir::ToServer))
    );
    assert_eq!(s.conn_state, "RSTO");
    assert_eq!(s.rst_by, Some(Dir::ToServer));

    let mut t = T::new();
    t.handshake().fin(C, 1001, 5001).ack(S, 5001, 1002);
    let s = t.finish(EndReason::IdleTimeout);
    assert!(s.half_closed, "the server never closed: CLOSE_WAIT");
    assert_eq!(s.conn_state, "S2");
    assert_eq!(s.close_kind, CloseKind::Fin);
}

/// A bare SYN from the client, outside any `T` (to ask a connection about it).
fn client_syn(seq: u32) -> Segment<'static> {
    Segment {
        ts_ns: 0,
        src: CLIENT,
        dst: server(),
        seq,
        ack: 0,
        flags: TcpFlags(TcpFlags::SYN),
        window: 100,
        options: TcpOptions::default(),
        payload: b"",
        wire_len: 0,
    }
}

#[test]
fn port_reuse_starts_a_new_connection() {
    let mut t = T::new();
    t.handshake()
        .fin(C, 1001, 5001)
        .fin(S, 5001, 1002)
        .ack(C, 1002, 5002);
    let conn = t.conn.as_ref().unwrap();
    assert!(conn.is_closed());
    let new_syn = client_syn(90000);
    assert!(conn.starts_new_connection(&new_syn));
    // The opening SYN again, after data flowed and both sides closed: a duplicate of that
    // packet (a capture taken on two interfaces at once, or a span port duplicating), not a
    // new connection: a new one on the same 4-tuple must start from another ISN.
    let mut t = T::new();
    t.handshake()
        .data(C, 1001, 5001, b"GET")
        .fin(C, 1004, 5001)
        .fin(S, 5001, 1005)
        .ack(C, 1005, 5002);
    let conn = t.conn.as_ref().unwrap();
    assert!(conn.is_closed());
    let dup = Segment {
        seq: 1000,
        ..new_syn
    };
    assert!(!conn.starts_new_connection(&dup));
    assert!(conn.starts_new_connection(&new_syn));
    // A retransmitted SYN of a refused handshake is the same connection.
    let mut t = T::new();
    t.syn(C, 1000).rst(S, 0, 1001, true);
    let again = Segment {
        seq: 1000,
        ..new_syn
    };
    assert!(!t.conn.as_ref().unwrap().starts_new_connection(&again));
}

#[test]
fn a_syn_after_a_stray_ack_opens_the_next_connection() {
    // The last ACK of a closed connection whose record was already retired (the close
    // delay, or its cap on a busy link) is picked up as a mid-stream connection of its own.
    // The client's next SYN on the same 4-tuple opens a new connection: it is not a jump in
    // that stray connection's numbering to be ignored.
    let mut t = T::new();
    t.ack(C, 1_000_000, 5_000_000);
    let conn = t.conn.as_ref().unwrap();
    assert!(!conn.is_closed());
    let syn = client_syn(3_000_000_000);
    assert!(conn.starts_new_connection(&syn));
    // Near the stray stream, a SYN is not taken for a new connection.
    let near = Segment {
        seq: 1_000_000 - 10,
        ..syn
    };
    assert!(!conn.starts_new_connection(&near));
    // Once this side's SYN was seen, a far one is ignored as before (zeek#3313).
    let mut t = T::new();
    t.handshake().ack(C, 1001, 5001);
    assert!(!t.conn.as_ref().unwrap().starts_new_connection(&syn));
}

#[test]
fn bogus_syn_ack_sequence_does_not_inflate_bytes() {
    // zeek#3313: a late SYN/ACK with a sequence number far from the stream.
    let mut t = T::new();
    t.handshake()
        .data(S, 5001, 1001, b"hello")
        .ack(C, 1001, 5006);
    t.synack(S, 5001 + 900_000_000, 1001);
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(s.server_bytes, 5);
}

#[test]
fn a_syn_ack_retried_with_a_new_isn_before_it_was_acknowledged_renumbers_the_server() {
    // The client's SYN is answered, but that SYN/ACK is lost on the way; the client retries
    // its SYN and the server, without the first attempt's state, answers with another
    // initial sequence number, far from the first. The client acknowledges that one, and the
    // connection goes on from it: nothing is missing.
    let mut t = T::new();
    t.syn(C, 1000).synack(S, 5000, 1001);
    let new_isn = 5000 + 16_037_566;
    t.syn(C, 1000)
        .synack(S, new_isn, 1001)
        .ack(C, 1001, new_isn + 1)
        .data(C, 1001, new_isn + 1, b"GET / HTTP/1.0\r\n\r\n")
        .data(S, new_isn + 1, 1019, b"HTTP/1.0 200 OK\r\n\r\nhello")
        .fin(S, new_isn + 25, 1019)
        .fin(C, 1019, new_isn + 26)
        .ack(S, new_isn + 26, 1020);
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(s.server_bytes, 24);
    assert_eq!(s.server_missing_bytes, 0);
    assert_eq!(t.sink.gaps, vec![]);
    assert_eq!(t.sink.data[1], b"HTTP/1.0 200 OK\r\n\r\nhello");
    assert!(t.sink.events.contains(&EventKind::SynSeqJump));
    assert!(!t.sink.events.contains(&EventKind::SeqJumpIgnored));
    // Once the client acknowledged the first SYN/ACK, a far one is ignored (zeek#3313).
    let mut t = T::new();
    t.syn(C, 1000).synack(S, 5000, 1001).ack(C, 1001, 5001);
    t.synack(S, new_isn, 1001)
        .data(S, 5001, 1001, b"hello")
        .ack(C, 1001, 5006);
    let s = t.finish(EndReason::EndOfCapture);
    assert_eq!(s.server_bytes, 5);
    assert!(t.sink.events.contains(&EventKind::SeqJumpIgnored));
}

/// Reassemble `stream` sent as `segments` (start, end) in the given order.
fn reassemble(stream: &[u8], order: &[(usize, usize)], cfg: Config) -> (Vec<u8>, u64) {
    let mut t = T::with(cfg);
    t.handshake();
    for &(a, b) in order {
        t.data(C, 1001 + a as u32, 5001, &stream[a..b]);
    }
    let s = t.finish(EndReason::EndOfCapture);
    (t.sink.data[0].clone(), s.client_missing_bytes)
}

proptest! {
    #[test]
    fn any_permutation_with_duplicates_reassembles_the_same_bytes(
        stream in proptest::collection::vec(any::<u8>(), 1..2000),
        cuts in proptest::collection::vec(1usize..200, 1..40),
        shuffle in proptest::collection::vec(any::<u32>(), 0..80),
        dups in proptest::collection::vec(any::<u16>(), 0..10),
    ) {
        // Cut into segments, then re-cut a few overlapping retransmissions.
        let mut segs = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < stream.len() {
            let end = (pos + cuts[k % cuts.len()]).min(stream.len());
            segs.push((pos, end));
            pos = end;
            k += 1;
        }
        for d in &dups {
            let a = usize::from(*d) % stream.len();
            let b = (a + 1 + usize::from(*d) % 300).min(stream.len());
            segs.push((a, b));
        }
        for (i, s) in shuffle.iter().enumerate() {
            let n = segs.len();
            segs.swap(i % n, (*s as usize) % n);
        }
        let (got, missing) = reassemble(&stream, &segs, Config::default());
        prop_assert_eq!(missing, 0);
        prop_assert_eq!(got, stream);
    }

    #[test]
    fn small_caps_lose_bytes_but_never_misplace_them(
        stream in proptest::collection::vec(1u8..=255, 1..1500),
        cuts in proptest::collection::vec(1usize..100, 1..30),
        shuffle in proptest::collection::vec(any::<u32>(), 0..60),
        cap in 1usize..400,
    ) {
        let mut segs = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < stream.len() {
            let end = (pos + cuts[k % cuts.len()]).min(stream.len());
            segs.push((pos, end));
            pos = end;
            k += 1;
        }
        for (i, s) in shuffle.iter().enumerate() {
            let n = segs.len();
            segs.swap(i % n, (*s as usize) % n);
        }
        let cfg = Config { max_ooo_bytes: cap, max_ooo_chunks: 4, ..Config::default() };
        let (got, missing) = reassemble(&stream, &segs, cfg);
        // Delivered + gap bytes cover the stream exactly; every delivered byte is at its
        // own offset (gaps are zero-filled by the sink, and the stream has no zero bytes).
        prop_assert_eq!(got.len(), stream.len());
        let zeros = got.iter().filter(|b| **b == 0).count() as u64;
        prop_assert_eq!(zeros, missing);
        for (g, s) in got.iter().zip(&stream) {
            prop_assert!(*g == 0 || g == s);
        }
    }
}

/// Everything a connection reported, to compare two runs of the same trace.
fn run_trace(
    ops: &[(u8, u16, u16)],
    opening: u8,
    fast: bool,
) -> (String, Option<wirehouse_tcp::ConnSummary>) {
    let cfg = Config {
        plain_fast_path: fast,
        gap_grace_packets: 4,
        ..Config::default()
    };
    let mut t = T::with(cfg);
    let (c_isn, s_isn) = (1000u32, 5000u32);
    match opening % 3 {
        0 => {
            t.handshake();
        }
        1 => {} // no handshake in the capture: a partial connection
        _ => {
            // The SYN/ACK shows up first.
            t.synack(S, s_isn, c_isn + 1)
                .syn(C, c_isn)
                .ack(C, c_isn + 1, s_isn + 1);
        }
    }
    // Bytes each side has sent so far (captured or not), and acknowledged of the peer.
    let mut sent = [0u32; 2];
    let pattern = |side: usize, off: u32, len: u32| -> Vec<u8> {
        (off..off + len)
            .map(|i| (i as u8) ^ (side as u8 * 0x55) | 1)
            .collect()
    };
    for &(kind, a, b) in ops {
        let side = usize::from(kind & 1);
        let (who, isn, peer_isn) = if side == 0 {
            (C, c_isn, s_isn)
        } else {
            (S, s_isn, c_isn)
        };
        let peer = 1 - side;
        // Mostly the true acknowledgment; sometimes ahead of what was captured, or stale.
        let ack_off = match a % 8 {
            0 => sent[peer] + u32::from(b % 700),
            1 => sent[peer].saturating_sub(u32::from(b % 90)),
            _ => sent[peer],
        };
        let ack = peer_isn + 1 + ack_off;
        let flags_ack = TcpFlags::ACK | if a % 3 == 0 { TcpFlags::PSH } else { 0 };
        match (kind >> 1) % 12 {
            0..=5 => {
                // Next bytes, or a pure ACK.
                let len = u32::from(b % 400) * u32::from(a % 5 != 0);
                let p = pattern(side, sent[side], len);
                t.seg(
                    who,
                    flags_ack,
                    isn + 1 + sent[side],
                    ack,
                    &p,
                    len,
                    TcpOptions::default(),
                    501,
                );
                sent[side] += len;
            }
            6 => {
                // A retransmission of earlier bytes (some overlapping new ones).
                let back = u32::from(a) % (sent[side] + 1);
                let len = u32::from(b % 300) + 1;
                let off = sent[side] - back;
                let p = pattern(side, off, len);
                t.seg(
                    who,
                    flags_ack,
                    isn + 1 + off,
                    ack,
                    &p,
                    len,
                    TcpOptions::default(),
                    501,
                );
                sent[side] = sent[side].max(off + len);
            }
            7 => {
                // Bytes lost from the capture: the next segment lands beyond a hole.
                sent[side] += u32::from(b % 500) + 1;
            }
            8 => {
                // Zero window probe / ACK.
                t.seg(
                    who,
                    TcpFlags::ACK,
                    isn + 1 + sent[side],
                    ack,
                    b"",
                    0,
                    TcpOptions::default(),
                    0,
                );
            }
            9 => {
                // A segment cut by the snaplen.
                let len = u32::from(b % 300) + 2;
                let p = pattern(side, sent[side], len / 2);
                t.seg(
                    who,
                    flags_ack,
                    isn + 1 + sent[side],
                    ack,
                    &p,
                    len,
                    TcpOptions::default(),
                    501,
                );
                sent[side] += len;
            }
            10 if a % 4 == 0 => {
                let flags = if b % 5 == 0 {
                    TcpFlags::RST
                } else {
                    TcpFlags::FIN | TcpFlags::ACK
                };
                t.seg(
                    who,
                    flags,
                    isn + 1 + sent[side],
                    ack,
                    b"",
                    0,
                    TcpOptions::default(),
                    501,
                );
                sent[side] += u32::from(flags & TcpFlags::FIN != 0);
            }
            _ => {
                // A segment without ACK (data before the handshake finished, or odd stacks).
                let len = u32::from(b % 50);
                let p = pattern(side, sent[side], len);
                t.seg(
                    who,
                    TcpFlags::PSH,
                    isn + 1 + sent[side],
                    0,
                    &p,
                    len,
                    TcpOptions::default(),
                    501,
                );
                sent[side] += len;
            }
        }
    }
    // A trace of only lost segments captures nothing, and so has no connection to finish.
    let s = t.conn.is_some().then(|| t.finish(EndReason::EndOfCapture));
    (
        format!(
            "{:?} {:?} {:?} {:?}",
            t.sink.order, t.sink.events, t.sink.gaps, t.sink.fins
        ),
        s,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]
    /// The plain-segment shortcut is an optimisation only: any trace (handshake or not,
    /// retransmissions, holes, acknowledgments of unseen bytes, zero windows, snaplen cuts,
    /// FIN and RST) gives the same deliveries, events and summary with it on and off.
    #[test]
    fn the_plain_segment_shortcut_changes_nothing(
        ops in proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u16>()), 1..120),
        opening in any::<u8>(),
    ) {
        let fast = run_trace(&ops, opening, true);
        let general = run_trace(&ops, opening, false);
        prop_assert_eq!(&fast.0, &general.0);
        prop_assert_eq!(fast.1, general.1);
    }
}
