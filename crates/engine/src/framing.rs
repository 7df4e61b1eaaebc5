//! Framing and decoding one window on several cores.
//!
//! A window is cut into byte ranges framed in parallel. Range 0 starts at the window start,
//! a known record boundary; every other range finds its first record with
//! [`Framer::find_boundary`]. After the parallel pass the ranges are checked in order: a
//! range whose start is not exactly where the previous one stopped (a false boundary, or a
//! pcapng section/interface change inside an earlier range) is framed again from the right
//! place with the right state. The result is therefore identical to framing the window
//! serially; only the speed depends on the boundary search.
//!
//! Each range decodes its packets and routes TCP segments to per-shard queues as compact,
//! borrow-free [`SegRef`]s (payloads are offsets into the window), so the window's framed
//! output can be carried to the next pipeline step while the next window is being framed.

use rayon::prelude::*;
use wirehouse_capture::{Framer, Packet, Stop, TS_UNKNOWN};
use wirehouse_decode::{Decoded, Fate, Fragment, decode};
use wirehouse_flow::{Addr, FlowKey, Segment, TcpFlags, TcpOptions, Vlans, shard_index};

use crate::stats::Counts;

/// Where a segment's payload lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PayloadRef {
    /// `window[off..off + len]`.
    Window { off: u32, len: u32 },
    /// `datagrams[idx][off..off + len]`: a payload rebuilt from IP fragments.
    Datagram { idx: u32, off: u32, len: u32 },
}

/// A decoded TCP segment waiting in a shard queue.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegRef {
    pub(crate) ts_ns: i64,
    /// The flow's canonical key and hash: what routes the segment and what the shard looks
    /// its connection up by, carried rather than both endpoints so that the key is put in
    /// order and hashed once, here.
    pub(crate) key: Keyed,
    /// Whether the sender is `key.lo` ([`FlowKey::oriented`]).
    pub(crate) src_is_lo: bool,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) flags: TcpFlags,
    pub(crate) window: u16,
    pub(crate) options: TcpOptions,
    pub(crate) payload: PayloadRef,
    pub(crate) wire_len: u32,
    /// Offset of the packet's record in the capture stream.
    pub(crate) file_offset: u64,
}

impl SegRef {
    /// The queue entry for a decoded segment whose payload lies at `payload`: its flow key put
    /// in order and hashed here, once.
    #[inline(always)]
    pub(crate) fn new(
        s: &Segment<'_>,
        vlans: Vlans,
        payload: PayloadRef,
        file_offset: u64,
    ) -> SegRef {
        let (key, src_is_lo) = FlowKey::oriented(s.src, s.dst, vlans);
        SegRef {
            ts_ns: s.ts_ns,
            key: Keyed::new(key),
            src_is_lo,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            options: s.options,
            payload,
            wire_len: s.wire_len,
            file_offset,
        }
    }
}

/// A connection table key: the flow key with its [`FlowKey::shard_hash`], computed once when
/// the segment is routed, so that the shard's table does not hash the key a second time
/// (ordered and compared by the key alone; the hash is a function of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Keyed {
    pub(crate) key: FlowKey,
    pub(crate) hash: u64,
}

impl Keyed {
    pub(crate) fn new(key: FlowKey) -> Keyed {
        Keyed {
            key,
            hash: key.shard_hash(),
        }
    }
}

/// An IP fragment waiting for the (serial) reassembly step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FragRef {
    pub(crate) ts_ns: i64,
    pub(crate) vlans: Vlans,
    pub(crate) src: Addr,
    pub(crate) dst: Addr,
    pub(crate) id: u32,
    pub(crate) proto: u8,
    pub(crate) offset: u32,
    pub(crate) more: bool,
    pub(crate) data_off: u32,
    pub(crate) data_len: u32,
    pub(crate) cut: bool,
    pub(crate) file_offset: u64,
}

/// Which packets to keep (the `--filter` expression), applied per packet like tcpdump.
pub(crate) type PacketFilter<'f> = Option<&'f crate::filter::FilterExpr>;

/// One range's output.
pub(crate) struct RangeOut {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) stop: Stop,
    pub(crate) framer_after: Framer,
    pub(crate) state_changed: bool,
    /// Per-shard queues of segments, in capture order.
    pub(crate) shards: Vec<SegQueue>,
    pub(crate) frags: Vec<FragRef>,
    pub(crate) counts: Counts,
}

