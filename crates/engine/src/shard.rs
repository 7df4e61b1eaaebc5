//! A shard: the connections whose flow hash lands on it, and their analysis.
//!
//! Everything that decides a connection's life happens here, as a function of this shard's
//! packet sequence and its own clock (the latest timestamp it has seen): whether a packet
//! continues a connection or starts a new one (port reuse, idle timeout, linger after
//! close), periodic sweeps of idle connections, and eviction when the live-connection cap
//! is reached. That is what makes output independent of thread count and window size.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use wirehouse_capture::{prefetch, prefetch_bytes};

use wirehouse_flow::{Dir, FlowKey, Segment, content_id};
use wirehouse_output::TableBuilders;
use wirehouse_output::tables::{ConnectionRow, EventRow};
use wirehouse_tcp::{ConnSummary, Connection, EndReason, EventKind, StreamSink};

use crate::app::{App, AppCtx, Meta, us};
use crate::flows::{FlowWriter, FlowsOut};
use crate::framing::{FramedWindow, Keyed, SegQueue, SegRef, known_ts, payload};
use crate::table::{Stored, Table};

/// Per-file counters a shard accumulates (taken when a file ends).
#[derive(Clone, Debug, Default)]
pub(crate) struct FileStats {
    pub(crate) connections: u64,
    pub(crate) evicted: u64,
    pub(crate) ooo_cap_hits: u64,
    pub(crate) requests: u64,
    pub(crate) datagrams_reassembled: u64,
    pub(crate) datagrams_abandoned: u64,
}

impl FileStats {
    pub(crate) fn add(&mut self, o: &FileStats) {
        self.connections += o.connections;
        self.evicted += o.evicted;
        self.ooo_cap_hits += o.ooo_cap_hits;
        self.requests += o.requests;
        self.datagrams_reassembled += o.datagrams_reassembled;
        self.datagrams_abandoned += o.datagrams_abandoned;
    }
}

/// What the shard needs to know about the run.
pub(crate) struct ShardCtx<'a> {
    pub(crate) tcp: &'a wirehouse_tcp::Config,
    pub(crate) http: &'a wirehouse_http1::Config,
    pub(crate) idle_timeout_ns: i64,
    pub(crate) close_linger_ns: i64,
    /// Live connections this shard may hold.
    pub(crate) cap: usize,
    /// Closed connections this shard keeps for late packets.
    pub(crate) linger_cap: usize,
    /// Out-of-order bytes this shard's connections may buffer together.
    pub(crate) ooo_budget: usize,
    /// Capture file being read (for conn_id and the `file` columns).
    pub(crate) file: &'a Arc<str>,
    /// `wirehouse flows` output, instead of protocol analysis.
    pub(crate) flows: Option<&'a FlowsOut>,
}

/// Laid out in declaration order (`repr(C)`): what every segment reads (the key, the
/// identity its rows carry, the analyzer's pointer) in the first two cache lines, then the
/// connection.
#[repr(C)]
struct Entry {
    /// The table's key for this connection.
    key: Keyed,
    /// Bytes the connection held back (out of order, or waiting on the other direction)
    /// after its last segment, as counted in the shard's [`OooAccount`].
    ooo: usize,
    /// Whether the sender of the connection's first packet is `key.lo` (the client is either
    /// that sender or the other end: [`Connection::client_sent_first`]).
    first_sender_is_lo: bool,
    /// The analyzer's buffers were given back when the connection closed.
    released: bool,
    /// In [`OooAccount::holding`].
    listed: bool,
    conn_id: i64,
    file: Arc<str>,
    app: App,
    tcp: Connection,
}

impl Entry {
    /// Asks the CPU for what processing a segment of this connection reads first.
    #[inline]
    fn prefetch(&self) {
        prefetch(&self.key);
        prefetch(&self.app);
        for (first, len) in self.tcp.hot_parts() {
            prefetch_bytes(first, len);
        }
    }
}

