//! Capture framing: turns the bytes of a pcap or pcapng file into packet views.
//!
//! The unit of work is a *byte range* of the capture stream. [`Framer::frame`] walks the
//! records of a range and hands each one to a callback as a zero-copy [`Packet`]; the engine
//! cuts a file into windows and each window into ranges framed on different cores.
//! [`Framer::find_boundary`] finds the first record that starts inside a range without having
//! framed what came before it (pcap records are not aligned and carry no sync marker, so this
//! is a plausibility search; callers verify it against the previous range's real end).
//!
//! Formats are recognised by their magic bytes, never by file extension ([`detect`]):
//! classic pcap in both byte orders with micro- or nanosecond timestamps, the "modified"
//! (Kuznetzov) pcap variant, and pcapng with any number of sections (each with its own byte
//! order) and interfaces (each with its own link type, `if_tsresol` and `if_tsoffset`).
//! Gzip and zstd compressed captures are recognised too; [`source`] streams them through a
//! decoder instead of mapping them.
//!
//! Errors carry the byte offset of the offending record ([`FrameError`]); everything framed
//! before an error has already been handed to the callback, so nothing parsed is lost.
//!
//! pcap-parser does the header work (pcap file header, pcapng section and interface
//! blocks); the per-record loops are ours because they must validate lengths before trusting
//! them, resynchronise, and run at memory bandwidth.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod format;
mod framer;
mod pcap;
mod pcapng;
mod prefetch;
pub mod source;

pub use error::{FrameError, FrameErrorKind};
pub use format::{Compression, Detected, FileFormat, detect};
pub use framer::{BlockCounts, Framer, Progress, Stop};
pub use pcapng::TS_UNKNOWN;
pub use prefetch::{prefetch, prefetch_bytes};

/// Largest record we accept. Real captures top out around 256 KiB (BIG TCP, GRO on
/// loopback); anything past 16 MiB is a corrupt length field, and trusting it would make us
/// swallow the rest of the file as one packet.
pub const MAX_RECORD_BYTES: u32 = 16 << 20;

/// Link type reported for a packet whose pcapng interface id has no interface description
/// block. Decode classifies such packets as malformed.
pub const LINKTYPE_UNKNOWN_INTERFACE: u32 = u32::MAX;

/// One captured packet: a view into the capture's bytes plus its record metadata.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Capture timestamp in nanoseconds since the Unix epoch (UTC).
    pub ts_ns: i64,
    /// Interface index (pcapng); 0 for pcap.
    pub interface: u32,
    /// Link-layer type of the interface (LINKTYPE_* number, FCS bits stripped).
    pub linktype: u32,
    /// Bytes captured (`data.len()`).
    pub caplen: u32,
    /// Length of the packet on the wire.
    pub origlen: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Offset of the record (its header) in the capture stream: the file offset for
    /// uncompressed files, the offset in the decompressed stream for compressed ones.
    pub file_offset: u64,
}