/// A framed window: its ranges in order, and where framing ended.
pub(crate) struct FramedWindow {
    pub(crate) ranges: Vec<RangeOut>,
    /// Index in the window just past the last whole record.
    pub(crate) end: usize,
    pub(crate) stop: Stop,
    pub(crate) framer_after: Framer,
    /// Payloads rebuilt from fragments in this window.
    pub(crate) datagrams: Vec<Vec<u8>>,
}

pub(crate) struct FrameCtx<'f> {
    pub(crate) shards: usize,
    pub(crate) filter: PacketFilter<'f>,
    /// Shard queues of processed windows, emptied, to be filled again.
    pub(crate) pool: &'f QueuePool,
    /// Where each range adds the time it took (`StageTimes::tasks_ns`).
    pub(crate) busy_ns: &'f std::sync::atomic::AtomicU64,
}

/// Segments per queue chunk: 7 KiB. A queue wastes at most one partly filled chunk, and at two
/// threads (eight framing ranges of 3 MiB per window) a range's queue holds about 56 segments,
/// so most queues are one chunk.
const CHUNK: usize = 64;

/// A shard's segments from one framing range, in capture order.
///
/// Stored in chunks from the run's [`QueuePool`] rather than as one growable vector per
/// queue. Pooled vectors kept the largest size each queue had ever reached, and shards peak
/// in different windows: on the 10 GB generated capture a window's queues held 12-13 MB of
/// capacity for 2-3 MB of segments, with two windows alive (one framed while the previous is
/// analysed). Chunks are shared by all queues, so the pool holds what two windows use: 12 MB
/// at 1 thread and 15 MB at 2 on that capture (the densest windows, of small packets, set it),
/// against about 25 MB of vectors. Peak RSS at 1 thread 202 -> 192 MB; at 2 threads 234-245
/// -> 239 MB in three runs each. Switching chunks every 64 pushes costs about 3 % of the
/// framing stage (99 -> 103 ms on the 1 GB capture, 9 interleaved rounds), within the noise
/// of the whole run (0.404 -> 0.411 s, 11 rounds).
#[derive(Default)]
pub(crate) struct SegQueue {
    /// Filled chunks, in order.
    full: Vec<Vec<SegRef>>,
    /// The chunk being filled (after `full`); a field of its own, so a push reads one
    /// vector's header, as with a plain vector.
    tail: Vec<SegRef>,
}

impl SegQueue {
    /// The segments, in capture order, a chunk at a time.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[SegRef]> {
        self.full
            .iter()
            .map(Vec::as_slice)
            .chain(std::iter::once(self.tail.as_slice()))
    }

    /// The segments, in capture order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SegRef> {
        self.chunks().flatten()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.full.iter().map(Vec::len).sum::<usize>() + self.tail.len()
    }

    #[inline(always)]
    fn push(&mut self, seg: SegRef, spare: &mut Spare<'_>) {
        if self.tail.len() == self.tail.capacity() {
            self.next_chunk(spare);
        }
        self.tail.push(seg);
        prefetch_ahead(&mut self.tail);
    }

    #[cold]
    fn next_chunk(&mut self, spare: &mut Spare<'_>) {
        let chunk = spare.chunk();
        let full = std::mem::replace(&mut self.tail, chunk);
        if !full.is_empty() {
            self.full.push(full);
        }
    }

    /// Insert `seg` after every segment of an earlier or the same record (a datagram rebuilt
    /// from fragments is queued where its last fragment was read).
    pub(crate) fn insert_in_order(&mut self, seg: SegRef) {
        let at = seg.file_offset;
        // Filled chunks are never empty, and each one's segments follow the previous one's.
        let i = self
            .full
            .partition_point(|c| c.last().is_some_and(|x| x.file_offset <= at));
        let chunk = self.full.get_mut(i).unwrap_or(&mut self.tail);
        let j = chunk.partition_point(|x| x.file_offset <= at);
        chunk.insert(j, seg);
    }

    /// Empty the queue, its chunks to `into`.
    fn drain_into(&mut self, into: &mut Vec<Vec<SegRef>>) {
        for mut chunk in self
            .full
            .drain(..)
            .chain(Some(std::mem::take(&mut self.tail)))
        {
            if chunk.capacity() > 0 {
                chunk.clear();
                into.push(chunk);
            }
        }
    }
}