impl Stored for Entry {
    type Key = Keyed;
    fn key(&self) -> &Keyed {
        &self.key
    }
    fn hash(key: &Keyed) -> u64 {
        key.hash
    }
}

pub(crate) struct Shard {
    /// Boxed: a table sized for its peak keeps empty slots, and at ~1 KB an inline entry
    /// made them cost as much as the live connections.
    conns: Table<Entry>,
    /// Latest timestamp this shard has seen.
    clock: i64,
    next_sweep: i64,
    stats: FileStats,
    /// Closed connections still held (lingering for late packets).
    closed: usize,
    /// `flows` mode: how many connections each address/port pair had (tcpflow's c<N>).
    flow_names: HashMap<FlowKey, u32, ahash::RandomState>,
    ooo: OooAccount,
    retired_early: RetiredEarly,
}

/// Closed connections retired before their close delay ran out (past `--max-closed`), each
/// remembered by its flow hash until that delay would have ended.
///
/// The close delay is there for late packets: the last ACK, a retransmitted FIN. Once a
/// connection was retired early, such a packet found no connection and started one of its
/// own, mid-stream (history `^a`), and a SYN reusing the 4-tuple soon after met that stray
/// connection instead of opening a new one. On the small-transaction generated capture
/// (1 GB, 77 k connections in a quarter of a second) that was 895 connections that do not
/// exist. These packets are now counted and dropped, as within the delay they would have
/// joined the closed connection. 16 bytes a key, twice over (map and queue), at most
/// [`RETIRED_EARLY_PER_LINGER`] times the shard's share of `--max-closed`.
#[derive(Default)]
struct RetiredEarly {
    until: HashMap<u64, i64, ahash::RandomState>,
    /// The keys in the order they were retired (close delays end in about that order).
    order: VecDeque<(u64, i64)>,
    /// Late packets recognised and dropped.
    absorbed: u64,
}

/// How many early-retired keys a shard remembers, per closed connection it may hold.
const RETIRED_EARLY_PER_LINGER: usize = 4;

impl RetiredEarly {
    fn add(&mut self, hash: u64, until: i64, cap: usize) {
        self.until.insert(hash, until);
        self.order.push_back((hash, until));
        while self.order.len() > cap {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((hash, until)) = self.order.pop_front()
            && self.until.get(&hash) == Some(&until)
        {
            self.until.remove(&hash);
        }
    }

    /// Forget the keys whose close delay ended before `now`.
    fn expire(&mut self, now: i64) {
        while self.order.front().is_some_and(|&(_, until)| until < now) {
            self.pop_oldest();
        }
    }

    /// Whether a packet at `ts` of flow `hash`, which has no connection, is a late packet of
    /// one retired early (and so is dropped). A SYN never is: it opens a connection.
    #[inline]
    fn absorbs(&mut self, hash: u64, ts: i64, syn: bool) -> bool {
        if self.until.is_empty() || syn {
            return false;
        }
        let late = self.until.get(&hash).is_some_and(|&until| ts <= until);
        self.absorbed += u64::from(late);
        late
    }

    /// A new connection on this flow: its packets are its own.
    #[inline]
    fn forget(&mut self, hash: u64) {
        if !self.until.is_empty() {
            self.until.remove(&hash);
        }
    }
}

/// What a shard's connections hold back in reassembly buffers, together.
///
/// The per-direction cap (`--max-ooo-mib`) bounds one connection; this bounds them all. On a
/// one-sided capture with loss (a SPAN port that sees one direction) no acknowledgment ever
/// gives a hole up, so without it every connection could hold its full cap at once.
#[derive(Default)]
struct OooAccount {
    total: usize,
    /// Largest `total` seen after a segment (before any shedding).
    peak: usize,
    /// Connections that held something back since they were last listed: what shedding
    /// looks through, rather than a table of up to a million mostly idle connections. A
    /// connection is listed once ([`Entry::listed`]); keys of retired connections and of
    /// ones holding nothing any more are dropped when the list is compacted.
    holding: Vec<Keyed>,
}

impl OooAccount {
    /// Note what `e` (at `key`) holds back after a segment; true when the shard is over
    /// `budget`.
    #[inline]
    fn update(&mut self, key: &Keyed, e: &mut Entry, budget: usize) -> bool {
        let now = e.tcp.buffered_bytes();
        if now == e.ooo {
            return false; // nearly every segment: nothing was or is buffered
        }
        if !e.listed {
            self.holding.push(*key);
            e.listed = true;
        }
        // `total` includes `e.ooo`, so this cannot wrap.
        self.total = self.total - e.ooo + now;
        e.ooo = now;
        self.peak = self.peak.max(self.total);
        self.total > budget
    }

