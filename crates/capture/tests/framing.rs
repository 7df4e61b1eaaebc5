//! Framing tests against hand-assembled captures. Every byte layout below follows
//! pcap-savefile(5) and the pcapng specification (draft-ietf-opsawg-pcapng), written out
//! field by field so the expected values are independent of the code under test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wirehouse_capture::{
    Detected, FrameErrorKind, Framer, LINKTYPE_UNKNOWN_INTERFACE, Stop, TS_UNKNOWN, detect,
};

#[derive(Debug, PartialEq, Clone)]
struct Rec {
    ts_ns: i64,
    interface: u32,
    linktype: u32,
    caplen: u32,
    origlen: u32,
    data: Vec<u8>,
    offset: u64,
}

fn frame_all(bytes: &[u8]) -> (Vec<Rec>, wirehouse_capture::Progress) {
    let Detected::Capture(format) = detect(bytes) else {
        panic!("not detected")
    };
    let (mut framer, start) = Framer::new(format, bytes).unwrap();
    let mut out = Vec::new();
    let progress = framer.frame(bytes, 0, start, bytes.len(), |p| {
        out.push(Rec {
            ts_ns: p.ts_ns,
            interface: p.interface,
            linktype: p.linktype,
            caplen: p.caplen,
            origlen: p.origlen,
            data: p.data.to_vec(),
            offset: p.file_offset,
        })
    });
    (out, progress)
}

struct Pcap {
    be: bool,
    bytes: Vec<u8>,
}

impl Pcap {
    fn new(magic: u32, be: bool, snaplen: u32, linktype: u32) -> Pcap {
        let mut p = Pcap { be, bytes: vec![] };
        p.u32(magic);
        p.u16(2);
        p.u16(4);
        p.u32(0); // thiszone
        p.u32(0); // sigfigs
        p.u32(snaplen);
        p.u32(linktype);
        p
    }
    fn u32(&mut self, v: u32) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.bytes.extend_from_slice(&b);
    }
    fn u16(&mut self, v: u16) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.bytes.extend_from_slice(&b);
    }
    fn record(&mut self, sec: u32, frac: u32, data: &[u8], origlen: u32) -> u64 {
        let at = self.bytes.len() as u64;
        self.u32(sec);
        self.u32(frac);
        self.u32(data.len() as u32);
        self.u32(origlen);
        self.bytes.extend_from_slice(data);
        at
    }
}

#[test]
fn pcap_little_endian_microseconds() {
    let mut p = Pcap::new(0xa1b2c3d4, false, 65535, 1);
    let o1 = p.record(1_700_000_000, 123_456, &[1, 2, 3, 4], 60);
    let o2 = p.record(1_700_000_001, 999_999, &[5; 10], 10);
    let (recs, progress) = frame_all(&p.bytes);
    assert_eq!(progress.stop, Stop::Limit);
    assert_eq!(progress.end, p.bytes.len());
    assert_eq!(o1, 24);
    assert_eq!(
        recs,
        vec![
            Rec {
                ts_ns: 1_700_000_000_123_456_000,
                interface: 0,
                linktype: 1,
                caplen: 4,
                origlen: 60,
                data: vec![1, 2, 3, 4],
                offset: 24
            },
            Rec {
                ts_ns: 1_700_000_001_999_999_000,
                interface: 0,
                linktype: 1,
                caplen: 10,
                origlen: 10,
                data: vec![5; 10],
                offset: o2
            },
        ]
    );
}

#[test]
fn pcap_big_endian_nanoseconds_and_fcs_bits_in_linktype() {
    // Link-type field with FCS-present bits (bits 26-31) set: the type is the low 16 bits.
    let mut p = Pcap::new(0xa1b23c4d, true, 262144, (1 << 28) | 101);
    assert_eq!(&p.bytes[..4], &[0xa1, 0xb2, 0x3c, 0x4d]);
    p.record(10, 999_999_999, &[0x45, 0, 0, 20], 20);
    let (recs, _) = frame_all(&p.bytes);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].ts_ns, 10_999_999_999);
    assert_eq!(recs[0].linktype, 101);
    assert_eq!(recs[0].caplen, 4);
    assert_eq!(recs[0].origlen, 20);
}

