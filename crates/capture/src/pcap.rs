//! Classic pcap record walking.

use crate::error::{FrameError, FrameErrorKind};
use crate::framer::{BlockCounts, Progress, Stop};
use crate::prefetch::ReadAhead;
use crate::{MAX_RECORD_BYTES, Packet};

/// What a pcap file header fixes for every record in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PcapParams {
    pub(crate) big_endian: bool,
    pub(crate) nanos: bool,
    pub(crate) modified: bool,
    pub(crate) snaplen: u32,
    pub(crate) linktype: u32,
}

/// Length of the pcap file header.
pub(crate) const FILE_HEADER_LEN: usize = 24;

impl PcapParams {
    /// Parse the 24-byte file header. `big_endian`/`nanos`/`modified` come from [`crate::detect`].
    pub(crate) fn parse(
        head: &[u8],
        big_endian: bool,
        nanos: bool,
        modified: bool,
    ) -> Result<PcapParams, FrameError> {
        if head.len() < FILE_HEADER_LEN {
            return Err(FrameError {
                offset: 0,
                kind: FrameErrorKind::Truncated {
                    needed: FILE_HEADER_LEN as u64,
                    available: head.len() as u64,
                },
            });
        }
        // pcap-parser reads the header for every magic it knows; the big-endian "modified"
        // magic is not one of them, so that one variant is read here.
        let (snaplen, network) = match pcap_parser::parse_pcap_header(head) {
            Ok((_, h)) => (h.snaplen, h.network.0 as u32),
            Err(_) => (
                read_u32(head, 16, big_endian),
                read_u32(head, 20, big_endian),
            ),
        };
        Ok(PcapParams {
            big_endian,
            nanos,
            modified,
            snaplen,
            // Bits 16-31 of the link-type field carry FCS information, not the type.
            linktype: network & 0xffff,
        })
    }

    fn header_len(&self) -> usize {
        if self.modified { 24 } else { 16 }
    }

    /// Walk records in `buf[start..]`, stopping before the first record that starts at or
    /// after `limit`.
    pub(crate) fn frame<'a>(
        &self,
        buf: &'a [u8],
        base: u64,
        start: usize,
        limit: usize,
        on_packet: &mut dyn FnMut(Packet<'a>),
    ) -> Progress {
        match (self.big_endian, self.nanos) {
            (false, false) => self.frame_impl::<false, false>(buf, base, start, limit, on_packet),
            (false, true) => self.frame_impl::<false, true>(buf, base, start, limit, on_packet),
            (true, false) => self.frame_impl::<true, false>(buf, base, start, limit, on_packet),
            (true, true) => self.frame_impl::<true, true>(buf, base, start, limit, on_packet),
        }
    }

    // Monomorphised per byte order and resolution: this loop is the floor every later stage
    // is measured against, so it must not branch on per-file constants for every field.
    fn frame_impl<'a, const BE: bool, const NANOS: bool>(
        &self,
        buf: &'a [u8],
        base: u64,
        start: usize,
        limit: usize,
        on_packet: &mut dyn FnMut(Packet<'a>),
    ) -> Progress {
        let hlen = self.header_len();
        let mut p = start;
        let mut blocks = BlockCounts::default();
        let mut ahead = ReadAhead::new(p);
        let stop = loop {
            if p >= limit {
                break Stop::Limit;
            }
            ahead.advance(buf, p);
            let Some(h) = buf.get(p..p + hlen) else {
                break Stop::EndOfBuffer;
            };
            let ts_sec = read_u32(h, 0, BE);
            let ts_frac = read_u32(h, 4, BE);
            let caplen = read_u32(h, 8, BE);
            let origlen = read_u32(h, 12, BE);
            if caplen > MAX_RECORD_BYTES {
                break Stop::Error(FrameError {
                    offset: base + p as u64,
                    kind: FrameErrorKind::ImplausibleRecord { caplen, origlen },
                });
            }
            let data_start = p + hlen;
            let Some(data) = buf.get(data_start..data_start + caplen as usize) else {
                break Stop::EndOfBuffer;
            };
            let frac_ns = if NANOS {
                i64::from(ts_frac)
            } else {
                i64::from(ts_frac) * 1000
            };
            on_packet(Packet {
                ts_ns: i64::from(ts_sec) * 1_000_000_000 + frac_ns,
                interface: 0,
                linktype: self.linktype,
                caplen,
                origlen,
                data,
                file_offset: base + p as u64,
            });
            blocks.packets += 1;
            p = data_start + caplen as usize;
        };
        Progress {
            end: p,
            stop,
            blocks,
            state_changed: false,
        }
    }

    /// Whether a plausible record header starts at `p`. Stricter than what [`Self::frame`]
    /// accepts: it is only used to find a starting point inside a range, and a false positive
    /// costs a re-frame while a false negative only moves the start to a later record.
    fn plausible_at(&self, buf: &[u8], p: usize) -> Option<(usize, u32)> {
        let hlen = self.header_len();
        let h = buf.get(p..p + hlen)?;
        let ts_sec = read_u32(h, 0, self.big_endian);
        let ts_frac = read_u32(h, 4, self.big_endian);
        let caplen = read_u32(h, 8, self.big_endian);
        let origlen = read_u32(h, 12, self.big_endian);
        let frac_limit = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        let cap_limit = if self.snaplen == 0 {
            MAX_RECORD_BYTES
        } else {
            self.snaplen.min(MAX_RECORD_BYTES)
        };
        if ts_frac >= frac_limit
            || caplen == 0
            || caplen > cap_limit
            || caplen > origlen
            || origlen > MAX_RECORD_BYTES
        {
            return None;
        }
        Some((p + hlen + caplen as usize, ts_sec))
    }

    /// The first offset in `from..to` where a chain of plausible record headers starts.
    pub(crate) fn find_boundary(&self, buf: &[u8], from: usize, to: usize) -> Option<usize> {
        const CHAIN: usize = 8;
        // Consecutive records of one capture are close in time; a day apart is not a chain.
        const MAX_STEP_S: i64 = 86_400;
        (from..to.min(buf.len())).find(|&start| {
            let mut p = start;
            let mut prev_ts: Option<u32> = None;
            for _ in 0..CHAIN {
                if p == buf.len() {
                    return true; // the chain ran to the end of the data: consistent.
                }
                match self.plausible_at(buf, p) {
                    Some((next, ts)) if next <= buf.len() => {
                        if let Some(prev) = prev_ts
                            && (i64::from(ts) - i64::from(prev)).abs() > MAX_STEP_S
                        {
                            return false;
                        }
                        prev_ts = Some(ts);
                        p = next;
                    }
                    // A header that fits but whose data runs off the end of the buffer is
                    // still a plausible start if it is the last one we can check.
                    Some(_) => return prev_ts.is_some(),
                    None => return false,
                }
            }
            true
        })
    }
}

#[inline(always)]
pub(crate) fn read_u32(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    if big_endian {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

#[inline(always)]
pub(crate) fn read_u16(b: &[u8], at: usize, big_endian: bool) -> u16 {
    let mut w = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        w.copy_from_slice(s);
    }
    if big_endian {
        u16::from_be_bytes(w)
    } else {
        u16::from_le_bytes(w)
    }
}
