//! IP fragment reassembly, for TCP that rides in fragments.
//!
//! Fragments are rare and their reassembly allocates, so it stays off the fast path: the
//! engine collects fragments while framing and feeds them here in capture order. Memory is
//! bounded by a cap on datagrams in progress and a capture-time timeout; both drops are
//! counted.

use std::collections::HashMap;

use wirehouse_flow::{Addr, Vlans};

use crate::Fragment;

/// Identity of one datagram being reassembled (RFC 791 / RFC 8200).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct Key {
    vlans: Vlans,
    src: Addr,
    dst: Addr,
    id: u32,
    proto: u8,
}

#[derive(Debug)]
struct Pending {
    /// Reassembled bytes so far; holes are zero until filled.
    data: Vec<u8>,
    /// Byte ranges received, kept sorted and merged.
    have: Vec<(u32, u32)>,
    /// Total length, once the last fragment (MF=0) arrived.
    total: Option<u32>,
    first_ts: i64,
    cut: bool,
}

/// A reassembled datagram payload.
#[derive(Debug)]
pub struct Datagram {
    /// VLAN tags.
    pub vlans: Vlans,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Transport protocol.
    pub proto: u8,
    /// The transport header and payload.
    pub payload: Vec<u8>,
    /// Some fragment was cut by the snaplen (its missing bytes are zeros).
    pub cut: bool,
}

/// Counters for the `captures` table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments seen.
    pub fragments: u64,
    /// Datagrams completed.
    pub reassembled: u64,
    /// Datagrams abandoned (timeout, cap, end of capture, inconsistent lengths).
    pub abandoned: u64,
    /// Fragments whose bytes overlapped earlier ones with different content.
    pub overlaps: u64,
}

/// Reassembles fragments into datagrams.
#[derive(Debug)]
pub struct Defragmenter {
    pending: HashMap<Key, Pending, ahash::RandomState>,
    timeout_ns: i64,
    max_pending: usize,
    /// Counters.
    pub stats: DefragStats,
}

/// Largest datagram: the IPv6 payload-length field's maximum (jumbograms don't fragment).
const MAX_DATAGRAM: u32 = 65_535;

impl Defragmenter {
    /// A reassembler that gives up on a datagram after `timeout_ns` of capture time and holds
    /// at most `max_pending` incomplete datagrams.
    pub fn new(timeout_ns: i64, max_pending: usize) -> Defragmenter {
        Defragmenter {
            pending: HashMap::default(),
            timeout_ns,
            max_pending,
            stats: DefragStats::default(),
        }
    }

