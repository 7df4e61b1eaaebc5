//! One direction's byte stream: in-order delivery, out-of-order buffering, gaps.
//!
//! Positions are 64-bit stream offsets (offset 0 is the first byte after the SYN). Data at
//! the next expected offset is handed to the sink straight from the packet; data beyond it is
//! copied into a bounded map of non-overlapping chunks and delivered, with its own capture
//! timestamps, when the hole before it fills or is declared a gap.

use std::collections::BTreeMap;

use wirehouse_flow::Dir;

use crate::{Config, EventKind, OverlapPolicy, StreamSink};

#[derive(Clone, Debug)]
struct Chunk {
    ts: i64,
    data: Vec<u8>,
    /// Bytes after `data` that the wire carried but the capture cut (snaplen).
    cut_tail: u64,
    /// The sender's acknowledgment of the peer's stream on the segment that carried the
    /// bytes, passed on with them ([`StreamSink::on_ack`]) when they are delivered.
    ack: Option<u64>,
}

impl Chunk {
    fn len(&self) -> u64 {
        self.data.len() as u64 + self.cut_tail
    }
}

/// What a segment's payload turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// All of it was seen before.
    Old,
    /// New data at the next expected offset.
    InOrder,
    /// New data beyond a hole (buffered).
    Ahead,
    /// New data that filled (part of) a hole below data already seen.
    FillsHole,
}

/// Hand bytes of `cx.dir` to the sink, after the acknowledgment their segment carried.
fn pass_on<S: StreamSink>(cx: &mut Ctx<'_, S>, ts: i64, data: &[u8], ack: Option<u64>) {
    if let Some(a) = ack {
        cx.sink.on_ack(cx.dir, a);
    }
    cx.sink.on_data(cx.dir, ts, data);
}

/// `Reasm::fin_at` before this direction's FIN is seen. Stream offsets never get there.
const NO_FIN: u64 = u64::MAX;

/// Since when a hole below `acked` has been open: (packet count, capture time). Two words
/// with `pkts == u64::MAX` for none, rather than an `Option`'s three, so that what a segment
/// reads fits one cache line (see [`Reasm`]).
#[derive(Clone, Copy, Debug)]
struct HoleSince {
    pkts: u64,
    ts: i64,
}

impl HoleSince {
    const NONE: HoleSince = HoleSince {
        pkts: u64::MAX,
        ts: 0,
    };

    fn get(self) -> Option<(u64, i64)> {
        (self.pkts != u64::MAX).then_some((self.pkts, self.ts))
    }
}

/// Laid out in declaration order (`repr(C)`): what every segment reads first, in
/// [`Reasm::HOT_BYTES`] (one cache line), then what only gaps, holes and the summary read.
///
/// That line holds the offsets, the FIN's offset and the hole's start as plain words
/// (sentinels instead of `Option`s) and the out-of-order map behind one pointer. With
/// `Option`s and the map inline the hot part took 104 bytes (the whole, 144), so each side's
/// hot part spanned three lines instead of two, and a connection took 896 bytes instead of 768
/// (with `Side`'s `SeenAt`). On a capture of a million half-open connections that is 109 MB
/// less peak memory (1,228 -> 1,119 MB at 1 thread); the two lines fewer per segment did not
/// change the 1 GB generated capture's time measurably (paired wall 0.967, user 0.984).
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct Reasm {
    /// Next offset to deliver.
    pub(crate) next: u64,
    /// End of the furthest data seen.
    pub(crate) high: u64,
    /// Offset up to which the peer acknowledged this direction's data.
    acked: u64,
    /// Offset of this direction's FIN ([`NO_FIN`] until seen; see [`Reasm::fin_at`]).
    fin_at: u64,
    hole_since: HoleSince,
    /// Chunks beyond a hole; boxed, since almost every direction never has one, and the
    /// pointer is a third of an inline map's size in the hot line.
    #[allow(clippy::box_collection)]
    ooo: Option<Box<BTreeMap<u64, Chunk>>>,
    buffered: usize,
    fin_ts: i64,
    pub(crate) fin_delivered: bool,
    /// Gaps declared (for Zeek's scaled `G` history), drained by the connection.
    pub(crate) new_gaps: u32,
    /// Bytes declared missing.
    pub(crate) missing: u64,
    pub(crate) overlap_conflicts: u64,
    pub(crate) cap_hits: u64,
}