    /// `e` left the table.
    fn forget(&mut self, e: &Entry) {
        self.total -= e.ooo;
    }
}

/// How many segments ahead of the one being processed a shard asks for, in turn, the queue
/// slot, the table slot and the connection entry: each step reads what the one before
/// brought in, a few segments (about a microsecond) earlier. Asking for the analyzer's state
/// as a fourth step, 4 segments ahead, gained nothing measurable.
const AHEAD: [usize; 3] = [12, 8, 4];

/// How often (capture time) a shard looks for idle connections to retire.
const SWEEP_EVERY_NS: i64 = 10 * 1_000_000_000;

impl Shard {
    pub(crate) fn new(_index: usize) -> Shard {
        Shard {
            // The table places connections by the flow hash computed at framing (ahash with
            // fixed seeds), so iteration order, and so row order within a part file, is the
            // same on every run; the row set would be the same regardless.
            conns: Table::default(),
            clock: i64::MIN,
            next_sweep: i64::MIN,
            stats: FileStats::default(),
            closed: 0,
            flow_names: HashMap::with_hasher(ahash::RandomState::with_seeds(5, 6, 7, 8)),
            ooo: OooAccount::default(),
            retired_early: RetiredEarly::default(),
        }
    }

    /// Remove a connection from the table (to retire it).
    fn take(&mut self, key: &Keyed) -> Option<Box<Entry>> {
        let e = self.conns.remove(key)?;
        // Retiring delivers whatever the connection still holds back.
        self.ooo.forget(&e);
        if self.ooo.holding.len() > 2 * self.conns.len() + 1024 {
            self.compact_holding();
        }
        Some(e)
    }

    /// Keep in [`OooAccount::holding`] only the connections still holding something back,
    /// once each.
    fn compact_holding(&mut self) {
        let mut list = std::mem::take(&mut self.ooo.holding);
        list.sort_unstable();
        list.dedup();
        list.retain(|k| match self.conns.get_mut(k) {
            Some(e) if e.ooo > 0 => true,
            Some(e) => {
                e.listed = false;
                false
            }
            None => false,
        });
        self.ooo.holding = list;
    }

    /// The most out-of-order bytes this shard's connections held at once.
    pub(crate) fn ooo_peak(&self) -> usize {
        self.ooo.peak
    }

    /// Late packets of connections retired before their close delay, dropped since the last
    /// call.
    pub(crate) fn take_late_packets(&mut self) -> u64 {
        std::mem::take(&mut self.retired_early.absorbed)
    }

    pub(crate) fn take_file_stats(&mut self) -> FileStats {
        std::mem::take(&mut self.stats)
    }

