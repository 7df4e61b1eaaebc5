//! Recognising a capture by its first bytes.

/// A compression wrapper around a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`.pcap.gz`, as tcpdump -w - | gzip writes and Zeek's test traces ship).
    Gzip,
    /// Zstandard (`.pcap.zst`).
    Zstd,
}

impl Compression {
    /// Short name for the `captures.format` column.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// The container format of an (uncompressed) capture stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Classic libpcap.
    Pcap {
        /// Header and records are big-endian.
        big_endian: bool,
        /// Timestamps are in nanoseconds (magic 0xa1b23c4d) rather than microseconds.
        nanos: bool,
        /// Kuznetzov's "modified" pcap: 8 more bytes per record header.
        modified: bool,
    },
    /// pcapng.
    PcapNg,
}

impl FileFormat {
    /// Name for the `captures.format` column.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Pcap { modified: true, .. } => "pcap-modified",
            FileFormat::Pcap { nanos: true, .. } => "pcap-ns",
            FileFormat::Pcap { .. } => "pcap",
            FileFormat::PcapNg => "pcapng",
        }
    }
}

/// What the first bytes of a file say it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detected {
    /// A capture we can frame.
    Capture(FileFormat),
    /// A compressed stream; detect again on the decompressed bytes.
    Compressed(Compression),
    /// Not something we read, with a message saying what it appears to be.
    NotCapture(String),
}

/// Recognise a capture from its first bytes (at least 4 are needed; 8 to name a snoop file).
pub fn detect(head: &[u8]) -> Detected {
    if head.is_empty() {
        return Detected::NotCapture("empty file (0 bytes)".into());
    }
    if head.len() < 4 {
        return Detected::NotCapture(format!(
            "file too short to be a capture ({} bytes)",
            head.len()
        ));
    }
    let m = [head[0], head[1], head[2], head[3]];
    let pcap = |big_endian, nanos, modified| {
        Detected::Capture(FileFormat::Pcap {
            big_endian,
            nanos,
            modified,
        })
    };
    match m {
        [0xd4, 0xc3, 0xb2, 0xa1] => pcap(false, false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => pcap(true, false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => pcap(false, true, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => pcap(true, true, false),
        [0x34, 0xcd, 0xb2, 0xa1] => pcap(false, false, true),
        [0xa1, 0xb2, 0xcd, 0x34] => pcap(true, false, true),
        [0x0a, 0x0d, 0x0d, 0x0a] => Detected::Capture(FileFormat::PcapNg),
        [0x1f, 0x8b, _, _] => Detected::Compressed(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd] => Detected::Compressed(Compression::Zstd),
        _ => Detected::NotCapture(describe_unknown(head)),
    }
}

fn describe_unknown(head: &[u8]) -> String {
    let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let what = if head.starts_with(b"snoop\0\0\0") {
        "a Solaris snoop capture, which is not supported (convert it with `editcap -F pcap`)"
    } else if head.starts_with(b"BZh") {
        "bzip2-compressed data, which is not supported (decompress it first)"
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        "xz-compressed data, which is not supported (decompress it first)"
    } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        "lz4-compressed data, which is not supported (decompress it first)"
    } else if head.starts_with(b"PK\x03\x04") {
        "a zip archive, not a capture"
    } else if head
        .iter()
        .take(64)
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "text, not a capture"
    } else {
        "not a pcap or pcapng capture"
    };
    format!("unknown magic 0x{magic:08x} at byte offset 0: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_every_pcap_magic() {
        // Magic numbers as libpcap's savefile.c and pcap-savefile(5) define them, in file
        // byte order.
        let cases: [([u8; 4], bool, bool, bool); 6] = [
            ([0xd4, 0xc3, 0xb2, 0xa1], false, false, false),
            ([0xa1, 0xb2, 0xc3, 0xd4], true, false, false),
            ([0x4d, 0x3c, 0xb2, 0xa1], false, true, false),
            ([0xa1, 0xb2, 0x3c, 0x4d], true, true, false),
            ([0x34, 0xcd, 0xb2, 0xa1], false, false, true),
            ([0xa1, 0xb2, 0xcd, 0x34], true, false, true),
        ];
        for (magic, big_endian, nanos, modified) in cases {
            assert_eq!(
                detect(&magic),
                Detected::Capture(FileFormat::Pcap {
                    big_endian,
                    nanos,
                    modified
                })
            );
        }
    }

    #[test]
    fn recognises_pcapng_and_compression() {
        assert_eq!(
            detect(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]),
            Detected::Capture(FileFormat::PcapNg)
        );
        assert_eq!(
            detect(&[0x1f, 0x8b, 8, 0]),
            Detected::Compressed(Compression::Gzip)
        );
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Detected::Compressed(Compression::Zstd)
        );
    }

    #[test]
    fn names_what_it_refuses() {
        let msg = |b: &[u8]| match detect(b) {
            Detected::NotCapture(m) => m,
            other => panic!("{other:?}"),
        };
        assert!(msg(b"").contains("empty"));
        assert!(msg(b"ab").contains("too short"));
        assert!(msg(b"snoop\0\0\0\0\0\0\x02").contains("snoop"));
        assert!(msg(b"hello world, this is text\n").contains("text"));
        assert!(msg(&[6, 0, 0, 0, 1, 2, 3, 4]).contains("0x06000000"));
    }
}
