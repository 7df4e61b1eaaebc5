//! Damaged captures, made on purpose: seeded mutations of the shipped recordings, in pcap and
//! in pcapng, run through the whole binary.
//!
//! Archives that users point wirehouse at hold files cut short by a full disk, blocks a
//! crashed writer left half done, and bytes flipped on the way. The promise is that such a
//! file gives a clear error with its byte offset, never a panic, and that every packet before
//! the fault is still in the tables. The expected figures here come from the test's own record
//! walk over the undamaged file (a few lines of format reading that share no code with
//! wirehouse's framer), not from wirehouse: which record a byte offset falls in, how many whole
//! records precede a cut, where a damaged block starts.
//!
//! A campaign of the same kind on 2026-12-07 (28,000 random mutations of the shared reference
//! captures, `analyze` at 1 and 2 threads and `flows`) found no panic; these tests keep it so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{FATES, Row, Value, repo, rows, tmp, wirehouse};

/// xorshift64*: a seeded generator, so that a failing case can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A capture in one of the two formats, with where each record (pcap) or packet block
/// (pcapng) starts and ends.
struct Capture {
    name: &'static str,
    bytes: Vec<u8>,
    /// `(start, end)` of every record or enhanced packet block, in file order.
    records: Vec<(usize, usize)>,
    /// Offset of a record's length field within the record (pcap: `incl_len`; pcapng: the
    /// block's total length).
    length_field: usize,
    ext: &'static str,
}

/// One classic pcap record: its header fields and data.
struct Record {
    ts_sec: u32,
    ts_usec: u32,
    orig_len: u32,
    data: Vec<u8>,
}

/// Read a little-endian microsecond pcap (what the shipped recordings are), keeping at most
/// `limit` records: the whole file header, then 16-byte record headers and their data.
fn read_pcap(path: &Path, limit: usize) -> (u32, Vec<Record>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "{}", path.display());
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let linktype = u32_at(20);
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= b.len() && out.len() < limit {
        let incl = u32_at(off + 8) as usize;
        assert!(off + 16 + incl <= b.len(), "the shipped capture is whole");
        out.push(Record {
            ts_sec: u32_at(off),
            ts_usec: u32_at(off + 4),
            orig_len: u32_at(off + 12),
            data: b[off + 16..off + 16 + incl].to_vec(),
        });
        off += 16 + incl;
    }
    (linktype, out)
}

fn pcap_of(name: &'static str, linktype: u32, recs: &[Record]) -> Capture {
    let mut bytes = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, linktype] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    // The version is two u16s (2, 4), written above as one little-endian u32.
    let mut records = Vec::new();
    for r in recs {
        let start = bytes.len();
        for v in [r.ts_sec, r.ts_usec, r.data.len() as u32, r.orig_len] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&r.data);
        records.push((start, bytes.len()));
    }
    Capture {
        name,
        bytes,
        records,
        length_field: 8,
        ext: "pcap",
    }
}

/// The same packets as pcapng (RFC draft: a section header, one interface description, an
/// enhanced packet block per packet with microsecond timestamps, the default resolution).
fn pcapng_of(name: &'static str, linktype: u32, recs: &[Record]) -> Capture {
    let mut bytes = Vec::new();
    let put = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
    // Section header block: type, length 28, byte-order magic, version 1.0, section length -1.
    for v in [0x0A0D_0D0Au32, 28, 0x1A2B_3C4D, 1] {
        put(&mut bytes, v);
    }
    bytes.extend_from_slice(&(-1i64).to_le_bytes());
    put(&mut bytes, 28);
    // Interface description block: link type, reserved, snaplen.
    for v in [1u32, 20, linktype, 262_144, 20] {
        put(&mut bytes, v);
    }
    let mut records = Vec::new();
    for r in recs {
        let start = bytes.len();
        let pad = (4 - r.data.len() % 4) % 4;
        let total = (32 + r.data.len() + pad) as u32;
        let ts = u64::from(r.ts_sec) * 1_000_000 + u64::from(r.ts_usec);
        for v in [
            6,
            total,
            0,
            (ts >> 32) as u32,
            ts as u32,
            r.data.len() as u32,
            r.orig_len,
        ] {
            put(&mut bytes, v);
        }
        bytes.extend_from_slice(&r.data);
        bytes.extend(std::iter::repeat_n(0u8, pad));
        put(&mut bytes, total);
        records.push((start, bytes.len()));
    }
    Capture {
        name,
        bytes,
        records,
        length_field: 4,
        ext: "pcapng",
    }
}