    /// Process this shard's segments of a window, in capture order.
    pub(crate) fn process(
        &mut self,
        index: usize,
        framed: &FramedWindow,
        window: &[u8],
        ctx: &ShardCtx<'_>,
        rows: &mut TableBuilders,
    ) {
        // This shard's segments of the window, range after range, in capture order, gathered
        // once: walking the queues' chunks through nested iterators four times over (the
        // segment itself and the three look-aheads below) cost more per packet than the
        // connection lookup.
        let segments: Vec<&SegRef> = framed
            .ranges
            .iter()
            .filter_map(|range| range.shards.get(index))
            .flat_map(SegQueue::chunks)
            .flatten()
            .collect();
        // Consecutive segments mostly belong to different connections, so each one's state
        // is a cold read, and so is the queue slot that names it. Each is asked for ahead of
        // time, in steps that never wait on a load: the queue slot, the table slot (its
        // address follows from the flow hash), then the entry (the table slot holds its
        // pointer). See `AHEAD`. The window's first segments get the same steps up front.
        for r in segments.iter().take(AHEAD[0]) {
            prefetch(*r);
        }
        for r in segments.iter().take(AHEAD[1]) {
            self.conns.prefetch_slot(r.key.hash);
        }
        for r in segments.iter().take(AHEAD[2]) {
            if let Some(e) = self.conns.get_by_hash(r.key.hash) {
                e.prefetch();
            }
        }
        for (i, r) in segments.iter().enumerate() {
            if let Some(a) = segments.get(i + AHEAD[0]) {
                prefetch(*a);
            }
            if let Some(a) = segments.get(i + AHEAD[1]) {
                self.conns.prefetch_slot(a.key.hash);
            }
            if let Some(e) = segments
                .get(i + AHEAD[2])
                .and_then(|a| self.conns.get_by_hash(a.key.hash))
            {
                e.prefetch();
            }
            let data = payload(&r.payload, window, &framed.datagrams);
            self.segment(r, data, ctx, rows);
        }
    }

    fn segment(&mut self, r: &SegRef, data: &[u8], ctx: &ShardCtx<'_>, rows: &mut TableBuilders) {
        let ts = known_ts(r.ts_ns, self.clock.max(0));
        self.clock = self.clock.max(ts);
        let seg = Segment {
            ts_ns: ts,
            src: r.key.key.src(r.src_is_lo),
            dst: r.key.key.dst(r.src_is_lo),
            seq: r.seq,
            ack: r.ack,
            flags: r.flags,
            window: r.window,
            options: r.options,
            payload: data,
            wire_len: r.wire_len,
        };
        let key = &r.key;
        debug_assert_eq!(key.hash, key.key.shard_hash());
        if let Some(e) = self.conns.get_mut(key) {
            let idle = ts.saturating_sub(e.tcp.last_ts());
            let reason = if e.tcp.starts_new_connection(&seg) {
                Some(EndReason::Closed)
            } else if idle > ctx.idle_timeout_ns {
                Some(EndReason::IdleTimeout)
            } else if idle > ctx.close_linger_ns && e.tcp.is_closed() {
                Some(EndReason::Closed)
            } else {
                None
            };
            match reason {
                None => {
                    let fed = feed(e, &seg, ctx, rows);
                    let over = fed.buffers && self.ooo.update(key, e, ctx.ooo_budget);
                    self.after_feed(fed.closed, over, ctx, rows);
                    return;
                }
                Some(reason) => {
                    if let Some(old) = self.take(key) {
                        let at = old.tcp.last_ts();
                        self.retire(old, reason, at, ctx, rows);
                    }
                }
            }
        }
        if self.retired_early.absorbs(key.hash, ts, seg.flags.syn()) {
            return;
        }
        self.retired_early.forget(key.hash);
        if self.conns.len() >= ctx.cap {
            self.make_room(ctx, rows);
        }
        let tcp = Connection::new(&seg, ctx.tcp);
        let app = match ctx.flows {
            Some(_) => {
                let n = self.flow_names.entry(key.key).or_insert(0);
                let reuse = *n;
                *n += 1;
                App::Flow(Box::new(FlowWriter::new(reuse, r.key.key.vlans.outer)))
            }
            None => App::new(),
        };
        let mut e = Box::new(Entry {
            key: *key,
            first_sender_is_lo: r.src_is_lo,
            tcp,
            app,
            conn_id: content_id(ctx.file, r.file_offset) as i64,
            file: ctx.file.clone(),
            released: false,
            ooo: 0,
            listed: false,
        });
        self.stats.connections += 1;
        let fed = feed(&mut e, &seg, ctx, rows);
        let over = fed.buffers && self.ooo.update(key, &mut e, ctx.ooo_budget);
        self.conns.insert(e);
        self.after_feed(fed.closed, over, ctx, rows);
    }

