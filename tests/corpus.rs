//! Every capture in the shared corpus, end to end: packet counts against capinfos (the
//! manifests), every packet accounted for in exactly one fate, no panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[test]
fn every_manifest_capture_is_counted_like_capinfos() {
    let Some(shared) = shared_captures("every_manifest_capture_is_counted_like_capinfos") else {
        return;
    };
    let out = analyze("corpus", &[&shared], &[]);
    let rows = rows(&out, "captures");
    let prefix = format!("{}/", shared.display());
    let by_file: std::collections::HashMap<String, &Row> = rows
        .iter()
        .map(|r| {
            (
                r["file"]
                    .str()
                    .unwrap()
                    .trim_start_matches(&prefix)
                    .to_string(),
                r,
            )
        })
        .collect();
    let mut checked = 0;
    let mut spans = 0;
    for (manifest, dir) in [("MANIFEST.tsv", ""), ("more/MANIFEST.tsv", "more/")] {
        for m in tsv(&shared.join(manifest)) {
            let file = format!("{dir}{}", m["file"]);
            let r = by_file
                .get(&file)
                .unwrap_or_else(|| panic!("no captures row for {file}"));
            let packets = r["packets"].int().unwrap();
            let fates: i64 = FATES.iter().map(|f| r[*f].int().unwrap()).sum();
            assert_eq!(fates, packets, "{file}: fate counts must sum to packets");
            if file.ends_with(".snoop") {
                // capinfos reads Solaris snoop; we refuse it with a message saying so.
                assert_eq!(packets, 0);
                assert!(r["error"].str().unwrap().contains("snoop"), "{file}");
                continue;
            }
            let expected: i64 = m["packets"].parse().unwrap();
            assert_eq!(packets, expected, "{file}: packets vs capinfos");
            checked += 1;
            // Classic pcap files: bytes and the time span against a second reader (which
            // refuses every other format).
            if let Some(p) = legacy_pcap_summary(&shared.join(&file))
                && p.packets == packets
            {
                assert_eq!(r["bytes"].int(), Some(p.bytes), "{file}: bytes");
                assert_eq!(r["first_ts"].int(), p.first_ts, "{file}: first_ts");
                assert_eq!(r["last_ts"].int(), p.last_ts, "{file}: last_ts");
                spans += 1;
            }
        }
    }
    assert!(checked >= 925, "only {checked} captures checked");
    assert!(spans >= 600, "only {spans} time spans checked");
    // Files that are not captures (logs, READMEs) get a row with an error, not a crash.
    let readme = by_file.get("README.md").expect("README row");
    assert!(readme["error"].str().unwrap().contains("not a capture"));
    assert_eq!(readme["format"], Value::Null);
}

#[test]
fn corrupt_captures_keep_every_packet_before_the_fault() {
    let Some(shared) = shared_captures("corrupt_captures_keep_every_packet_before_the_fault")
    else {
        return;
    };
    let corrupt = shared.join("more/corrupt");
    let out = analyze("corrupt", &[&corrupt], &[]);
    let rows = rows(&out, "captures");
    let get = |name: &str| {
        rows.iter()
            .find(|r| r["file"].str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name}"))
    };
    // Cut short in the middle of the last record: 2696 records before it (capinfos).
    let r = get("suri__http-mime-truncated.pcap");
    assert_eq!(r["packets"].int(), Some(2696));
    let err = r["error"].str().unwrap();
    assert!(
        err.contains("byte offset") && err.contains("cut short"),
        "{err}"
    );
    assert!(r["error_offset"].int().unwrap() > 0);
    // Not a capture at all.
    let r = get("pcap-parser__err-eof.bin");
    assert!(
        r["error"]
            .str()
            .unwrap()
            .contains("unknown magic 0x06000000")
    );
    // Empty capture (header only) is clean, with no packets.
    let r = get("arkime__empty.pcap");
    assert_eq!(r["packets"].int(), Some(0));
    assert_eq!(r["error"], Value::Null);
}

/// What pcap-parser (an implementation independent of wirehouse's framer) reads from a
/// classic pcap file.
struct LegacySummary {
    packets: i64,
    bytes: i64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
}

/// Packets, captured bytes and the earliest and latest timestamps (ns) of a classic pcap
/// file, or `None` if pcap-parser cannot read it to the end.
fn legacy_pcap_summary(path: &std::path::Path) -> Option<LegacySummary> {
    use pcap_parser::traits::PcapReaderIterator;
    use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};
    let file = std::fs::File::open(path).ok()?;
    let mut reader = LegacyPcapReader::new(32 << 20, file).ok()?;
    let mut s = LegacySummary {
        packets: 0,
        bytes: 0,
        first_ts: None,
        last_ts: None,
    };
    let mut nanos = false;
    let mut stalled = false;
    loop {
        match reader.next() {
            Ok((used, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => nanos = h.is_nanosecond_precision(),
                    PcapBlockOwned::Legacy(b) => {
                        let frac = i64::from(b.ts_usec) * if nanos { 1 } else { 1000 };
                        let ts = i64::from(b.ts_sec) * 1_000_000_000 + frac;
                        s.packets += 1;
                        s.bytes += i64::from(b.caplen);
                        s.first_ts = Some(s.first_ts.map_or(ts, |t| t.min(ts)));
                        s.last_ts = Some(s.last_ts.map_or(ts, |t| t.max(ts)));
                    }
                    _ => {}
                }
                reader.consume(used);
                stalled = false;
            }
            Err(PcapError::Eof) => return Some(s),
            Err(PcapError::Incomplete(_)) if !stalled => {
                reader.refill().ok()?;
                stalled = true;
            }
            Err(_) => return None,
        }
    }
}