/// Emptied queue chunks and queue sets, kept for the next windows.
///
/// A window routes tens of thousands of segments; allocating fresh memory for them each window
/// cost, with the allocator returning freed pages to the kernel, the zeroing of new pages
/// (about a tenth of the single-thread run time on the generated capture).
#[derive(Default)]
pub(crate) struct QueuePool {
    chunks: std::sync::Mutex<Vec<Vec<SegRef>>>,
    sets: std::sync::Mutex<Vec<Vec<SegQueue>>>,
}

impl QueuePool {
    /// A set of `shards` empty queues.
    fn take(&self, shards: usize) -> Vec<SegQueue> {
        let got = self.sets.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match got {
            Some(set) if set.len() == shards => set,
            _ => (0..shards).map(|_| SegQueue::default()).collect(),
        }
    }

    /// Give back the queues of a processed window.
    pub(crate) fn put(&self, window: &mut FramedWindow) {
        let mut emptied = Vec::new();
        let mut sets = Vec::new();
        for r in window.ranges.iter_mut() {
            let mut set = std::mem::take(&mut r.shards);
            for q in set.iter_mut() {
                q.drain_into(&mut emptied);
            }
            sets.push(set);
        }
        self.chunks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&mut emptied);
        self.sets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&mut sets);
    }
}

/// A framing range's supply of empty chunks, taken from the pool a few at a time.
struct Spare<'p> {
    pool: &'p QueuePool,
    local: Vec<Vec<SegRef>>,
}

impl<'p> Spare<'p> {
    /// Chunks taken from the pool at once.
    const BATCH: usize = 32;

    fn new(pool: &'p QueuePool) -> Spare<'p> {
        Spare {
            pool,
            local: Vec::new(),
        }
    }

    fn chunk(&mut self) -> Vec<SegRef> {
        if self.local.is_empty() {
            let mut free = self.pool.chunks.lock().unwrap_or_else(|p| p.into_inner());
            let from = free.len().saturating_sub(Self::BATCH);
            self.local.extend(free.drain(from..));
        }
        let chunk = self
            .local
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK));
        // The chunk handed out next is as cold as this one was: ask for its first slots now.
        if let Some(next) = self.local.last_mut() {
            prefetch_first(next);
        }
        chunk
    }
}

impl Drop for Spare<'_> {
    fn drop(&mut self) {
        if !self.local.is_empty() {
            self.pool
                .chunks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .append(&mut self.local);
        }
    }
}

fn frame_range(
    buf: &[u8],
    base: u64,
    framer: &Framer,
    start: usize,
    limit: usize,
    ctx: &FrameCtx<'_>,
) -> RangeOut {
    let mut framer = framer.clone();
    let mut shards = ctx.pool.take(ctx.shards);
    let mut spare = Spare::new(ctx.pool);
    let mut frags = Vec::new();
    let mut counts = Counts::default();
    let buf_ptr = buf.as_ptr() as usize;
    let progress = framer.frame(buf, base, start, limit, |p: Packet<'_>| {
        counts.packet(&p);
        let d = decode(p.linktype, p.data, p.origlen, p.ts_ns);
        let fate = d.fate();
        counts.fate(fate);
        // Matched by reference: moving the segment out copies it in 16-byte pieces that
        // span the fields `decode` has just stored one by one, and such a load cannot be
        // forwarded from the stores; it waits until they reach the cache.
        match &d {
            Decoded::Tcp(t) => {
                let s = &t.seg;
                if (s.payload.len() as u64) < u64::from(s.wire_len) {
                    counts.tcp_payload_truncated += 1;
                }
                if let Some(f) = ctx.filter
                    && !f.matches(&s.src, &s.dst)
                {
                    counts.filtered += 1;
                    return;
                }
                let off = (s.payload.as_ptr() as usize).wrapping_sub(buf_ptr);
                let payload = PayloadRef::Window {
                    off: off as u32,
                    len: s.payload.len() as u32,
                };
                let r = SegRef::new(s, t.vlans, payload, p.file_offset);
                shards[shard_index(r.key.hash, ctx.shards)].push(r, &mut spare);
            }
            Decoded::Fragment(f) => {
                counts.ip_fragments += 1;
                // Every fragment goes to reassembly: TCP may ride in it directly or inside a
                // tunnel (GTP, VXLAN...) whose outer UDP was fragmented.
                frags.push(frag_ref(f, buf_ptr, p.ts_ns, p.file_offset));
            }
            Decoded::Other(_) => {}
        }
        let _ = fate == Fate::Tcp;
    });
    RangeOut {
        start,
        end: progress.end,
        stop: progress.stop,
        state_changed: progress.state_changed,
        framer_after: framer,
        shards,
        frags,
        counts: {
            let mut c = counts;
            c.other_blocks += progress.blocks.other;
            c
        },
    }
}

