//! Per-file packet accounting: the numbers behind a `captures` row.

use std::collections::BTreeSet;

use wirehouse_capture::{Packet, TS_UNKNOWN};
use wirehouse_decode::Fate;

/// Counters one range (or a whole file) accumulates.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) fates: [u64; 7],
    pub(crate) first_ts: Option<i64>,
    pub(crate) last_ts: Option<i64>,
    pub(crate) linktypes: BTreeSet<u32>,
    pub(crate) tcp_payload_truncated: u64,
    pub(crate) ip_fragments: u64,
    pub(crate) other_blocks: u64,
    /// TCP packets the `--filter` expression rejected (still counted as TCP).
    pub(crate) filtered: u64,
}

impl Counts {
    #[inline]
    pub(crate) fn packet(&mut self, p: &Packet<'_>) {
        self.packets += 1;
        self.bytes += u64::from(p.caplen);
        if p.ts_ns != TS_UNKNOWN {
            self.first_ts = Some(self.first_ts.map_or(p.ts_ns, |t| t.min(p.ts_ns)));
            self.last_ts = Some(self.last_ts.map_or(p.ts_ns, |t| t.max(p.ts_ns)));
        }
        // Link types are few per file; avoid the set insert on the common repeat.
        if self.linktypes.last() != Some(&p.linktype) || self.linktypes.len() > 1 {
            self.linktypes.insert(p.linktype);
        }
    }

    #[inline]
    pub(crate) fn fate(&mut self, f: Fate) {
        self.fates[f.index()] += 1;
    }

    pub(crate) fn add(&mut self, o: &Counts) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        for (a, b) in self.fates.iter_mut().zip(o.fates.iter()) {
            *a += b;
        }
        self.first_ts = match (self.first_ts, o.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = match (self.last_ts, o.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.linktypes.extend(o.linktypes.iter().copied());
        self.tcp_payload_truncated += o.tcp_payload_truncated;
        self.ip_fragments += o.ip_fragments;
        self.other_blocks += o.other_blocks;
        self.filtered += o.filtered;
    }

    pub(crate) fn fate_count(&self, f: Fate) -> i64 {
        self.fates[f.index()] as i64
    }
}