    /// Add a fragment seen at `ts_ns`; returns the datagram if this completed it.
    pub fn push(&mut self, ts_ns: i64, f: &Fragment<'_>) -> Option<Datagram> {
        self.stats.fragments += 1;
        let key = Key {
            vlans: f.vlans,
            src: f.src,
            dst: f.dst,
            id: f.id,
            proto: f.proto,
        };
        let start = f.offset;
        let end = start.saturating_add(f.data.len() as u32);
        if end > MAX_DATAGRAM {
            self.stats.abandoned += u64::from(self.pending.remove(&key).is_some());
            return None;
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            self.expire(ts_ns);
            if self.pending.len() >= self.max_pending {
                // Drop the oldest datagram in progress (deterministic: by first_ts, then key).
                if let Some(old) = self
                    .pending
                    .iter()
                    .min_by_key(|(k, p)| (p.first_ts, **k))
                    .map(|(k, _)| *k)
                {
                    self.pending.remove(&old);
                    self.stats.abandoned += 1;
                }
            }
        }
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            data: Vec::new(),
            have: Vec::new(),
            total: None,
            first_ts: ts_ns,
            cut: false,
        });
        p.cut |= f.cut;
        if !f.more {
            if p.total.is_some_and(|t| t != end) || p.have.iter().any(|&(_, e)| e > end) {
                self.pending.remove(&key);
                self.stats.abandoned += 1;
                return None;
            }
            p.total = Some(end);
        }
        if p.data.len() < end as usize {
            p.data.resize(end as usize, 0);
        }
        // First copy wins: only fill bytes not yet received.
        let mut overlap_conflict = false;
        let mut pos = start;
        for &(hs, he) in &p.have {
            if he <= pos || hs >= end {
                continue;
            }
            if hs > pos {
                let (a, b) = (pos as usize, hs as usize);
                p.data[a..b].copy_from_slice(&f.data[a - start as usize..b - start as usize]);
            }
            let (os, oe) = (hs.max(start) as usize, he.min(end) as usize);
            if p.data[os..oe] != f.data[os - start as usize..oe - start as usize] {
                overlap_conflict = true;
            }
            pos = pos.max(he);
        }
        if pos < end {
            let (a, b) = (pos as usize, end as usize);
            p.data[a..b].copy_from_slice(&f.data[a - start as usize..]);
        }
        if overlap_conflict {
            self.stats.overlaps += 1;
        }
        insert_range(&mut p.have, start, end);
        let complete = p
            .total
            .is_some_and(|t| p.have.len() == 1 && p.have[0] == (0, t));
        if complete {
            let p = self.pending.remove(&key)?;
            self.stats.reassembled += 1;
            return Some(Datagram {
                vlans: key.vlans,
                src: key.src,
                dst: key.dst,
                proto: key.proto,
                payload: p.data,
                cut: p.cut,
            });
        }
        None
    }

    /// Abandon datagrams whose first fragment is older than the timeout at capture time
    /// `now_ns`.
    pub fn expire(&mut self, now_ns: i64) {
        let timeout = self.timeout_ns;
        let before = self.pending.len();
        self.pending
            .retain(|_, p| now_ns.saturating_sub(p.first_ts) <= timeout);
        self.stats.abandoned += (before - self.pending.len()) as u64;
    }

    /// Abandon everything (end of the capture).
    pub fn finish(&mut self) {
        self.stats.abandoned += self.pending.len() as u64;
        self.pending.clear();
    }
}

fn insert_range(have: &mut Vec<(u32, u32)>, start: u32, end: u32) {
    if start >= end {
        return;
    }
    have.push((start, end));
    have.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(have.len());
    for &(s, e) in have.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *have = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(offset: u32, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            vlans: Vlans::default(),
            src: Addr::v4([10, 0, 0, 1]),
            dst: Addr::v4([10, 0, 0, 2]),
            id: 77,
            proto: 6,
            offset,
            more,
            data,
            cut: false,
        }
    }

    #[test]
    fn reassembles_out_of_order_fragments() {
        let mut d = Defragmenter::new(30_000_000_000, 16);
        let payload: Vec<u8> = (0..40u8).collect();
        assert!(d.push(1, &frag(16, true, &payload[16..32])).is_none());
        assert!(d.push(2, &frag(32, false, &payload[32..])).is_none());
        let dg = d.push(3, &frag(0, true, &payload[..16])).unwrap();
        assert_eq!(dg.payload, payload);
        assert_eq!(d.stats.reassembled, 1);
        assert_eq!(d.stats.fragments, 3);
    }

    #[test]
    fn first_copy_wins_and_conflict_is_counted() {
        let mut d = Defragmenter::new(30_000_000_000, 16);
        assert!(d.push(1, &frag(0, true, &[1; 16])).is_none());
        assert!(d.push(2, &frag(8, true, &[2; 16])).is_none());
        let dg = d.push(3, &frag(24, false, &[3; 8])).unwrap();
        assert_eq!(&dg.payload[..16], &[1; 16]);
        assert_eq!(&dg.payload[16..24], &[2; 8]);
        assert_eq!(d.stats.overlaps, 1);
    }

    #[test]
    fn timeout_and_cap_abandon() {
        let mut d = Defragmenter::new(10, 1);
        assert!(d.push(0, &frag(0, true, &[1; 8])).is_none());
        d.expire(100);
        assert_eq!(d.stats.abandoned, 1);
        let mut other = frag(0, true, &[1; 8]);
        assert!(d.push(200, &other).is_none());
        other.id = 78;
        assert!(d.push(201, &other).is_none()); // cap of 1: the older one goes
        assert_eq!(d.stats.abandoned, 2);
        d.finish();
        assert_eq!(d.stats.abandoned, 3);
    }
}