/// Context a reassembler call needs from its connection.
pub(crate) struct Ctx<'a, S: StreamSink> {
    pub(crate) dir: Dir,
    pub(crate) cfg: &'a Config,
    pub(crate) sink: &'a mut S,
    /// Packets seen on the connection so far (for the gap grace period).
    pub(crate) pkts: u64,
}

impl Default for Reasm {
    fn default() -> Reasm {
        Reasm {
            next: 0,
            high: 0,
            acked: 0,
            fin_at: NO_FIN,
            hole_since: HoleSince::NONE,
            ooo: None,
            buffered: 0,
            fin_ts: 0,
            fin_delivered: false,
            new_gaps: 0,
            missing: 0,
            overlap_conflicts: 0,
            cap_hits: 0,
        }
    }
}

impl Reasm {
    /// The leading bytes that an in-order segment or a plain acknowledgment reads.
    pub(crate) const HOT_BYTES: usize = std::mem::offset_of!(Reasm, fin_ts);

    /// Offset of this direction's FIN, once seen.
    pub(crate) fn fin_at(&self) -> Option<u64> {
        (self.fin_at != NO_FIN).then_some(self.fin_at)
    }

    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// The peer acknowledged bytes of this direction the capture has not shown yet.
    pub(crate) fn acked_unseen(&self) -> bool {
        self.acked > self.next
    }

    /// Nothing buffered, no hole, no FIN: the next byte is all this direction waits for.
    pub(crate) fn is_plain(&self) -> bool {
        self.ooo.is_none()
            && self.high <= self.next
            && self.fin_at == NO_FIN
            && !self.acked_unseen()
    }

    /// Whether an acknowledgment up to `off` leaves no acknowledged hole (so [`Reasm::acked`]
    /// would only move `acked`).
    pub(crate) fn ack_is_plain(&self, off: u64) -> bool {
        // `NO_FIN` is above every offset.
        self.acked.max(off.min(self.fin_at)) <= self.next
    }

    /// [`Reasm::acked`] when [`Reasm::ack_is_plain`] holds.
    pub(crate) fn acked_plain(&mut self, off: u64) {
        self.acked = self.acked.max(off.min(self.fin_at));
        self.hole_since = HoleSince::NONE;
    }

    /// [`Reasm::data`] for a whole segment at exactly the next offset of a plain direction
    /// ([`Reasm::is_plain`]): handed on, nothing to buffer, drain or declare.
    pub(crate) fn in_order_plain<S: StreamSink>(
        &mut self,
        sink: &mut S,
        dir: Dir,
        ts: i64,
        data: &[u8],
    ) {
        sink.on_data(dir, ts, data);
        self.next += data.len() as u64;
        self.high = self.next;
        self.hole_since = HoleSince::NONE;
    }

    /// [`Reasm::hole_check`] on a plain direction.
    pub(crate) fn no_hole(&mut self) {
        self.hole_since = HoleSince::NONE;
    }

