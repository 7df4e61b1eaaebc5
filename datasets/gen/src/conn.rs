//! One generated TCP connection: a script of actions expanded lazily into packets, with
//! impairments, and the truth of what it contains.

use std::collections::VecDeque;

use crate::msg::Msg;
use crate::pcap::{ACK, FIN, Host, PSH, RST, SYN};
use crate::rng::Rng;

/// Maximum segment payload (1500-byte MTU, IPv4, TCP timestamps).
pub(crate) const MSS: u64 = 1448;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    Http1,
    H2,
    Grpc,
    /// A SYN that is never answered.
    HalfOpen,
}

impl Proto {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Proto::Http1 => "http1",
            Proto::H2 => "h2",
            Proto::Grpc => "grpc",
            Proto::HalfOpen => "half_open",
        }
    }
}

/// What a connection does, in order.
#[derive(Debug)]
pub(crate) enum Action {
    /// The three-way handshake.
    Handshake,
    /// SYN(s) only: the first and retries after these delays.
    SynOnly(Vec<i64>),
    /// A message from the client or the server, after `think_ns`.
    Send {
        client: bool,
        msg: usize,
        think_ns: i64,
    },
    /// FIN exchange started by the client or the server.
    Close { client: bool },
    /// The client aborts with RST.
    Reset,
}

/// Truth about one request (HTTP/1 transaction or HTTP/2 stream).
#[derive(Clone, Debug, Default)]
pub(crate) struct ReqTruth {
    pub(crate) trans_depth: u32,
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) host: String,
    pub(crate) status: u16,
    pub(crate) request_body: u64,
    pub(crate) response_body: u64,
    pub(crate) request_ns: i64,
    pub(crate) response_ns: i64,
    pub(crate) response_end_ns: i64,
    pub(crate) chunked: bool,
    pub(crate) stream_id: u32,
    /// Index of the request and response messages.
    pub(crate) req_msg: usize,
    pub(crate) resp_msg: usize,
}

/// A packet ready to be written.
#[derive(Debug)]
pub(crate) struct Pkt {
    pub(crate) client: bool,
    pub(crate) flags: u8,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) head: Vec<u8>,
    pub(crate) filler: usize,
    /// Delay after the previous packet of this connection.
    pub(crate) delay: i64,
    /// Not written (capture loss), but counted as sent.
    pub(crate) lost: bool,
    /// Which message's first/last byte it carries (for request/response timing truth).
    pub(crate) msg_first: Option<usize>,
    pub(crate) msg_last: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Impair {
    pub(crate) retransmit: f64,
    pub(crate) reorder: f64,
    pub(crate) loss: f64,
}

pub(crate) struct Conn {
    pub(crate) client: Host,
    pub(crate) server: Host,
    pub(crate) proto: Proto,
    isn_c: u32,
    isn_s: u32,
    pub(crate) rtt_ns: i64,
    actions: VecDeque<Action>,
    pub(crate) msgs: Vec<Msg>,
    pub(crate) reqs: Vec<ReqTruth>,
    /// Next stream offsets (bytes after the ISN+1).
    c_off: u64,
    s_off: u64,
    /// Where the current message is in its sending.
    cursor: Option<(bool, usize, u64)>,
    queue: VecDeque<Pkt>,
    /// The packet scheduled next (its time is in the scheduler).
    pub(crate) upcoming: Option<Pkt>,
    impair: Impair,
    /// Think time before the message being started.
    pending_think: i64,
    /// Who sent the last message started.
    last_send_client: Option<bool>,
    /// `ooo-hole` scenario: the server segment at this stream offset is lost, and the
    /// client's later packets are not captured either (a one-sided capture), so nothing
    /// acknowledges past the hole.
    pub(crate) hole_at: Option<u64>,
    pub(crate) truth: ConnTruth,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ConnTruth {
    pub(crate) syn_ns: Option<i64>,
    pub(crate) syn_ack_ns: Option<i64>,
    pub(crate) ack_ns: Option<i64>,
    pub(crate) first_ns: Option<i64>,
    pub(crate) last_ns: i64,
    pub(crate) packets: u64,
    pub(crate) client_bytes: u64,
    pub(crate) server_bytes: u64,
    pub(crate) missing_client: u64,
    pub(crate) missing_server: u64,
    pub(crate) retransmitted: u64,
    pub(crate) reordered: u64,
    pub(crate) close_initiator: &'static str,
    pub(crate) close_kind: &'static str,
    pub(crate) syns: u32,
}

impl Conn {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rng: &mut Rng,
        client: Host,
        server: Host,
        proto: Proto,
        actions: Vec<Action>,
        msgs: Vec<Msg>,
        reqs: Vec<ReqTruth>,
        impair: Impair,
    ) -> Conn {
        let rtt_ns = rng.log_range(50_000, 80_000_000) as i64;
        let close = actions.iter().find_map(|a| match a {
            Action::Close { client } => Some(if *client { "client" } else { "server" }),
            Action::Reset => Some("client"),
            _ => None,
        });
        let kind = actions.iter().find_map(|a| match a {
            Action::Close { .. } => Some("fin"),
            Action::Reset => Some("rst"),
            _ => None,
        });
        Conn {
            client,
            server,
            proto,
            isn_c: rng.next_u64() as u32,
            isn_s: rng.next_u64() as u32,
            rtt_ns,
            actions: actions.into(),
            msgs,
            reqs,
            c_off: 0,
            s_off: 0,
            cursor: None,
            queue: VecDeque::new(),
            upcoming: None,
            impair,
            pending_think: 0,
            last_send_client: None,
            hole_at: None,
            truth: ConnTruth {
                close_initiator: close.unwrap_or(""),
                close_kind: kind.unwrap_or(""),
                ..ConnTruth::default()
            },
        }
    }

