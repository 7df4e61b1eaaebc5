//! The format-independent framing interface.

use crate::Packet;
use crate::error::FrameError;
use crate::format::FileFormat;
use crate::pcap::{FILE_HEADER_LEN, PcapParams};
use crate::pcapng::NgState;

/// Why a call to [`Framer::frame`] returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The next record starts at or after the limit.
    Limit,
    /// The buffer ends at (or inside) the record at `Progress::end`: feed more bytes, or, at
    /// the end of the stream, report the leftover bytes as a truncated record.
    EndOfBuffer,
    /// The record at `Progress::end` is corrupt; nothing after it can be framed.
    Error(FrameError),
}

/// Counts of records by kind, for the `captures` table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockCounts {
    /// Packet records (pcap records; pcapng EPB, SPB and OPB).
    pub packets: u64,
    /// pcapng section headers.
    pub sections: u64,
    /// pcapng interface descriptions.
    pub interfaces: u64,
    /// Other pcapng blocks (statistics, name resolution, comments, custom...), skipped.
    pub other: u64,
}

impl BlockCounts {
    /// Add another range's counts.
    pub fn add(&mut self, o: &BlockCounts) {
        self.packets += o.packets;
        self.sections += o.sections;
        self.interfaces += o.interfaces;
        self.other += o.other;
    }
}

/// Result of framing one range.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Index in the buffer just past the last whole record consumed.
    pub end: usize,
    /// Why framing stopped.
    pub stop: Stop,
    /// What was consumed.
    pub blocks: BlockCounts,
    /// A pcapng section or interface block was consumed: ranges framed in parallel after
    /// this one started from a stale state and must be re-framed.
    pub state_changed: bool,
}

/// Frames records of one capture stream. Cheap to clone: a pcap framer is a few constants, a
/// pcapng one the section's interface table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framer {
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Pcap(PcapParams),
    PcapNg(NgState),
}

impl Framer {
    /// A framer for a stream of `format` whose first bytes are `head` (at least the file
    /// header). Returns it with the offset of the first record.
    pub fn new(format: FileFormat, head: &[u8]) -> Result<(Framer, usize), FrameError> {
        match format {
            FileFormat::Pcap {
                big_endian,
                nanos,
                modified,
            } => {
                let params = PcapParams::parse(head, big_endian, nanos, modified)?;
                Ok((
                    Framer {
                        kind: Kind::Pcap(params),
                    },
                    FILE_HEADER_LEN,
                ))
            }
            // pcapng's file header is its first section header block, framed like any other.
            FileFormat::PcapNg => Ok((
                Framer {
                    kind: Kind::PcapNg(NgState::default()),
                },
                0,
            )),
        }
    }

    /// Frame the records in `buf[start..]` that start before `limit`, calling `on_packet` for
    /// each packet. `buf[0]` is at offset `base` of the capture stream (used in packet offsets
    /// and error messages). pcapng section and interface blocks update the framer.
    pub fn frame<'a>(
        &mut self,
        buf: &'a [u8],
        base: u64,
        start: usize,
        limit: usize,
        mut on_packet: impl FnMut(Packet<'a>),
    ) -> Progress {
        match &mut self.kind {
            Kind::Pcap(p) => p.frame(buf, base, start, limit, &mut on_packet),
            Kind::PcapNg(s) => s.frame(buf, base, start, limit, &mut on_packet),
        }
    }

    /// The first offset in `from..to` where a record plausibly starts, judged by a chain of
    /// consistent record headers. `None` if there is none (a record larger than the range, or
    /// corrupt data): the caller frames this range from the previous one's end instead.
    pub fn find_boundary(&self, buf: &[u8], from: usize, to: usize) -> Option<usize> {
        match &self.kind {
            Kind::Pcap(p) => p.find_boundary(buf, from, to),
            Kind::PcapNg(s) => s.find_boundary(buf, from, to),
        }
    }

    /// The pcap snaplen (0 for pcapng, where it is per interface).
    pub fn snaplen(&self) -> u32 {
        match &self.kind {
            Kind::Pcap(p) => p.snaplen,
            Kind::PcapNg(_) => 0,
        }
    }
}