    /// Payload of a segment at stream offset `off`: `data` captured, `wire_len` on the wire,
    /// `ack` the sender's acknowledgment on it (handed on before the bytes, whenever they are
    /// delivered).
    pub(crate) fn data<S: StreamSink>(
        &mut self,
        cx: &mut Ctx<'_, S>,
        ts: i64,
        off: u64,
        data: &[u8],
        wire_len: u64,
        ack: Option<u64>,
    ) -> Arrival {
        let end = off + wire_len;
        let high_before = self.high;
        self.high = self.high.max(end);
        if end <= self.next {
            return Arrival::Old;
        }
        let start = off.max(self.next);
        let cap_end = off + data.len() as u64;
        if start == self.next {
            if start < cap_end {
                pass_on(cx, ts, &data[(start - off) as usize..], ack);
                self.next = cap_end;
            }
            if end > self.next {
                let lost = end - self.next;
                cx.sink.on_event(
                    ts,
                    EventKind::TruncatedPayload,
                    format!(
                        "{lost} bytes at stream offset {} cut by the snaplen",
                        self.next
                    ),
                );
                self.gap(cx, ts, lost);
            }
            self.drain(cx, Some(ts));
            self.hole_check(cx, ts);
            return if off < high_before && start < high_before {
                Arrival::FillsHole
            } else {
                Arrival::InOrder
            };
        }
        // Ahead of a hole: keep a copy.
        let fills = start < high_before;
        let captured = if start < cap_end {
            &data[(start - off) as usize..]
        } else {
            &[][..]
        };
        let cut_tail = end - start - captured.len() as u64;
        let new_bytes = self.store(cx, ts, start, captured, cut_tail, ack);
        self.hole_check(cx, ts);
        if !new_bytes {
            Arrival::Old
        } else if fills {
            Arrival::FillsHole
        } else {
            Arrival::Ahead
        }
    }

    /// Buffer `[start, start + data.len() + cut_tail)`, keeping the first copy of any byte
    /// (or the last, by policy). Returns whether any byte was new.
    fn store<S: StreamSink>(
        &mut self,
        cx: &mut Ctx<'_, S>,
        ts: i64,
        start: u64,
        data: &[u8],
        cut_tail: u64,
        ack: Option<u64>,
    ) -> bool {
        let end = start + data.len() as u64 + cut_tail;
        // Make room first; the cap may force holes closed (gaps), after which this data may
        // even be in order.
        while self.ooo.as_ref().is_some_and(|m| !m.is_empty())
            && (self.buffered + data.len() > cx.cfg.max_ooo_bytes
                || self.ooo.as_ref().map_or(0, |m| m.len()) >= cx.cfg.max_ooo_chunks)
        {
            let first = self
                .ooo
                .as_ref()
                .and_then(|m| m.keys().next().copied())
                .unwrap_or(self.next);
            self.cap_hits += 1;
            cx.sink.on_event(
                ts,
                EventKind::ReassemblyBufferCap,
                format!(
                    "out-of-order buffer full ({} bytes); skipping the hole at stream offset {}",
                    self.buffered, self.next
                ),
            );
            let lost = first.saturating_sub(self.next);
            self.gap(cx, ts, lost);
            self.drain(cx, None);
        }
        if start <= self.next {
            // The cap made this in order.
            let skip = (self.next - start) as usize;
            if skip < data.len() {
                pass_on(cx, ts, &data[skip..], ack);
                self.next = start + data.len() as u64;
            }
            if end > self.next {
                let lost = end - self.next;
                self.gap(cx, ts, lost);
            }
            self.drain(cx, None);
            return true;
        }
        if data.len() > cx.cfg.max_ooo_bytes {
            // Larger than the whole buffer: give up on the hole before it.
            self.cap_hits += 1;
            let lost = start - self.next;
            self.gap(cx, ts, lost);
            cx.sink.on_data(cx.dir, ts, data);
            self.next = start + data.len() as u64;
            if cut_tail > 0 {
                self.gap(cx, ts, cut_tail);
            }
            self.drain(cx, None);
            return true;
        }
        let map = self.ooo.get_or_insert_with(Default::default);
        // Walk the chunks that overlap [start, end) and collect the uncovered pieces.
        let mut pieces: Vec<(u64, u64)> = Vec::new(); // [a, b) not covered by any chunk
        let mut pos = start;
        let first_key = map
            .range(..start)
            .next_back()
            .map(|(&k, _)| k)
            .unwrap_or(start);
        let keys: Vec<u64> = map.range(first_key..end).map(|(&k, _)| k).collect();
        let mut conflict = false;
        for k in keys {
            let Some(c) = map.get_mut(&k) else { continue };
            let (cs, ce) = (k, k + c.len());
            if ce <= pos {
                continue;
            }
            if cs > pos {
                pieces.push((pos, cs.min(end)));
            }
            // Overlap [max(cs,start), min(ce,end)) within both captured regions.
            let os = cs.max(start);
            let oe = ce
                .min(end)
                .min(k + c.data.len() as u64)
                .min(start + data.len() as u64);
            if os < oe {
                let old = &mut c.data[(os - k) as usize..(oe - k) as usize];
                let new = &data[(os - start) as usize..(oe - start) as usize];
                if old != new {
                    conflict = true;
                    if cx.cfg.overlap == OverlapPolicy::LastWins {
                        old.copy_from_slice(new);
                    }
                }
            }
            pos = pos.max(ce);
            if pos >= end {
                break;
            }
        }
        if pos < end {
            pieces.push((pos, end));
        }
        if conflict {
            self.overlap_conflicts += 1;
            cx.sink.on_event(
                ts,
                EventKind::RexmitInconsistency,
                format!(
                    "retransmitted bytes near stream offset {start} differ from the first copy"
                ),
            );
        }
        let data_end = start + data.len() as u64;
        let mut any = false;
        for (a, b) in pieces {
            let ca = a.min(data_end);
            let cb = b.min(data_end);
            let bytes = data[(ca - start) as usize..(cb - start) as usize].to_vec();
            let cut = (b - a) - (cb - ca);
            self.buffered += bytes.len();
            map.insert(
                a,
                Chunk {
                    ts,
                    data: bytes,
                    cut_tail: cut,
                    ack,
                },
            );
            any = true;
        }
        any
    }