/// The bases: the first 300 packets of the loopback recording (handshakes, keep-alive and
/// one-shot requests) and of the pipelined one, each in both formats.
fn bases() -> Vec<Capture> {
    let mut out = Vec::new();
    for (name, path) in [
        ("loopback", "datasets/loopback/http-loopback.pcap"),
        (
            "pipelined",
            "datasets/loopback-pipelined/http-pipelined.pcap",
        ),
    ] {
        let (linktype, recs) = read_pcap(&repo().join(path), 300);
        assert_eq!(recs.len(), 300, "{path} has at least 300 packets");
        out.push(pcap_of(name, linktype, &recs));
        out.push(pcapng_of(name, linktype, &recs));
    }
    out
}

/// The `captures` row of analysing `bytes` (written to a scratch file), with the exit code.
fn analyze_bytes(case: &str, ext: &str, bytes: &[u8], extra: &[&str]) -> (i32, Row) {
    let dir = tmp(&format!("mut-{case}"));
    std::fs::create_dir_all(&*dir).unwrap();
    let file: PathBuf = dir.join(format!("case.{ext}"));
    std::fs::write(&file, bytes).unwrap();
    let out = dir.join("out");
    let (f, o) = (file.display().to_string(), out.display().to_string());
    let mut args = vec!["analyze", "-q", f.as_str(), "-o", o.as_str()];
    args.extend_from_slice(extra);
    // `wirehouse` fails the test on any panic message.
    let r = wirehouse(&args);
    let code = r.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 2,
        "{case}: exit {code}\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let mut caps = rows(&out, "captures");
    assert_eq!(caps.len(), 1, "{case}: one captures row");
    (code, caps.remove(0))
}

fn int(r: &Row, k: &str) -> i64 {
    r[k].int().unwrap_or_else(|| panic!("{k} is {:?}", r[k]))
}

/// Every packet has exactly one fate, damaged file or not.
fn assert_accounted(case: &str, r: &Row) {
    let fates: i64 = FATES.iter().map(|k| int(r, k)).sum();
    assert_eq!(fates, int(r, "packets"), "{case}: fates sum to the packets");
}

