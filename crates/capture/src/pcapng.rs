//! pcapng block walking.
//!
//! The state a reader needs at any point of a pcapng stream is the current section's byte
//! order and its interface table; [`NgState`] is exactly that, so a range of the file can be
//! framed on another core given the state at the range's start.

use crate::error::{FrameError, FrameErrorKind};
use crate::framer::{BlockCounts, Progress, Stop};
use crate::pcap::{read_u16, read_u32};
use crate::prefetch::ReadAhead;
use crate::{LINKTYPE_UNKNOWN_INTERFACE, MAX_RECORD_BYTES, Packet};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const OPB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// Timestamp sentinel for Simple Packet Blocks, which carry none. The engine gives such
/// packets the capture clock (the latest timestamp before them).
pub const TS_UNKNOWN: i64 = i64::MIN;

/// One interface description: what every packet block naming it inherits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interface {
    pub(crate) linktype: u32,
    pub(crate) snaplen: u32,
    /// Timestamp units per second (`if_tsresol`; 10^6 when absent).
    pub(crate) units_per_sec: u64,
    /// `if_tsoffset`, seconds added to every timestamp.
    pub(crate) offset_s: i64,
}

impl Interface {
    fn ts_ns(&self, raw: u64) -> i64 {
        let ns = match self.units_per_sec {
            1_000_000 => i128::from(raw) * 1000,
            1_000_000_000 => i128::from(raw),
            units => i128::from(raw) * 1_000_000_000 / i128::from(units.max(1)),
        };
        let total = ns + i128::from(self.offset_s) * 1_000_000_000;
        total.clamp(i128::from(i64::MIN + 1), i128::from(i64::MAX)) as i64
    }
}

/// Section byte order and interface table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NgState {
    /// `None` before the first section header.
    pub(crate) big_endian: Option<bool>,
    pub(crate) interfaces: Vec<Interface>,
}

impl NgState {
    pub(crate) fn frame<'a>(
        &mut self,
        buf: &'a [u8],
        base: u64,
        start: usize,
        limit: usize,
        on_packet: &mut dyn FnMut(Packet<'a>),
    ) -> Progress {
        let mut p = start;
        let mut blocks = BlockCounts::default();
        let mut state_changed = false;
        let mut ahead = ReadAhead::new(p);
        let stop = loop {
            if p >= limit {
                break Stop::Limit;
            }
            ahead.advance(buf, p);
            let offset = base + p as u64;
            let Some(head) = buf.get(p..p + 12) else {
                break Stop::EndOfBuffer;
            };
            let (block_type, big_endian) = match self.block_head(head) {
                Ok(v) => v,
                Err(kind) => break Stop::Error(FrameError { offset, kind }),
            };
            let len = read_u32(head, 4, big_endian);
            if len < 12 || !len.is_multiple_of(4) || len > MAX_RECORD_BYTES + 4096 {
                break Stop::Error(FrameError {
                    offset,
                    kind: FrameErrorKind::BadBlockLength { block_type, len },
                });
            }
            let Some(block) = buf.get(p..p + len as usize) else {
                break Stop::EndOfBuffer;
            };
            let tail = read_u32(block, len as usize - 4, big_endian);
            if tail != len {
                break Stop::Error(FrameError {
                    offset,
                    kind: FrameErrorKind::BlockLengthMismatch {
                        block_type,
                        head: len,
                        tail,
                    },
                });
            }
            let body = &block[8..len as usize - 4];
            let result = match block_type {
                SHB => {
                    state_changed = true;
                    blocks.sections += 1;
                    self.section(block, big_endian)
                }
                IDB => {
                    state_changed = true;
                    blocks.interfaces += 1;
                    self.interface(block, big_endian)
                }
                EPB | OPB => {
                    blocks.packets += 1;
                    self.packet_block(block_type, body, big_endian, offset, on_packet)
                }
                SPB => {
                    blocks.packets += 1;
                    self.simple_packet(body, big_endian, offset, on_packet)
                }
                _ => {
                    blocks.other += 1;
                    Ok(())
                }
            };
            if let Err(kind) = result {
                break Stop::Error(FrameError { offset, kind });
            }
            p += len as usize;
        };
        Progress {
            end: p,
            stop,
            blocks,
            state_changed,
        }
    }