/// How many slots past a queue's end [`prefetch_ahead`] asks for: the slot after the next.
/// The next one was asked for at the previous push, so every slot is asked for once, at least
/// one push before it is written. 1 GB generated capture, 9 interleaved rounds at 1 thread:
/// the framing stage took 90 ms asking for the next slot, 88 ms for the one after it.
const PREFETCH_SLOTS: usize = 1;

/// Asks for the cache lines of the slot a shard queue will fill a push or two from now.
///
/// Each window routes its segments to 64 queues, one write stream per shard. A queue's
/// memory was last written two windows earlier (chunks are pooled), and the 48 MiB of capture
/// read since have evicted it, so every slot's first store was a read-for-ownership miss to
/// memory: a segment spans two cache lines, and with stores queued behind those misses the
/// routing stores cost about as much as the whole decode. The hardware prefetcher does not
/// follow 64 interleaved streams. A shard's next segment comes on average 64 packets later,
/// so asking for its slot now hides the miss. 1 GB generated capture, 9 interleaved rounds at
/// 1 thread: the framing stage (frame, decode, route) 110 -> 88 ms (without the queue stores
/// at all it takes 65 ms); 11 rounds of the whole run: 0.448 -> 0.411 s at 1 thread, 0.266 ->
/// 0.254 s at 2. A 112-byte slot that starts more than 16 bytes into a line spans three lines,
/// and asking for the middle one too (`wirehouse_capture::prefetch` asks for every line of a value) took
/// the stage from 91 to 76 ms with the chunked queues (9 rounds).
#[inline(always)]
fn prefetch_ahead(queue: &mut Vec<SegRef>) {
    // Past the capacity the next push takes a new chunk (`Spare::chunk` asks for its first
    // slots).
    if let Some(slot) = slot_ahead(queue) {
        wirehouse_capture::prefetch(slot);
    }
}

/// An empty chunk's first slots, which [`prefetch_ahead`] does not ask for.
fn prefetch_first(chunk: &mut Vec<SegRef>) {
    for slot in chunk.spare_capacity_mut().iter().take(PREFETCH_SLOTS + 1) {
        wirehouse_capture::prefetch(slot);
    }
}

/// The slot [`PREFETCH_SLOTS`] past the queue's end, if the queue's allocation holds it.
fn slot_ahead(queue: &mut Vec<SegRef>) -> Option<&std::mem::MaybeUninit<SegRef>> {
    queue.spare_capacity_mut().get(PREFETCH_SLOTS)
}

fn frag_ref(f: &Fragment<'_>, buf_ptr: usize, ts_ns: i64, file_offset: u64) -> FragRef {
    FragRef {
        ts_ns,
        vlans: f.vlans,
        src: f.src,
        dst: f.dst,
        id: f.id,
        proto: f.proto,
        offset: f.offset,
        more: f.more,
        data_off: (f.data.as_ptr() as usize).wrapping_sub(buf_ptr) as u32,
        data_len: f.data.len() as u32,
        cut: f.cut,
        file_offset,
    }
}

impl FragRef {
    pub(crate) fn fragment<'a>(&self, buf: &'a [u8]) -> Fragment<'a> {
        let a = self.data_off as usize;
        Fragment {
            vlans: self.vlans,
            src: self.src,
            dst: self.dst,
            id: self.id,
            proto: self.proto,
            offset: self.offset,
            more: self.more,
            data: buf.get(a..a + self.data_len as usize).unwrap_or(&[]),
            cut: self.cut,
        }
    }
}

