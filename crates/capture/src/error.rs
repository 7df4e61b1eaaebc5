use std::fmt;

/// A record the framer could not accept. Framing stops there; packets before it were
/// delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// Byte offset of the record in the capture stream.
    pub offset: u64,
    /// What is wrong with it.
    pub kind: FrameErrorKind,
}

/// The ways a record can be unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// The stream ends inside a record (a capture cut off while being written or copied).
    Truncated {
        /// Bytes the record needs.
        needed: u64,
        /// Bytes left in the stream.
        available: u64,
    },
    /// A pcap record header with a length no capture could have produced.
    ImplausibleRecord {
        /// Captured length field.
        caplen: u32,
        /// Original length field.
        origlen: u32,
    },
    /// A pcapng block whose total length is impossible (too small, not a multiple of 4, or
    /// absurdly large).
    BadBlockLength {
        /// Block type.
        block_type: u32,
        /// Total length field.
        len: u32,
    },
    /// A pcapng block whose trailing length copy differs from the leading one.
    BlockLengthMismatch {
        /// Block type.
        block_type: u32,
        /// Leading length.
        head: u32,
        /// Trailing length.
        tail: u32,
    },
    /// A packet block whose captured length does not fit in the block.
    PacketOverrunsBlock {
        /// Block type.
        block_type: u32,
        /// Captured length field.
        caplen: u32,
        /// Room in the block.
        room: u32,
    },
    /// A block the pcapng reader could not parse (section or interface header).
    BadBlock {
        /// Block type.
        block_type: u32,
        /// Why.
        reason: &'static str,
    },
    /// A packet block before any section header (the file is not pcapng from here on).
    NoSection,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte offset {}: ", self.offset)?;
        match &self.kind {
            FrameErrorKind::Truncated { needed, available } => write!(
                f,
                "truncated record: it needs {needed} bytes but the capture ends after {available}"
            ),
            FrameErrorKind::ImplausibleRecord { caplen, origlen } => write!(
                f,
                "corrupt pcap record header (caplen {caplen}, origlen {origlen}); the rest of the file is not readable as records"
            ),
            FrameErrorKind::BadBlockLength { block_type, len } => write!(
                f,
                "pcapng block type 0x{block_type:08x} has impossible total length {len}"
            ),
            FrameErrorKind::BlockLengthMismatch {
                block_type,
                head,
                tail,
            } => write!(
                f,
                "pcapng block type 0x{block_type:08x} is corrupt: leading length {head} != trailing length {tail}"
            ),
            FrameErrorKind::PacketOverrunsBlock {
                block_type,
                caplen,
                room,
            } => write!(
                f,
                "pcapng block type 0x{block_type:08x}: captured length {caplen} does not fit in its block ({room} bytes)"
            ),
            FrameErrorKind::BadBlock { block_type, reason } => {
                write!(f, "pcapng block type 0x{block_type:08x}: {reason}")
            }
            FrameErrorKind::NoSection => write!(f, "pcapng block outside any section"),
        }
    }
}

impl std::error::Error for FrameError {}