    fn seq(&self, client: bool, off: u64) -> u32 {
        let isn = if client { self.isn_c } else { self.isn_s };
        isn.wrapping_add(1).wrapping_add(off as u32)
    }

    fn ack_of(&self, client: bool) -> u32 {
        // The acknowledgment a side sends: the next byte it expects from the other.
        if client {
            self.seq(false, self.s_off)
        } else {
            self.seq(true, self.c_off)
        }
    }

    fn ctl(&self, client: bool, flags: u8, seq: u32, ack: u32, delay: i64) -> Pkt {
        Pkt {
            client,
            flags,
            seq,
            ack,
            head: Vec::new(),
            filler: 0,
            delay,
            lost: false,
            msg_first: None,
            msg_last: None,
        }
    }

    /// The size budget is spent: finish the exchange in flight, then close. Requests never
    /// started are dropped from the truth.
    pub(crate) fn wind_down(&mut self) {
        // A request already started (sending or sent) still gets its response.
        let in_flight_request = self.last_send_client == Some(true);
        let mut kept = VecDeque::new();
        let mut keep_response = in_flight_request;
        for a in self.actions.drain(..) {
            match a {
                Action::Send { client: false, .. } if keep_response => {
                    keep_response = false;
                    kept.push_back(a);
                }
                Action::Send { .. } => {}
                other => kept.push_back(other),
            }
        }
        self.actions = kept;
    }

    /// Payload bytes this connection is committed to send if it winds down now: the rest
    /// of the message being sent, plus the response to a request already started.
    pub(crate) fn owed(&self) -> u64 {
        let mut owed = 0;
        if let Some((_, msg, off)) = self.cursor {
            owed += self.msgs[msg].len.saturating_sub(off);
        }
        if self.last_send_client == Some(true)
            && let Some(Action::Send { msg, .. }) = self
                .actions
                .iter()
                .find(|a| matches!(a, Action::Send { client: false, .. }))
        {
            owed += self.msgs[*msg].len;
        }
        owed
    }

    /// Drop the truth of requests whose request was never sent.
    pub(crate) fn prune_unsent(&mut self) {
        self.reqs.retain(|r| r.request_ns != 0);
    }

    /// Payload bytes each side sent (captured or not): sequence-space progress.
    pub(crate) fn sent(&self) -> (u64, u64) {
        (self.c_off, self.s_off)
    }

    /// The next packet, or `None` when the connection is over.
    pub(crate) fn next(&mut self, rng: &mut Rng) -> Option<Pkt> {
        while self.queue.is_empty() {
            if !self.expand(rng) {
                return None;
            }
        }
        self.queue.pop_front()
    }