/// Frame `buf` (a window starting at stream offset `base`) in `ranges` parallel ranges.
pub(crate) fn frame_window(
    buf: &[u8],
    base: u64,
    framer: &Framer,
    ranges: usize,
    ctx: &FrameCtx<'_>,
) -> FramedWindow {
    let len = buf.len();
    // Ranges smaller than this are not worth a boundary search.
    const MIN_RANGE: usize = 1 << 20;
    let ranges = ranges.clamp(1, (len / MIN_RANGE).max(1));
    let cut = |k: usize| len * k / ranges;
    let mut outs: Vec<Option<RangeOut>> = (0..ranges)
        .into_par_iter()
        .map(|k| {
            let t = std::time::Instant::now();
            let limit = cut(k + 1);
            let start = if k == 0 {
                Some(0)
            } else {
                framer.find_boundary(buf, cut(k), limit)
            };
            let out = start.map(|s| frame_range(buf, base, framer, s, limit, ctx));
            crate::add_elapsed(ctx.busy_ns, t);
            out
        })
        .collect();
    // Stitch: each range must start where the previous one ended, with its state.
    let mut done: Vec<RangeOut> = Vec::with_capacity(ranges);
    for (k, slot) in outs.iter_mut().enumerate() {
        let limit = cut(k + 1);
        let candidate = slot.take();
        let Some(prev) = done.last() else {
            if let Some(c) = candidate {
                done.push(c);
            }
            continue;
        };
        if !matches!(prev.stop, Stop::Limit) {
            break; // the previous range hit an error or the end of the data
        }
        let expected = prev.end;
        let ok = candidate
            .as_ref()
            .is_some_and(|c| c.start == expected && !prev.state_changed);
        if ok {
            if let Some(c) = candidate {
                done.push(c);
            }
        } else if expected >= limit {
            // The previous range's last record covered this whole range.
            continue;
        } else {
            let framer_now = prev.framer_after.clone();
            let t = std::time::Instant::now();
            done.push(frame_range(buf, base, &framer_now, expected, limit, ctx));
            crate::add_elapsed(ctx.busy_ns, t);
        }
    }
    let last = done.last();
    let end = last.map_or(0, |r| r.end);
    let stop = last.map_or(Stop::EndOfBuffer, |r| r.stop.clone());
    let framer_after = last.map_or_else(|| framer.clone(), |r| r.framer_after.clone());
    FramedWindow {
        ranges: done,
        end,
        stop,
        framer_after,
        datagrams: Vec::new(),
    }
}

/// Resolve a payload reference.
pub(crate) fn payload<'a>(p: &PayloadRef, window: &'a [u8], datagrams: &'a [Vec<u8>]) -> &'a [u8] {
    match *p {
        PayloadRef::Window { off, len } => window
            .get(off as usize..(off + len) as usize)
            .unwrap_or(&[]),
        PayloadRef::Datagram { idx, off, len } => datagrams
            .get(idx as usize)
            .and_then(|d| d.get(off as usize..(off + len) as usize))
            .unwrap_or(&[]),
    }
}