#[test]
fn pcap_modified_format_has_24_byte_record_headers() {
    let mut p = Pcap::new(0xa1b2cd34, false, 65535, 1);
    // Record header: ts_sec, ts_usec, caplen, len, then ifindex(4) protocol(2) pkt_type(1) pad(1).
    p.u32(5);
    p.u32(6);
    p.u32(3);
    p.u32(3);
    p.u32(2);
    p.u16(0x0800);
    p.bytes.extend_from_slice(&[0, 0]);
    p.bytes.extend_from_slice(b"abc");
    p.record(7, 8, b"", 0); // an 16-byte header would be misread; 24 must be used
    let (recs, progress) = frame_all(&p.bytes);
    // The second "record" above is only 16 bytes, so it is a truncated 24-byte header.
    assert_eq!(progress.stop, Stop::EndOfBuffer);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].data, b"abc");
    assert_eq!(recs[0].ts_ns, 5_000_006_000);
}

#[test]
fn pcap_truncated_last_record_stops_at_its_start() {
    let mut p = Pcap::new(0xa1b2c3d4, false, 65535, 1);
    p.record(1, 0, &[9; 100], 100);
    let second = p.record(2, 0, &[8; 100], 100);
    p.bytes.truncate(p.bytes.len() - 30);
    let (recs, progress) = frame_all(&p.bytes);
    assert_eq!(recs.len(), 1);
    assert_eq!(progress.stop, Stop::EndOfBuffer);
    assert_eq!(progress.end as u64, second);
}

#[test]
fn pcap_absurd_caplen_is_an_error_with_offset() {
    let mut p = Pcap::new(0xa1b2c3d4, false, 65535, 1);
    p.record(1, 0, &[9; 10], 10);
    let bad = p.bytes.len() as u64;
    p.u32(2);
    p.u32(0);
    p.u32(0x7fff_0000); // caplen of 2 GiB
    p.u32(0x7fff_0000);
    p.bytes.extend_from_slice(&[0; 64]);
    let (recs, progress) = frame_all(&p.bytes);
    assert_eq!(recs.len(), 1);
    match progress.stop {
        Stop::Error(e) => {
            assert_eq!(e.offset, bad);
            assert!(matches!(e.kind, FrameErrorKind::ImplausibleRecord { .. }));
            assert!(e.to_string().contains(&format!("byte offset {bad}")));
        }
        other => panic!("{other:?}"),
    }
}

/// pcapng writer for tests: every block is type, total length, body (padded to 4), length.
struct Ng {
    be: bool,
    bytes: Vec<u8>,
}

impl Ng {
    fn new() -> Ng {
        Ng {
            be: false,
            bytes: vec![],
        }
    }
    fn w32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn w16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, block_type: u32, body: &[u8]) -> u64 {
        let at = self.bytes.len() as u64;
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        let t = self.w32(block_type);
        let l = self.w32(len);
        self.bytes.extend_from_slice(&t);
        self.bytes.extend_from_slice(&l);
        self.bytes.extend_from_slice(&body);
        self.bytes.extend_from_slice(&l);
        at
    }
    fn shb(&mut self, be: bool) -> u64 {
        self.be = be;
        let mut body = vec![];
        body.extend_from_slice(&self.w32(0x1A2B3C4D));
        body.extend_from_slice(&self.w16(1));
        body.extend_from_slice(&self.w16(0));
        body.extend_from_slice(&(-1i64).to_le_bytes()); // section length: unknown
        self.block(0x0A0D0D0A, &body)
    }
    fn option(&self, code: u16, value: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&self.w16(code));
        out.extend_from_slice(&self.w16(value.len() as u16));
        out.extend_from_slice(value);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    fn idb(&mut self, linktype: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) {
        let mut body = vec![];
        body.extend_from_slice(&self.w16(linktype));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&self.w32(snaplen));
        let mut opts = vec![];
        if let Some(r) = tsresol {
            self.option(9, &[r], &mut opts);
        }
        if let Some(o) = tsoffset {
            let v = if self.be {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            self.option(14, &v, &mut opts);
        }
        if !opts.is_empty() {
            self.option(0, &[], &mut opts); // opt_endofopt
        }
        body.extend_from_slice(&opts);
        self.block(1, &body);
    }
    fn epb(&mut self, if_id: u32, ts: u64, data: &[u8], origlen: u32) -> u64 {
        let mut body = vec![];
        body.extend_from_slice(&self.w32(if_id));
        body.extend_from_slice(&self.w32((ts >> 32) as u32));
        body.extend_from_slice(&self.w32(ts as u32));
        body.extend_from_slice(&self.w32(data.len() as u32));
        body.extend_from_slice(&self.w32(origlen));
        body.extend_from_slice(data);
        self.block(6, &body)
    }
    fn spb(&mut self, data: &[u8], origlen: u32) -> u64 {
        let mut body = vec![];
        body.extend_from_slice(&self.w32(origlen));
        body.extend_from_slice(data);
        self.block(3, &body)
    }
    fn opb(&mut self, if_id: u16, ts: u64, data: &[u8]) -> u64 {
        let mut body = vec![];
        body.extend_from_slice(&self.w16(if_id));
        body.extend_from_slice(&self.w16(0)); // drops
        body.extend_from_slice(&self.w32((ts >> 32) as u32));
        body.extend_from_slice(&self.w32(ts as u32));
        body.extend_from_slice(&self.w32(data.len() as u32));
        body.extend_from_slice(&self.w32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(2, &body)
    }
}