    /// Expand the next action (or the next segments of the message being sent) into the
    /// queue. Returns false when there is nothing left.
    fn expand(&mut self, rng: &mut Rng) -> bool {
        if let Some((client, msg, off)) = self.cursor {
            self.segments(rng, client, msg, off);
            return true;
        }
        let Some(action) = self.actions.pop_front() else {
            return false;
        };
        match action {
            Action::Handshake => {
                let syn = self.ctl(true, SYN, self.isn_c, 0, 0);
                let mut synack = self.ctl(
                    false,
                    SYN | ACK,
                    self.isn_s,
                    self.isn_c.wrapping_add(1),
                    self.rtt_ns,
                );
                synack.delay = self.rtt_ns;
                let ack = self.ctl(
                    true,
                    ACK,
                    self.isn_c.wrapping_add(1),
                    self.isn_s.wrapping_add(1),
                    rng.range(5_000, 40_000) as i64,
                );
                self.queue.extend([syn, synack, ack]);
            }
            Action::SynOnly(retries) => {
                self.queue.push_back(self.ctl(true, SYN, self.isn_c, 0, 0));
                for d in retries {
                    self.queue.push_back(self.ctl(true, SYN, self.isn_c, 0, d));
                }
            }
            Action::Send {
                client,
                msg,
                think_ns,
            } => {
                self.last_send_client = Some(client);
                self.cursor = Some((client, msg, 0));
                self.pending_think = think_ns;
                self.segments(rng, client, msg, 0);
            }
            Action::Close { client } => {
                let d = rng.range(10_000, 2_000_000) as i64;
                let (a_seq, b_seq) = (
                    self.seq(client, if client { self.c_off } else { self.s_off }),
                    self.seq(!client, if client { self.s_off } else { self.c_off }),
                );
                let fin1 = self.ctl(client, FIN | ACK, a_seq, self.ack_of(client), d);
                let fin2 = self.ctl(
                    !client,
                    FIN | ACK,
                    b_seq,
                    a_seq.wrapping_add(1),
                    self.rtt_ns / 2 + 1,
                );
                let last = self.ctl(
                    client,
                    ACK,
                    a_seq.wrapping_add(1),
                    b_seq.wrapping_add(1),
                    self.rtt_ns / 2 + 1,
                );
                self.queue.extend([fin1, fin2, last]);
            }
            Action::Reset => {
                let s = self.seq(true, self.c_off);
                let a = self.ack_of(true);
                self.queue.push_back(self.ctl(
                    true,
                    RST | ACK,
                    s,
                    a,
                    rng.range(10_000, 1_000_000) as i64,
                ));
            }
        }
        true
    }

    /// The next segments of message `msg` from `off`: up to two data segments, the
    /// receiver's ACK, with impairments.
    fn segments(&mut self, rng: &mut Rng, client: bool, msg: usize, off: u64) {
        let len = self.msgs[msg].len;
        let mut off = off;
        let mut segs = Vec::new();
        for _ in 0..2 {
            if off >= len {
                break;
            }
            let end = (off + MSS).min(len);
            let (head, filler) = self.msgs[msg].slice(off, end);
            let stream_off = if client { self.c_off } else { self.s_off };
            let delay = if off == 0 {
                std::mem::take(&mut self.pending_think).max(1_000)
            } else {
                rng.range(2_000, 30_000) as i64
            };
            let mut p = Pkt {
                client,
                flags: ACK | if end == len { PSH } else { 0 },
                seq: self.seq(client, stream_off),
                ack: self.ack_of(client),
                head,
                filler,
                delay,
                lost: false,
                msg_first: (off == 0).then_some(msg),
                msg_last: (end == len).then_some(msg),
            };
            let n = end - off;
            if client {
                self.c_off += n;
            } else {
                self.s_off += n;
            }
            // Capture loss: never on the first or last segment of a message, so request and
            // response timings stay observable.
            let forced = !client && self.hole_at == Some(stream_off);
            if forced || (off > 0 && end < len && rng.chance(self.impair.loss)) {
                p.lost = true;
                self.msgs[msg].lost += n;
                if client {
                    self.truth.missing_client += n;
                } else {
                    self.truth.missing_server += n;
                }
            }
            segs.push(p);
            off = end;
        }
        // Reordering: the second segment is captured before the first.
        if segs.len() == 2
            && !segs[0].lost
            && !segs[1].lost
            && segs[0].msg_first.is_none()
            && rng.chance(self.impair.reorder)
        {
            segs.swap(0, 1);
            // The message is complete when its last missing byte arrives, which is now
            // the segment captured second.
            let last = segs[0].msg_last.take();
            segs[1].msg_last = segs[1].msg_last.or(last);
            let d = segs[0].delay;
            segs[0].delay = segs[1].delay;
            segs[1].delay = d;
            self.truth.reordered += 1;
        }
        let mut out = Vec::new();
        for p in segs {
            let dup = !p.lost && rng.chance(self.impair.retransmit);
            let copy = dup.then(|| Pkt {
                client: p.client,
                flags: p.flags,
                seq: p.seq,
                ack: p.ack,
                head: p.head.clone(),
                filler: p.filler,
                delay: rng.range(100_000, 3_000_000) as i64,
                lost: false,
                msg_first: None,
                msg_last: None,
            });
            out.push(p);
            if let Some(c) = copy {
                self.truth.retransmitted += 1;
                out.push(c);
            }
        }
        // The receiver acknowledges everything it got (lost-in-capture segments included).
        let mut ack = self.ctl(
            !client,
            ACK,
            self.seq(!client, if client { self.s_off } else { self.c_off }),
            self.seq(client, if client { self.c_off } else { self.s_off }),
            rng.range(5_000, 50_000) as i64,
        );
        if self.hole_at.is_some() && !client {
            ack.lost = true; // one-sided capture: the client's ACKs are not in it
        }
        out.push(ack);
        self.queue.extend(out);
        self.cursor = (off < len).then_some((client, msg, off));
    }
}