    /// Block type and the byte order to read it with. A section header announces its own
    /// byte order; every other block uses the current section's.
    fn block_head(&self, head: &[u8]) -> Result<(u32, bool), FrameErrorKind> {
        // The SHB type is a palindrome, so it reads the same in either order.
        if read_u32(head, 0, false) == SHB {
            let bom = read_u32(head, 8, false);
            return if bom == BYTE_ORDER_MAGIC {
                Ok((SHB, false))
            } else if bom.swap_bytes() == BYTE_ORDER_MAGIC {
                Ok((SHB, true))
            } else {
                Err(FrameErrorKind::BadBlock {
                    block_type: SHB,
                    reason: "section header with an unknown byte-order magic",
                })
            };
        }
        match self.big_endian {
            Some(be) => Ok((read_u32(head, 0, be), be)),
            None => Err(FrameErrorKind::NoSection),
        }
    }

    fn section(&mut self, block: &[u8], big_endian: bool) -> Result<(), FrameErrorKind> {
        let parsed = if big_endian {
            pcap_parser::parse_sectionheaderblock_be(block)
        } else {
            pcap_parser::parse_sectionheaderblock_le(block)
        };
        match parsed {
            Ok((_, shb)) if shb.major_version == 1 => {
                self.big_endian = Some(big_endian);
                self.interfaces.clear();
                Ok(())
            }
            Ok(_) => Err(FrameErrorKind::BadBlock {
                block_type: SHB,
                reason: "unsupported pcapng major version (only 1 exists)",
            }),
            Err(_) => Err(FrameErrorKind::BadBlock {
                block_type: SHB,
                reason: "unreadable section header (bad options)",
            }),
        }
    }

    fn interface(&mut self, block: &[u8], big_endian: bool) -> Result<(), FrameErrorKind> {
        let parsed = if big_endian {
            pcap_parser::parse_interfacedescriptionblock_be(block)
        } else {
            pcap_parser::parse_interfacedescriptionblock_le(block)
        };
        let idb = parsed
            .map(|(_, idb)| idb)
            .map_err(|_| FrameErrorKind::BadBlock {
                block_type: IDB,
                reason: "unreadable interface description (bad options)",
            })?;
        // if_tsresol and if_tsoffset are decoded here rather than with pcap-parser's helpers:
        // its resolution helper rejects every power-of-two resolution, and its offset helper
        // always reads little-endian.
        let mut units_per_sec = 1_000_000u64;
        let mut offset_s = 0i64;
        for opt in &idb.options {
            let v = opt.value();
            match opt.code.0 {
                9 if !v.is_empty() => {
                    units_per_sec = ts_units(v[0]).ok_or(FrameErrorKind::BadBlock {
                        block_type: IDB,
                        reason: "if_tsresol finer than the timestamp field can hold",
                    })?;
                }
                14 if v.len() >= 8 => {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&v[..8]);
                    offset_s = if big_endian {
                        i64::from_be_bytes(w)
                    } else {
                        i64::from_le_bytes(w)
                    };
                }
                _ => {}
            }
        }
        self.interfaces.push(Interface {
            linktype: u32::from(idb.linktype.0 as u16),
            snaplen: idb.snaplen,
            units_per_sec,
            offset_s,
        });
        Ok(())
    }

    fn packet_block<'a>(
        &self,
        block_type: u32,
        body: &'a [u8],
        be: bool,
        offset: u64,
        on_packet: &mut dyn FnMut(Packet<'a>),
    ) -> Result<(), FrameErrorKind> {
        // EPB: if_id u32; OPB (obsolete, pre-1.0 writers): if_id u16 + drops u16. The rest
        // (timestamp high/low, caplen, origlen, data) is laid out the same.
        if body.len() < 20 {
            return Err(FrameErrorKind::BadBlockLength {
                block_type,
                len: body.len() as u32 + 12,
            });
        }
        let if_id = if block_type == EPB {
            read_u32(body, 0, be)
        } else {
            u32::from(read_u16(body, 0, be))
        };
        let ts_raw = (u64::from(read_u32(body, 4, be)) << 32) | u64::from(read_u32(body, 8, be));
        let caplen = read_u32(body, 12, be);
        let origlen = read_u32(body, 16, be);
        let room = body.len() as u32 - 20;
        if caplen > room {
            return Err(FrameErrorKind::PacketOverrunsBlock {
                block_type,
                caplen,
                room,
            });
        }
        let data = &body[20..20 + caplen as usize];
        let (linktype, ts_ns) = match self.interfaces.get(if_id as usize) {
            Some(iface) => (iface.linktype, iface.ts_ns(ts_raw)),
            None => (LINKTYPE_UNKNOWN_INTERFACE, Interface::default_ts(ts_raw)),
        };
        on_packet(Packet {
            ts_ns,
            interface: if_id,
            linktype,
            caplen,
            origlen,
            data,
            file_offset: offset,
        });
        Ok(())
    }

    fn simple_packet<'a>(
        &self,
        body: &'a [u8],
        be: bool,
        offset: u64,
        on_packet: &mut dyn FnMut(Packet<'a>),
    ) -> Result<(), FrameErrorKind> {
        if body.len() < 4 {
            return Err(FrameErrorKind::BadBlockLength {
                block_type: SPB,
                len: body.len() as u32 + 12,
            });
        }
        let origlen = read_u32(body, 0, be);
        let room = &body[4..];
        // An SPB's captured length is implied: the original length, cut by the first
        // interface's snaplen and by the block (which includes padding).
        let iface = self.interfaces.first();
        let mut caplen = origlen.min(room.len() as u32);
        if let Some(i) = iface
            && i.snaplen != 0
        {
            caplen = caplen.min(i.snaplen);
        }
        on_packet(Packet {
            ts_ns: TS_UNKNOWN,
            interface: 0,
            linktype: iface.map_or(LINKTYPE_UNKNOWN_INTERFACE, |i| i.linktype),
            caplen,
            origlen,
            data: &room[..caplen as usize],
            file_offset: offset,
        });
        Ok(())
    }

    /// Whether a plausible block starts at `p` (4-byte aligned), returning its end.
    fn plausible_at(&self, buf: &[u8], p: usize) -> Option<usize> {
        let head = buf.get(p..p + 12)?;
        let (block_type, be) = self.block_head(head).ok()?;
        if !matches!(
            block_type,
            SHB | IDB | OPB | SPB | 4 | 5 | EPB | 9 | 10 | 0xBAD | 0x4000_0BAD
        ) {
            return None;
        }
        let len = read_u32(head, 4, be);
        if len < 12 || !len.is_multiple_of(4) || len > MAX_RECORD_BYTES {
            return None;
        }
        let end = p + len as usize;
        let block = buf.get(p..end)?;
        if read_u32(block, len as usize - 4, be) != len {
            return None;
        }
        if block_type == EPB {
            let if_id = read_u32(block, 8, be);
            let caplen = read_u32(block, 20, be);
            if if_id as usize >= self.interfaces.len() || caplen > len.saturating_sub(32) {
                return None;
            }
        }
        Some(end)
    }

    pub(crate) fn find_boundary(&self, buf: &[u8], from: usize, to: usize) -> Option<usize> {
        const CHAIN: usize = 4;
        let first = from.next_multiple_of(4);
        (first..to.min(buf.len())).step_by(4).find(|&start| {
            let mut p = start;
            for _ in 0..CHAIN {
                if p == buf.len() {
                    return true;
                }
                match self.plausible_at(buf, p) {
                    Some(end) => p = end,
                    None => return p != start && buf.len() - p < 12,
                }
            }
            true
        })
    }
}