    fn after_feed(
        &mut self,
        closed: bool,
        over_ooo_budget: bool,
        ctx: &ShardCtx<'_>,
        rows: &mut TableBuilders,
    ) {
        if over_ooo_budget {
            self.shed_ooo(ctx, rows);
        }
        if closed {
            self.closed += 1;
            if self.closed > ctx.linger_cap {
                // Batch: retire the older half, so this scan runs once per many closes.
                let n = self.retire_closed(ctx.linger_cap / 2, ctx, rows);
                rows.events.append(&EventRow {
                    ts: Some(self.clock),
                    conn_id: None,
                    file: ctx.file.to_string(),
                    kind: "closed_connections_retired".into(),
                    detail: format!(
                        "{n} closed connections retired before the {} s close delay: more than {} \
                         (its share of --max-closed) waiting for late packets",
                        ctx.close_linger_ns / 1_000_000_000,
                        ctx.linger_cap
                    ),
                });
            }
        }
        self.maybe_sweep(ctx, rows);
    }

    /// Retire closed connections, those closed longest ago first, until at most `keep`
    /// remain. Their rows are final: only a late retransmission could still have joined them.
    fn retire_closed(
        &mut self,
        keep: usize,
        ctx: &ShardCtx<'_>,
        rows: &mut TableBuilders,
    ) -> usize {
        let mut closed: Vec<(i64, i64, Keyed)> = self
            .conns
            .iter()
            .filter(|e| e.released)
            .map(|e| (e.tcp.last_ts(), e.conn_id, e.key))
            .collect();
        let n = closed.len().saturating_sub(keep);
        if n == 0 {
            return 0;
        }
        closed.select_nth_unstable(n - 1);
        closed.truncate(n);
        closed.sort_unstable();
        for (_, _, k) in closed {
            if let Some(e) = self.take(&k) {
                let at = e.tcp.last_ts();
                self.retired_early.add(
                    k.hash,
                    at.saturating_add(ctx.close_linger_ns),
                    RETIRED_EARLY_PER_LINGER * ctx.linger_cap,
                );
                self.retire(e, EndReason::Closed, at, ctx, rows);
            }
        }
        n
    }

    /// Over the out-of-order budget: the connections holding back the most give up their
    /// holes, largest first, until the shard is down to half its budget. Going down to half
    /// makes a flood of holes cost one pass over the connections holding bytes back per
    /// half-budget of new bytes, not one per packet. The choice depends only on the table,
    /// so it is deterministic.
    fn shed_ooo(&mut self, ctx: &ShardCtx<'_>, rows: &mut TableBuilders) {
        self.compact_holding();
        let mut holding: Vec<(usize, i64, Keyed)> = self
            .ooo
            .holding
            .iter()
            .filter_map(|k| self.conns.get(k).map(|e| (e.ooo, e.conn_id, *k)))
            .collect();
        holding.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        let ts = self.clock;
        for (_, _, k) in holding {
            if self.ooo.total <= ctx.ooo_budget / 2 {
                break;
            }
            let Some(e) = self.conns.get_mut(&k) else {
                continue;
            };
            with_sink(e, ctx, rows, |tcp, sink| {
                tcp.give_up_buffered_holes(ts, ctx.ooo_budget, ctx.tcp, sink)
            });
            self.ooo.update(&k, e, usize::MAX);
        }
    }

    fn maybe_sweep(&mut self, ctx: &ShardCtx<'_>, rows: &mut TableBuilders) {
        if self.clock >= self.next_sweep {
            self.retired_early.expire(self.clock);
            self.sweep(ctx, rows);
            self.next_sweep = self.clock.saturating_add(SWEEP_EVERY_NS);
        }
    }