#[test]
fn a_record_with_an_impossible_length_keeps_every_packet_before_it() {
    for cap in bases() {
        let mut rng = Rng::new(1);
        for i in 0..6 {
            let k = 1 + rng.below(cap.records.len() - 1);
            let (start, _) = cap.records[k];
            let mut b = cap.bytes.clone();
            let at = start + cap.length_field;
            b[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
            let case = format!("{}-{}-len-{i}", cap.name, cap.ext);
            let (code, r) = analyze_bytes(&case, cap.ext, &b, &[]);
            assert_eq!(code, 2, "{case}");
            assert_eq!(
                int(&r, "packets"),
                k as i64,
                "{case}: packets before record {k}"
            );
            assert_eq!(int(&r, "error_offset"), start as i64, "{case}");
            let err = r["error"].str().unwrap();
            assert!(
                err.contains(&format!("byte offset {start}")),
                "{case}: {err}"
            );
            assert_accounted(&case, &r);
        }
    }
}

#[test]
fn a_file_cut_anywhere_keeps_every_whole_record_before_the_cut() {
    for cap in bases() {
        let mut rng = Rng::new(2);
        for i in 0..10 {
            // Past the file header, up to the end; a cut on a record boundary is a clean end.
            let first = cap.records[0].0;
            let cut = first + rng.below(cap.bytes.len() - first);
            let whole = cap.records.iter().filter(|&&(_, end)| end <= cut).count();
            let on_boundary = cut == first || cap.records.iter().any(|&(_, end)| end == cut);
            let case = format!("{}-{}-cut-{i}", cap.name, cap.ext);
            let (code, r) = analyze_bytes(&case, cap.ext, &cap.bytes[..cut], &[]);
            assert_eq!(int(&r, "packets"), whole as i64, "{case}: cut at {cut}");
            assert_accounted(&case, &r);
            if on_boundary {
                assert_eq!((code, &r["error"]), (0, &Value::Null), "{case}");
            } else {
                let (start, _) = cap.records[whole];
                assert_eq!(code, 2, "{case}");
                assert_eq!(
                    int(&r, "error_offset"),
                    start as i64,
                    "{case}: cut at {cut}"
                );
            }
        }
    }
}

#[test]
fn garbage_inside_packets_loses_no_record() {
    for cap in bases() {
        let (_, clean) = analyze_bytes(
            &format!("{}-{}-clean", cap.name, cap.ext),
            cap.ext,
            &cap.bytes,
            &[],
        );
        assert_eq!(int(&clean, "packets"), cap.records.len() as i64);
        let mut rng = Rng::new(3);
        for i in 0..8 {
            // Overwrite bytes inside packet data only (link, IP, TCP headers and payload),
            // never a record's own header: the framing must find every record, whatever the
            // decoders then make of what is inside.
            let mut b = cap.bytes.clone();
            let mut damaged = 0;
            for _ in 0..1 + rng.below(40) {
                let (start, end) = cap.records[rng.below(cap.records.len())];
                let data = start + if cap.ext == "pcap" { 16 } else { 28 };
                let data_end = if cap.ext == "pcap" { end } else { end - 4 };
                if data_end <= data {
                    continue;
                }
                let at = data + rng.below(data_end - data);
                let len = (1 + rng.below(24)).min(data_end - at);
                for x in &mut b[at..at + len] {
                    *x = rng.next() as u8;
                }
                damaged += 1;
            }
            let case = format!("{}-{}-garbage-{i}", cap.name, cap.ext);
            let (code, r) = analyze_bytes(&case, cap.ext, &b, &[]);
            assert_eq!(
                code, 0,
                "{case}: {damaged} damaged packets, no framing error"
            );
            assert_eq!(int(&r, "packets"), cap.records.len() as i64, "{case}");
            assert_accounted(&case, &r);
        }
    }
}

#[test]
fn damage_anywhere_gives_the_same_rows_at_one_thread_and_in_small_windows_at_two() {
    // The whole loopback recording (5 MB), so that 1 MiB windows at 2 threads split it into
    // ranges framed in parallel: a range that starts in damaged bytes must still come out as
    // the serial walk would.
    let (linktype, recs) = read_pcap(
        &repo().join("datasets/loopback/http-loopback.pcap"),
        1 << 20,
    );
    for cap in [
        pcap_of("loopback-all", linktype, &recs),
        pcapng_of("loopback-all", linktype, &recs),
    ] {
        let mut rng = Rng::new(4);
        for i in 0..6 {
            let mut b = cap.bytes.clone();
            for _ in 0..1 + rng.below(6) {
                let at = rng.below(b.len());
                let len = (1 + rng.below(64)).min(b.len() - at);
                for x in &mut b[at..at + len] {
                    *x = rng.next() as u8;
                }
            }
            let case = format!("{}-{}-any-{i}", cap.name, cap.ext);
            let (_, one) = analyze_bytes(&format!("{case}-j1"), cap.ext, &b, &["-j", "1"]);
            let (_, two) = analyze_bytes(
                &format!("{case}-j2"),
                cap.ext,
                &b,
                &["-j", "2", "--window-mib", "1"],
            );
            assert_accounted(&case, &one);
            assert!(int(&one, "packets") <= cap.records.len() as i64, "{case}");
            for k in ["packets", "packets_tcp", "bytes", "error", "error_offset"] {
                assert_eq!(one[k], two[k], "{case}: {k}");
            }
        }
    }
}