    /// Deliver buffered chunks that the stream has reached. When a packet filled the hole
    /// (`filled_at` is its time) the chunks are complete only from that moment, so they
    /// carry that time if it is later than their own: a response whose last segment came
    /// before a missing middle one ends when the middle one arrives, as in Wireshark. When
    /// a gap was declared instead, nothing arrived: the chunks keep their own times.
    fn drain<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>, filled_at: Option<i64>) {
        self.drain_captured_by(cx, filled_at, i64::MAX);
    }

    /// `drain`, stopping at the first chunk captured after `by`.
    fn drain_captured_by<S: StreamSink>(
        &mut self,
        cx: &mut Ctx<'_, S>,
        filled_at: Option<i64>,
        by: i64,
    ) {
        while let Some(map) = self.ooo.as_mut() {
            let Some(entry) = map.first_entry() else {
                break;
            };
            if *entry.key() > self.next || entry.get().ts > by {
                break;
            }
            let k = *entry.key();
            let c = entry.remove();
            self.buffered -= c.data.len();
            let end = k + c.len();
            if end <= self.next {
                continue;
            }
            let skip = self.next - k;
            if (skip as usize) < c.data.len() {
                let ts = filled_at.map_or(c.ts, |f| f.max(c.ts));
                pass_on(cx, ts, &c.data[skip as usize..], c.ack);
                self.next = k + c.data.len() as u64;
            }
            if end > self.next {
                let lost = end - self.next;
                let ts = filled_at.map_or(c.ts, |f| f.max(c.ts));
                self.gap(cx, ts, lost);
            }
        }
        if self.ooo.as_ref().is_some_and(|m| m.is_empty()) {
            self.ooo = None;
        }
        self.check_fin(cx);
    }

    fn check_fin<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>) {
        if let Some(f) = self.fin_at()
            && !self.fin_delivered
            && self.next >= f
        {
            self.fin_delivered = true;
            cx.sink.on_fin(cx.dir, self.fin_ts);
        }
    }

    /// Skip `len` bytes the capture did not see.
    fn gap<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>, ts: i64, len: u64) {
        if len == 0 {
            return;
        }
        cx.sink.on_gap(cx.dir, ts, len);
        self.missing += len;
        self.next += len;
        self.new_gaps += 1;
        self.hole_since = HoleSince::NONE;
    }

    /// This direction's FIN at `off` (the offset just past its last byte).
    pub(crate) fn fin<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>, ts: i64, off: u64) {
        if self.fin_at == NO_FIN {
            self.fin_at = off;
            self.fin_ts = ts;
        }
        self.high = self.high.max(off);
        self.check_fin(cx);
    }

    /// The peer acknowledged this direction up to `off`.
    pub(crate) fn acked<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>, ts: i64, off: u64) {
        let off = off.min(self.fin_at);
        if off > self.acked {
            self.acked = off;
        }
        self.hole_check(cx, ts);
    }

    /// Called on every packet of the connection: a hole the peer has acknowledged past
    /// becomes a gap once the grace period is over.
    pub(crate) fn hole_check<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>, ts: i64) {
        if self.acked <= self.next {
            self.hole_since = HoleSince::NONE;
            return;
        }
        match self.hole_since.get() {
            None => self.hole_since = HoleSince { pkts: cx.pkts, ts },
            Some((p, t)) => {
                if cx.pkts.saturating_sub(p) >= u64::from(cx.cfg.gap_grace_packets)
                    || ts.saturating_sub(t) >= cx.cfg.gap_grace_ns
                {
                    self.declare_acked_hole(cx, ts);
                    self.drain_ready(cx, ts);
                }
            }
        }
    }

    /// Offset of the first buffered chunk (`u64::MAX` when nothing is buffered).
    fn first_buffered(&self) -> u64 {
        self.ooo
            .as_ref()
            .and_then(|m| m.keys().next().copied())
            .unwrap_or(u64::MAX)
    }

    /// Whether the next byte to deliver is missing and acknowledged: a hole that
    /// [`Reasm::declare_acked_hole`] turns into a gap.
    fn at_acked_hole(&self) -> bool {
        self.acked > self.next && self.first_buffered() > self.next
    }

    /// Give up waiting for the first acknowledged hole: it becomes a gap now. Buffered bytes
    /// after it are not delivered yet (`drain_ready`), so the caller can first pass on what
    /// the other direction sent in between.
    fn declare_acked_hole<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>, ts: i64) {
        if self.acked <= self.next {
            return;
        }
        let since = self.hole_since.get().map_or(ts, |(_, t)| t);
        let upto = self.first_buffered().min(self.acked);
        let lost = upto - self.next;
        cx.sink.on_event(
            ts,
            EventKind::ContentGap,
            format!(
                "{lost} bytes at stream offset {} acknowledged by the peer but not in the capture",
                self.next
            ),
        );
        // The missing bytes had reached the peer when it first acknowledged past them: a
        // message they end, ends then (not when the wait for them ran out).
        self.gap(cx, since, lost);
    }

    /// Give up waiting for every acknowledged hole, not only the first: the other
    /// direction's held bytes wait for all of them (a capture dropping packets often loses
    /// two segments of one response). After each gap, the buffered bytes captured by `by`
    /// (sent before the other direction's held bytes arrived) are delivered; the rest wait
    /// (`drain_ready`), so the caller can first pass on the held bytes.
    pub(crate) fn declare_acked_holes<S: StreamSink>(
        &mut self,
        cx: &mut Ctx<'_, S>,
        ts: i64,
        by: Option<i64>,
    ) {
        while self.at_acked_hole() {
            self.declare_acked_hole(cx, ts);
            if let Some(by) = by {
                self.drain_captured_by(cx, None, by);
            }
        }
    }

    /// Deliver what became in order after a declared hole, and start waiting on the next
    /// acknowledged hole if there is one.
    pub(crate) fn drain_ready<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>, ts: i64) {
        self.drain(cx, None);
        if self.acked > self.next {
            self.hole_since = HoleSince { pkts: cx.pkts, ts };
        }
    }

    /// Memory, not this direction, ran short (the shard's out-of-order budget): give up every
    /// hole that has bytes buffered behind it, as the per-direction cap would one at a time,
    /// and deliver those bytes. Holes nothing was captured behind stay open: they cost
    /// nothing. Returns whether anything was given up.
    pub(crate) fn give_up_buffered_holes<S: StreamSink>(
        &mut self,
        cx: &mut Ctx<'_, S>,
        ts: i64,
        budget: usize,
    ) -> bool {
        if self.ooo.is_none() {
            return false;
        }
        self.cap_hits += 1;
        cx.sink.on_event(
            ts,
            EventKind::ReassemblyBufferCap,
            format!(
                "out-of-order buffers of this connection's shard over their budget ({budget} \
                 bytes, a share of --max-ooo-total-mib): {} bytes buffered here delivered, \
                 skipping the hole at stream offset {}",
                self.buffered, self.next
            ),
        );
        while let Some(first) = self.ooo.as_ref().and_then(|m| m.keys().next().copied()) {
            let lost = first.saturating_sub(self.next);
            self.gap(cx, ts, lost);
            self.drain(cx, None);
        }
        true
    }

    /// The connection is over: deliver everything buffered, declaring the holes between as
    /// gaps, then any acknowledged or FIN-announced bytes never seen.
    pub(crate) fn finish<S: StreamSink>(&mut self, cx: &mut Ctx<'_, S>, ts: i64) {
        while let Some(first) = self.ooo.as_ref().and_then(|m| m.keys().next().copied()) {
            let lost = first.saturating_sub(self.next);
            if lost > 0 {
                cx.sink.on_event(
                    ts,
                    EventKind::ContentGap,
                    format!("{lost} bytes at stream offset {} never seen", self.next),
                );
            }
            self.gap(cx, ts, lost);
            self.drain(cx, None);
        }
        let end = self.acked.max(self.fin_at().unwrap_or(0));
        if end > self.next {
            let lost = end - self.next;
            cx.sink.on_event(
                ts,
                EventKind::ContentGap,
                format!(
                    "{lost} bytes at stream offset {} acknowledged or announced but never seen",
                    self.next
                ),
            );
            self.gap(cx, ts, lost);
        }
        self.check_fin(cx);
    }

    /// Reset for a new initial sequence number (a SYN retried with a different ISN).
    pub(crate) fn restart(&mut self) {
        *self = Reasm::default();
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use std::mem::offset_of;

    /// What an in-order segment and a plain acknowledgment read of a direction (`is_plain`,
    /// `ack_is_plain`, `acked_plain`, `in_order_plain`, `no_hole`) lies in one cache line.
    #[test]
    fn what_a_plain_segment_reads_fits_one_line() {
        const { assert!(Reasm::HOT_BYTES <= 64) };
        let read = [
            offset_of!(Reasm, next) + size_of::<u64>(),
            offset_of!(Reasm, high) + size_of::<u64>(),
            offset_of!(Reasm, acked) + size_of::<u64>(),
            offset_of!(Reasm, fin_at) + size_of::<u64>(),
            offset_of!(Reasm, hole_since) + size_of::<HoleSince>(),
            offset_of!(Reasm, ooo) + size_of::<Option<Box<BTreeMap<u64, Chunk>>>>(),
            offset_of!(Reasm, buffered) + size_of::<usize>(),
        ];
        assert!(read.iter().all(|&end| end <= Reasm::HOT_BYTES), "{read:?}");
        assert_eq!(Reasm::default().fin_at(), None);
        assert_eq!(Reasm::default().hole_since.get(), None);
    }
}