impl Interface {
    /// Timestamp of a packet whose interface is missing: the default resolution (µs).
    fn default_ts(raw: u64) -> i64 {
        Interface {
            linktype: LINKTYPE_UNKNOWN_INTERFACE,
            snaplen: 0,
            units_per_sec: 1_000_000,
            offset_s: 0,
        }
        .ts_ns(raw)
    }
}

/// Units per second for an `if_tsresol` byte: 10^-n, or 2^-n when the high bit is set.
fn ts_units(resol: u8) -> Option<u64> {
    if resol & 0x80 == 0 {
        10u64.checked_pow(u32::from(resol))
    } else {
        1u64.checked_shl(u32::from(resol & 0x7f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_resolution_covers_powers_of_ten_and_two() {
        assert_eq!(ts_units(6), Some(1_000_000));
        assert_eq!(ts_units(9), Some(1_000_000_000));
        assert_eq!(ts_units(0x80 | 10), Some(1024));
        assert_eq!(ts_units(0x80 | 63), Some(1 << 63));
        assert_eq!(ts_units(20), None);
    }

    #[test]
    fn power_of_two_timestamps_convert_exactly() {
        let iface = Interface {
            linktype: 1,
            snaplen: 0,
            units_per_sec: 1024,
            offset_s: 0,
        };
        // 1536 units of 1/1024 s = 1.5 s.
        assert_eq!(iface.ts_ns(1536), 1_500_000_000);
        let with_offset = Interface {
            offset_s: -1,
            ..iface
        };
        assert_eq!(with_offset.ts_ns(1536), 500_000_000);
    }
}
