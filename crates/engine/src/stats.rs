//! Per-file packet accounting: the numbers behind a `captures` row.

use std::collections::BTreeSet;

use wirehouse_capture::{Packet, TS_UNKNOWN};
use wirehouse_decode::Fate;

/// Counters one range (or a whole file) accumulates.
#[derive(Clone, Debug)]
pub(crate) struct Counts {
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) fates: [u64; 7],
    /// Earliest and latest known timestamps (`i64::MAX` / `i64::MIN` while there is none):
    /// sentinels rather than options, so the per-packet update is two compares.
    ts_min: i64,
    ts_max: i64,
    pub(crate) linktypes: BTreeSet<u32>,
    /// The link type of the previous packet, already in `linktypes`.
    last_linktype: Option<u32>,
    pub(crate) tcp_payload_truncated: u64,
    pub(crate) ip_fragments: u64,
    pub(crate) other_blocks: u64,
    /// TCP packets the `--filter` expression rejected (still counted as TCP).
    pub(crate) filtered: u64,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts {
            packets: 0,
            bytes: 0,
            fates: [0; 7],
            ts_min: i64::MAX,
            ts_max: i64::MIN,
            linktypes: BTreeSet::new(),
            last_linktype: None,
            tcp_payload_truncated: 0,
            ip_fragments: 0,
            other_blocks: 0,
            filtered: 0,
        }
    }
}

impl Counts {
    #[inline]
    pub(crate) fn packet(&mut self, p: &Packet<'_>) {
        self.packets += 1;
        self.bytes += u64::from(p.caplen);
        if p.ts_ns != TS_UNKNOWN {
            self.ts_min = self.ts_min.min(p.ts_ns);
            self.ts_max = self.ts_max.max(p.ts_ns);
        }
        // Link types are few per file: the set is touched only when the type changes.
        if self.last_linktype != Some(p.linktype) {
            self.linktypes.insert(p.linktype);
            self.last_linktype = Some(p.linktype);
        }
    }

    /// The earliest known timestamp.
    pub(crate) fn first_ts(&self) -> Option<i64> {
        (self.ts_min != i64::MAX).then_some(self.ts_min)
    }

    /// The latest known timestamp.
    pub(crate) fn last_ts(&self) -> Option<i64> {
        (self.ts_max != i64::MIN).then_some(self.ts_max)
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
        self.ts_min = self.ts_min.min(o.ts_min);
        self.ts_max = self.ts_max.max(o.ts_max);
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