    /// Retire connections that are idle past the timeout, or closed past the linger.
    fn sweep(&mut self, ctx: &ShardCtx<'_>, rows: &mut TableBuilders) {
        let clock = self.clock;
        let mut done: Vec<(Keyed, EndReason)> = self
            .conns
            .iter()
            .filter_map(|e| {
                let idle = clock.saturating_sub(e.tcp.last_ts());
                if idle > ctx.idle_timeout_ns {
                    Some((e.key, EndReason::IdleTimeout))
                } else if idle > ctx.close_linger_ns && e.tcp.is_closed() {
                    Some((e.key, EndReason::Closed))
                } else {
                    None
                }
            })
            .collect();
        done.sort_unstable_by_key(|(k, _)| *k);
        for (k, reason) in done {
            if let Some(e) = self.take(&k) {
                let at = e.tcp.last_ts();
                self.retire(e, reason, at, ctx, rows);
            }
        }
    }

    /// At the live-connection cap: retire what the sweep would and every closed connection,
    /// then evict the least recently active sixteenth of the table (batching keeps eviction
    /// cheap under a flood of new connections; the choice depends only on the table, so it
    /// is deterministic).
    fn make_room(&mut self, ctx: &ShardCtx<'_>, rows: &mut TableBuilders) {
        self.sweep(ctx, rows);
        if self.conns.len() < ctx.cap {
            return;
        }
        // Closed connections only linger for late retransmissions: they go first, retired as
        // closed, before any live connection is evicted.
        self.retire_closed(0, ctx, rows);
        if self.conns.len() < ctx.cap {
            return;
        }
        let mut by_age: Vec<(i64, i64, Keyed)> = self
            .conns
            .iter()
            .map(|e| (e.tcp.last_ts(), e.conn_id, e.key))
            .collect();
        let n = (ctx.cap / 16).max(1).min(by_age.len());
        by_age.select_nth_unstable(n - 1);
        by_age.truncate(n);
        by_age.sort_unstable();
        for (_, _, k) in by_age {
            if let Some(e) = self.take(&k) {
                self.stats.evicted += 1;
                rows.events.append(&EventRow {
                    ts: Some(self.clock),
                    conn_id: Some(e.conn_id),
                    file: e.file.to_string(),
                    kind: "connection_evicted".into(),
                    detail: format!(
                        "live-connection cap ({} per shard) reached; evicted the least recently active",
                        ctx.cap
                    ),
                });
                let at = e.tcp.last_ts();
                self.retire(e, EndReason::Evicted, at, ctx, rows);
            }
        }
    }

    fn retire(
        &mut self,
        mut e: Box<Entry>,
        reason: EndReason,
        ts: i64,
        ctx: &ShardCtx<'_>,
        rows: &mut TableBuilders,
    ) {
        if e.released {
            self.closed = self.closed.saturating_sub(1);
        }
        with_sink(&mut e, ctx, rows, |tcp, sink| {
            tcp.finish(reason, ts, sink);
            sink.app.finish(&mut sink.cx, ts);
        });
        let summary = e.tcp.summary();
        self.stats.ooo_cap_hits += summary.ooo_cap_hits;
        let (requests, after_close, proxy) = match e.app.http() {
            Some(h) => (
                h.requests(),
                h.requests_after_server_close(),
                h.proxy().cloned(),
            ),
            None => (0, 0, None),
        };
        self.stats.requests += u64::from(requests);
        let meta = Meta::of(&e, false);
        rows.connections.append(&connection_row(
            &meta,
            &summary,
            e.app.protocol(),
            requests,
            after_close,
            proxy.as_ref(),
        ));
    }