#[test]
fn pcapng_sections_interfaces_resolutions_and_block_kinds() {
    let mut ng = Ng::new();
    ng.shb(false);
    ng.idb(1, 65535, Some(9), None); // Ethernet, nanoseconds
    ng.idb(113, 128, None, None); // Linux SLL, default microseconds, snaplen 128
    let e1 = ng.epb(0, 1_600_000_000_123_456_789, &[1, 2, 3], 3);
    let e2 = ng.epb(1, 1_600_000_000_000_001, &[4, 5], 70);
    ng.block(5, &[0; 16]); // interface statistics: skipped
    ng.block(0x0000_0BAD, &[0; 8]); // custom block: skipped
    // Second section, big-endian: the interface table starts over.
    ng.shb(true);
    ng.idb(101, 0, Some(0x80 | 10), Some(100)); // raw IP, 2^-10 s units, +100 s offset
    let e3 = ng.epb(0, 3 * 1024 + 512, &[0x45; 5], 5);
    let o1 = ng.opb(0, 2048, &[7; 6]);
    let s1 = ng.spb(&[6; 9], 9);
    let e4 = ng.epb(7, 1, &[1], 1); // interface 7 does not exist in this section
    let (recs, progress) = frame_all(&ng.bytes);
    assert_eq!(progress.stop, Stop::Limit);
    assert_eq!(progress.blocks.sections, 2);
    assert_eq!(progress.blocks.interfaces, 3);
    assert_eq!(progress.blocks.other, 2);
    assert_eq!(progress.blocks.packets, 6);
    assert!(progress.state_changed);
    let got: Vec<(i64, u32, u32, u32, u32, u64)> = recs
        .iter()
        .map(|r| {
            (
                r.ts_ns,
                r.interface,
                r.linktype,
                r.caplen,
                r.origlen,
                r.offset,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1_600_000_000_123_456_789, 0, 1, 3, 3, e1),
            (1_600_000_000_000_001_000, 1, 113, 2, 70, e2),
            // 3.5 s + 100 s offset
            (103_500_000_000, 0, 101, 5, 5, e3),
            (102_000_000_000, 0, 101, 6, 6, o1),
            (TS_UNKNOWN, 0, 101, 9, 9, s1),
            (1_000, 7, LINKTYPE_UNKNOWN_INTERFACE, 1, 1, e4),
        ]
    );
    assert_eq!(recs[0].data, vec![1, 2, 3]);
    assert_eq!(recs[4].data, vec![6; 9]); // SPB padding trimmed by origlen
}

#[test]
fn pcapng_spb_respects_snaplen_of_first_interface() {
    let mut ng = Ng::new();
    ng.shb(false);
    ng.idb(1, 4, None, None);
    ng.spb(&[1, 2, 3, 4, 5, 6, 7, 8], 100);
    let (recs, _) = frame_all(&ng.bytes);
    assert_eq!(recs[0].caplen, 4);
    assert_eq!(recs[0].origlen, 100);
    assert_eq!(recs[0].data, vec![1, 2, 3, 4]);
}

