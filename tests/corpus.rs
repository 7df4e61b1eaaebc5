//! Every capture in the shared corpus, end to end: packet counts against capinfos (the
//! manifests), every packet accounted for in exactly one fate, no panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const FATES: [&str; 7] = [
    "packets_tcp",
    "packets_udp",
    "packets_other_ip",
    "packets_non_ip",
    "packets_truncated",
    "packets_malformed",
    "packets_unsupported_linktype",
];

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
        }
    }
    assert!(checked >= 925, "only {checked} captures checked");
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