    /// End of the stream: retire everything still open.
    pub(crate) fn finish(&mut self, ctx: &ShardCtx<'_>, rows: &mut TableBuilders) {
        let mut keys: Vec<Keyed> = self.conns.iter().map(|e| e.key).collect();
        keys.sort_unstable();
        for k in keys {
            if let Some(e) = self.take(&k) {
                let reason = if e.tcp.is_closed() {
                    EndReason::Closed
                } else {
                    EndReason::EndOfCapture
                };
                let at = e.tcp.last_ts();
                self.retire(e, reason, at, ctx, rows);
            }
        }
        debug_assert_eq!(
            self.ooo.total, 0,
            "out-of-order bytes of retired connections"
        );
    }
}

impl<'a> Meta<'a> {
    /// The identity of the entry's connection. Borrows the file name: a clone of the `Arc`
    /// for every segment would make all workers increment and decrement one shared counter,
    /// a cache line bouncing between cores on every packet. Which SYNs were seen only `flows`
    /// and the protocol decision ask (`want_syns`): looking on every segment of an analysis
    /// run cost 9 instructions a packet for nothing.
    fn of(e: &'a Entry, want_syns: bool) -> Meta<'a> {
        Meta::of_parts(
            &e.tcp,
            e.conn_id,
            &e.file,
            &e.key.key,
            e.first_sender_is_lo,
            want_syns,
        )
    }

    /// [`Meta::of`] from the entry's fields, for a caller that lends its connection out
    /// mutably at the same time.
    fn of_parts(
        tcp: &Connection,
        conn_id: i64,
        file: &'a str,
        key: &'a FlowKey,
        first_sender_is_lo: bool,
        want_syns: bool,
    ) -> Meta<'a> {
        Meta {
            conn_id,
            file,
            key,
            client_is_lo: first_sender_is_lo == tcp.client_sent_first(),
            syn_seen: if want_syns {
                [tcp.saw_syn(Dir::ToServer), tcp.saw_syn(Dir::ToClient)]
            } else {
                [false; 2]
            },
        }
    }
}

/// What feeding a segment did.
struct Fed {
    /// It closed the connection.
    closed: bool,
    /// It may have changed what the connection holds back (see [`OooAccount`]).
    buffers: bool,
}

/// Feed one segment. Inlined into both callers: as a call it saved and restored six
/// registers and rebuilt its arguments for every packet (0.8 % of a run's instructions;
/// paired wall time 0.985 of before, 21 rounds). Inlining `Connection::on_segment` as well
/// took 0.2 % more instructions off but no time (wall 0.994, user 1.018): not done.
#[inline(always)]
fn feed(e: &mut Entry, seg: &Segment<'_>, ctx: &ShardCtx<'_>, rows: &mut TableBuilders) -> Fed {
    let buffers = with_sink(e, ctx, rows, |tcp, sink| tcp.on_segment(seg, ctx.tcp, sink));
    // A closed connection lingers (Zeek's close delay) to absorb late retransmissions; on a
    // busy link thousands of them do, so they should not keep their parser buffers.
    let closed = !e.released && e.tcp.is_closed();
    if closed {
        e.app.release_memory();
        e.released = true;
    }
    Fed { closed, buffers }
}

/// Run `f` on the entry's connection with the sink its bytes, events and rows go to.
fn with_sink<R>(
    e: &mut Entry,
    ctx: &ShardCtx<'_>,
    rows: &mut TableBuilders,
    f: impl FnOnce(&mut Connection, &mut ConnSink<'_>) -> R,
) -> R {
    let meta = Meta::of_parts(
        &e.tcp,
        e.conn_id,
        &e.file,
        &e.key.key,
        e.first_sender_is_lo,
        ctx.flows.is_some() || e.app.is_probe(),
    );
    let mut sink = ConnSink {
        app: &mut e.app,
        cx: AppCtx {
            meta: &meta,
            rows,
            http: ctx.http,
            flows: ctx.flows,
        },
    };
    f(&mut e.tcp, &mut sink)
}

/// Where reassembled bytes go: the application analyzer, and rows.
struct ConnSink<'a> {
    app: &'a mut App,
    cx: AppCtx<'a>,
}

impl StreamSink for ConnSink<'_> {
    fn on_data(&mut self, dir: Dir, ts_ns: i64, data: &[u8]) {
        self.app.on_data(&mut self.cx, dir, ts_ns, data);
    }