#[test]
fn pcapng_impossible_and_mismatched_lengths_are_errors() {
    let mut ng = Ng::new();
    ng.shb(false);
    ng.idb(1, 0, None, None);
    ng.epb(0, 1, &[1, 2, 3, 4], 4);
    let bad = ng.bytes.len();
    ng.epb(0, 2, &[1, 2, 3, 4], 4);
    let mut odd = ng.bytes.clone();
    odd[bad + 4] = 13; // total length 13: not a multiple of 4
    let (recs, progress) = frame_all(&odd);
    assert_eq!(recs.len(), 1);
    match progress.stop {
        Stop::Error(e) => {
            assert_eq!(e.offset, bad as u64);
            assert!(matches!(
                e.kind,
                FrameErrorKind::BadBlockLength { len: 13, .. }
            ));
        }
        other => panic!("{other:?}"),
    }
    let mut mismatch = ng.bytes.clone();
    let n = mismatch.len();
    mismatch[n - 4] = 0x99;
    let (recs, progress) = frame_all(&mismatch);
    assert_eq!(recs.len(), 1);
    assert!(matches!(
        progress.stop,
        Stop::Error(ref e) if matches!(e.kind, FrameErrorKind::BlockLengthMismatch { .. })
    ));
    // caplen larger than the block
    let mut overrun = ng.bytes.clone();
    overrun[bad + 20] = 200;
    let (_, progress) = frame_all(&overrun);
    assert!(matches!(
        progress.stop,
        Stop::Error(ref e) if matches!(e.kind, FrameErrorKind::PacketOverrunsBlock { caplen: 200, .. })
    ));
}

#[test]
fn pcapng_block_before_section_is_an_error() {
    // Starts with an SHB magic so it is detected, but the byte-order magic is garbage.
    let mut bytes = vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4];
    bytes.extend_from_slice(&[0; 16]);
    let (recs, progress) = frame_all(&bytes);
    assert!(recs.is_empty());
    assert!(matches!(progress.stop, Stop::Error(ref e) if e.offset == 0));
}

/// Deterministic pseudo-random sizes for boundary tests.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn pcap_boundary_search_finds_the_next_record_from_any_offset() {
    let mut p = Pcap::new(0xa1b2c3d4, false, 2000, 1);
    let mut seed = 7;
    let mut starts = vec![];
    for i in 0..300 {
        let len = 40 + (lcg(&mut seed) % 1500) as usize;
        // Payload bytes that look like record headers would be the hard case: use
        // small little-endian numbers.
        let data: Vec<u8> = (0..len).map(|j| ((i + j) % 7) as u8).collect();
        starts.push(p.record(
            1_700_000_000 + i as u32,
            (i * 1000) as u32,
            &data,
            len as u32 + 4,
        ) as usize);
    }
    let Detected::Capture(format) = detect(&p.bytes) else {
        panic!()
    };
    let (framer, _) = Framer::new(format, &p.bytes).unwrap();
    for from in (24..p.bytes.len()).step_by(37) {
        let expected = starts.iter().copied().find(|&s| s >= from);
        let found = framer.find_boundary(&p.bytes, from, p.bytes.len());
        assert_eq!(found, expected, "from {from}");
    }
}

#[test]
fn framing_in_ranges_matches_framing_whole() {
    let mut ng = Ng::new();
    ng.shb(false);
    ng.idb(1, 0, Some(9), None);
    let header_end = ng.bytes.len();
    let mut seed = 3;
    for i in 0..500u64 {
        let len = 1 + (lcg(&mut seed) % 300) as usize;
        ng.epb(0, i * 1_000_000, &vec![(i % 251) as u8; len], len as u32);
    }
    let (whole, _) = frame_all(&ng.bytes);
    let Detected::Capture(format) = detect(&ng.bytes) else {
        panic!()
    };
    let (mut framer, _) = Framer::new(format, &ng.bytes).unwrap();
    // Frame the section + interface blocks first, as the engine does at a window start.
    let mut got = vec![];
    let first = framer.frame(&ng.bytes, 0, 0, header_end, |_| {});
    assert_eq!(first.end, header_end);
    let mut pos = first.end;
    let cut = 4096;
    while pos < ng.bytes.len() {
        let limit = (pos + cut).min(ng.bytes.len());
        let mut range_framer = framer.clone();
        let start = range_framer
            .find_boundary(&ng.bytes, pos, limit)
            .unwrap_or(pos);
        assert_eq!(
            start, pos,
            "the range end of the previous range is a boundary"
        );
        let pr = range_framer.frame(&ng.bytes, 0, start, limit, |p| got.push(p.ts_ns));
        pos = pr.end;
    }
    assert_eq!(got, whole.iter().map(|r| r.ts_ns).collect::<Vec<_>>());
}