/// A timestamp to use for a packet without one (pcapng simple packet blocks).
pub(crate) fn known_ts(ts: i64, clock: i64) -> i64 {
    if ts == TS_UNKNOWN { clock } else { ts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirehouse_flow::Endpoint;

    fn segment(seq: u32) -> SegRef {
        SegRef {
            ts_ns: 0,
            key: Keyed::new(FlowKey::new(
                Endpoint::default(),
                Endpoint::default(),
                Vlans::default(),
            )),
            src_is_lo: true,
            seq,
            ack: 0,
            flags: TcpFlags::default(),
            window: 0,
            options: TcpOptions::default(),
            payload: PayloadRef::Window { off: 0, len: 0 },
            wire_len: 0,
            file_offset: 0,
        }
    }

    fn framer() -> Framer {
        match Framer::new(wirehouse_capture::FileFormat::PcapNg, &[]) {
            Ok((f, _)) => f,
            Err(e) => panic!("{e}"),
        }
    }

    fn at(offset: u64) -> SegRef {
        SegRef {
            file_offset: offset,
            ..segment(offset as u32)
        }
    }

    /// Segments come out in the order pushed, across chunk boundaries; a rebuilt datagram is
    /// inserted after every segment of an earlier or the same record; and a processed window's
    /// chunks go back to the pool and are what the next window's queues are built from.
    #[test]
    fn chunked_queues_keep_capture_order_and_reuse_their_chunks() {
        let pool = QueuePool::default();
        let n = 3 * CHUNK + 5;
        let mut shards = pool.take(2);
        {
            let mut spare = Spare::new(&pool);
            for i in 0..n as u64 {
                // Every other record goes to queue 0, at offsets 0, 20, 40, ...
                shards[(i % 2) as usize].push(at(10 * i), &mut spare);
            }
        }
        assert_eq!(shards[0].len() + shards[1].len(), n);
        assert_eq!(shards[0].full.len(), (shards[0].len() - 1) / CHUNK);
        // Into a filled chunk, after the equal offset; at the end; into an empty queue.
        shards[0].insert_in_order(at(20));
        shards[0].insert_in_order(at(10 * n as u64 + 1));
        let mut empty = SegQueue::default();
        empty.insert_in_order(at(7));
        assert_eq!(empty.iter().map(|s| s.file_offset).collect::<Vec<_>>(), [7]);
        let offsets: Vec<u64> = shards[0].iter().map(|s| s.file_offset).collect();
        let mut want: Vec<u64> = (0..n as u64)
            .filter(|i| i % 2 == 0)
            .map(|i| 10 * i)
            .collect();
        want.insert(2, 20);
        want.push(10 * n as u64 + 1);
        assert_eq!(offsets, want);
        assert_eq!(shards[1].iter().count(), n / 2);

        let chunks = shards.iter().map(|q| q.full.len() + 1).sum::<usize>();
        let mut window = FramedWindow {
            ranges: vec![RangeOut {
                start: 0,
                end: 0,
                stop: Stop::EndOfBuffer,
                framer_after: framer(),
                state_changed: false,
                shards,
                frags: Vec::new(),
                counts: Counts::default(),
            }],
            end: 0,
            stop: Stop::EndOfBuffer,
            framer_after: framer(),
            datagrams: Vec::new(),
        };
        pool.put(&mut window);
        let pooled = pool.chunks.lock().map(|c| c.len()).unwrap_or(0);
        assert_eq!(pooled, chunks);
        let mut again = pool.take(2);
        {
            let mut spare = Spare::new(&pool);
            for i in 0..n as u64 {
                again[(i % 2) as usize].push(at(i), &mut spare);
            }
        }
        // The same number of chunks, all from the pool (none left there, none allocated).
        assert_eq!(pool.chunks.lock().map(|c| c.len()).unwrap_or(0), 0);
        assert_eq!(
            again.iter().map(|q| q.full.len() + 1).sum::<usize>(),
            chunks
        );
    }

    /// The hint is given the address of the slot `PREFETCH_SLOTS` past the end while the
    /// allocation holds it, and no address once it does not (an address computed past the
    /// allocation would not be a byte of it).
    #[test]
    fn the_slot_asked_for_is_inside_the_queue_allocation() {
        let mut queue: Vec<SegRef> = Vec::with_capacity(5);
        let cap = queue.capacity();
        let base = queue.as_ptr();
        for len in 0..cap {
            assert_eq!(queue.len(), len);
            let want =
                (len + PREFETCH_SLOTS < cap).then(|| base.wrapping_add(len + PREFETCH_SLOTS));
            assert_eq!(
                slot_ahead(&mut queue).map(|s| s.as_ptr()),
                want,
                "queue of {len}"
            );
            queue.push(segment(len as u32));
            prefetch_ahead(&mut queue);
        }
        assert!(slot_ahead(&mut queue).is_none());
        // Pushing past the capacity still works (the queue grows) and the hint follows it.
        queue.push(segment(cap as u32));
        assert!(slot_ahead(&mut queue).is_some());
        let seqs: Vec<u32> = queue.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, (0..=cap as u32).collect::<Vec<_>>());
    }
}