    fn on_gap(&mut self, dir: Dir, ts_ns: i64, len: u64) {
        self.app.on_gap(&mut self.cx, dir, ts_ns, len);
    }

    fn on_fin(&mut self, dir: Dir, ts_ns: i64) {
        self.app.on_fin(&mut self.cx, dir, ts_ns);
    }

    fn on_ack(&mut self, dir: Dir, acked: u64) {
        self.app.on_ack(dir, acked);
    }

    fn on_event(&mut self, ts_ns: i64, kind: EventKind, detail: String) {
        let m = self.cx.meta;
        self.cx.rows.events.append(&EventRow {
            ts: Some(ts_ns),
            conn_id: Some(m.conn_id),
            file: m.file.to_string(),
            kind: kind.name().to_string(),
            detail,
        });
    }
}

fn connection_row(
    m: &Meta,
    s: &ConnSummary,
    app_protocol: Option<String>,
    requests: u32,
    requests_after_server_close: u32,
    proxy: Option<&wirehouse_http1::ProxyHeader>,
) -> ConnectionRow {
    let side = |d: Option<Dir>| {
        d.map(|d| match d {
            Dir::ToServer => "client".to_string(),
            Dir::ToClient => "server".to_string(),
        })
    };
    let nz = |v: u16| (v != 0).then_some(v);
    let (client, server) = (m.client(), m.server());
    ConnectionRow {
        conn_id: m.conn_id,
        file: m.file.to_string(),
        first_ts: s.first_ts,
        last_ts: s.last_ts,
        duration_us: us(Some(s.last_ts - s.first_ts)).unwrap_or(0),
        client_ip: client.addr.to_text(),
        client_port: client.port,
        server_ip: server.addr.to_text(),
        server_port: server.port,
        ip_version: client.addr.version(),
        vlan: nz(m.vlans().outer),
        inner_vlan: nz(m.vlans().inner),
        handshake: s.handshake.as_str().to_string(),
        midstream: s.midstream,
        syn_ts: s.syn_ts,
        syn_ack_ts: s.syn_ack_ts,
        ack_ts: s.ack_ts,
        syn_retries: s.syn_retries,
        server_rtt_us: us(s.server_rtt_ns),
        client_rtt_us: us(s.client_rtt_ns),
        handshake_rtt_us: us(s.handshake_rtt_ns),
        mss_client: s.mss_client,
        mss_server: s.mss_server,
        wscale_client: s.wscale_client,
        wscale_server: s.wscale_server,
        sack_permitted: s.sack_permitted,
        client_pkts: s.client_pkts as i64,
        server_pkts: s.server_pkts as i64,
        client_bytes: s.client_bytes as i64,
        server_bytes: s.server_bytes as i64,
        client_missing_bytes: s.client_missing_bytes as i64,
        server_missing_bytes: s.server_missing_bytes as i64,
        missing_bytes: (s.client_missing_bytes + s.server_missing_bytes) as i64,
        retransmitted_pkts: s.retransmitted_pkts as i64,
        out_of_order_pkts: s.out_of_order_pkts as i64,
        zero_window_events: s.zero_window_events as i64,
        overlap_conflicts: s.overlap_conflicts as i64,
        ooo_cap_hits: s.ooo_cap_hits as i64,
        close_initiator: side(s.close_initiator),
        close_kind: s.close_kind.as_str().to_string(),
        half_closed: s.half_closed,
        history: s.history.clone(),
        conn_state: s.conn_state.to_string(),
        app_protocol,
        requests: i64::from(requests),
        requests_after_server_close: i64::from(requests_after_server_close),
        proxied_client_ip: proxy.and_then(|p| p.src).map(|e| e.addr.to_text()),
        proxied_client_port: proxy.and_then(|p| p.src).map(|e| e.port),
        proxied_server_ip: proxy.and_then(|p| p.dst).map(|e| e.addr.to_text()),
        proxied_server_port: proxy.and_then(|p| p.dst).map(|e| e.port),
    }
}
