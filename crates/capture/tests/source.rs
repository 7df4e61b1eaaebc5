//! Windows of a mapped file hold exactly the file's bytes from the requested offset, wherever
//! that offset falls relative to the 2 MiB boundaries the mappings are aligned to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use wirehouse_capture::source::Source;

const MIB: u64 = 1 << 20;

/// A classic pcap header (little-endian, microseconds, Ethernet) followed by `len - 24`
/// bytes that differ at every offset, so a window shifted by even one byte would not match.
fn capture_file(name: &str, len: usize) -> (PathBuf, Vec<u8>) {
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&4u16.to_le_bytes());
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&65535u32.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    let mut x: u32 = 0x1234_5678;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x as u8);
    }
    let path = std::env::temp_dir().join(format!("wirehouse-source-{}-{name}", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// `bytes` gzip-compressed.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Read `source` to its end in consecutive windows of `size` bytes, calling `before_each`
/// before each read; returns the bytes read.
fn read_consecutive(
    source: &mut Source,
    size: usize,
    mut before_each: impl FnMut(&Source),
) -> Vec<u8> {
    let mut got = Vec::new();
    let mut start = 0u64;
    let mut prev = None;
    loop {
        before_each(source);
        let w = source.window(start, size, prev.as_ref()).unwrap();
        got.extend_from_slice(&w);
        start += w.len() as u64;
        let eof = w.at_eof;
        prev = Some(w);
        if eof {
            return got;
        }
    }
}

#[test]
fn mapped_windows_hold_the_bytes_at_any_offset() {
    let len = (5 * MIB + 12_345) as usize;
    let (path, bytes) = capture_file("offsets", len);
    let mut source = Source::open(&path).unwrap();
    assert_eq!(source.file_len(), Some(len as u64));
    let cases: [(u64, usize); 9] = [
        (24, 100),                   // inside the first huge page
        (24, 3 * MIB as usize),      // across a boundary
        (2 * MIB - 1, 2),            // one byte each side of a boundary
        (2 * MIB, 10),               // exactly at a boundary
        (2 * MIB + 7, MIB as usize), // just after one
        (4 * MIB - 5, 5),            // ends exactly at a boundary
        (5 * MIB, 1 << 30),          // runs past the end of the file
        (len as u64 - 1, 10),        // the last byte
        (3 * MIB + 4095, 4097),      // unaligned to small pages as well
    ];
    for (start, size) in cases {
        let w = source.window(start, size, None).unwrap();
        let end = (start as usize + size).min(len);
        assert_eq!(w.base, start);
        assert_eq!(w.len(), end - start as usize, "window at {start}");
        assert!(
            w[..] == bytes[start as usize..end],
            "window at {start} of {size} bytes differs from the file"
        );
        assert_eq!(w.at_eof, end == len, "at_eof of the window at {start}");
    }
    let past = source.window(len as u64, 10, None).unwrap();
    assert!(past.is_empty() && past.at_eof);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn consecutive_windows_rebuild_the_file() {
    let len = (7 * MIB + 999) as usize;
    let (path, bytes) = capture_file("consecutive", len);
    let mut source = Source::open(&path).unwrap();
    // An odd window size, so almost no window starts on a page boundary.
    let rebuilt = read_consecutive(&mut source, 1_000_003, |_| {});
    assert!(rebuilt == bytes);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn decompressed_windows_rebuild_the_stream_with_recycled_buffers() {
    // A gzip stream read window by window, every window after the first starting a little
    // inside the previous one (as after a record cut at a window's end), and every window
    // given back once two newer ones exist, as the engine does: a recycled buffer holding
    // bytes of its old window would show up as a mismatch.
    let len = (5 * MIB + 4321) as usize;
    let (plain, bytes) = capture_file("gzip-plain", len);
    let path = plain.with_extension("gz");
    std::fs::write(&path, gzip(&bytes)).unwrap();
    let mut source = Source::open(&path).unwrap();
    assert_eq!(source.file_len(), None);
    let mut start = 0u64;
    let mut prev: Option<wirehouse_capture::source::Window> = None;
    let mut windows = 0;
    loop {
        let w = source.window(start, 700_001, prev.as_ref()).unwrap();
        let end = (start as usize + w.len()).min(len);
        assert!(
            w[..] == bytes[start as usize..end],
            "window at {start} differs from the stream"
        );
        windows += 1;
        if w.at_eof {
            assert_eq!(end, len);
            break;
        }
        // The next window starts 1000 bytes before this one's end.
        start = w.base + w.len() as u64 - 1000;
        if let Some(old) = prev.replace(w) {
            source.recycle(old);
        }
    }
    assert!(windows > 7);
    std::fs::remove_file(&plain).unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_cut_gzip_stream_ends_with_every_byte_before_the_fault() {
    use std::io::Read;
    let len = (3 * MIB + 777) as usize;
    let (plain, bytes) = capture_file("gzip-cut", len);
    let gz = gzip(&bytes);
    let path = plain.with_extension("gz");
    std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    let mut prefix = Vec::new();
    let mut d = flate2::read::GzDecoder::new(&gz[..gz.len() / 2]);
    assert!(d.read_to_end(&mut prefix).is_err());
    let mut source = Source::open(&path).unwrap();
    let got = read_consecutive(&mut source, 300_007, |s| {
        assert!(
            s.fault().is_none(),
            "fault reported before the stream ended"
        );
    });
    assert!(
        got == prefix,
        "{} bytes read, {} inflate",
        got.len(),
        prefix.len()
    );
    let (message, at) = source.fault().expect("the cut is reported");
    assert_eq!(at, prefix.len() as u64);
    assert!(message.contains("decompression failed"), "{message}");
    std::fs::remove_file(&plain).unwrap();
    std::fs::remove_file(&path).unwrap();
}

/// The mapping behind a window starts on a 2 MiB boundary of the file and asks for huge pages:
/// that is what lets a cold read fill the page cache with 2 MiB folios and later faults map
/// them whole. Checked on the kernel's own view of the mapping (`/proc/self/smaps`).
#[cfg(target_os = "linux")]
#[test]
fn windows_are_mapped_from_a_huge_page_boundary_and_advised_huge_pages() {
    let len = (6 * MIB) as usize;
    let (path, _) = capture_file("advice", len);
    let mut source = Source::open(&path).unwrap();
    let start = 3 * MIB + 12_345;
    let w = source.window(start, MIB as usize, None).unwrap();
    let addr = w.as_ptr() as usize;
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    // Each mapping is a header line "lo-hi perms offset dev inode path" and then fields,
    // ending with VmFlags.
    let mut found = None;
    let mut current: Option<(usize, u64)> = None;
    for line in smaps.lines() {
        let mut cols = line.split_whitespace();
        if let (Some(range), Some(_perms), Some(offset)) = (cols.next(), cols.next(), cols.next())
            && let Some((lo, hi)) = range.split_once('-')
            && let (Ok(lo), Ok(hi), Ok(offset)) = (
                usize::from_str_radix(lo, 16),
                usize::from_str_radix(hi, 16),
                u64::from_str_radix(offset, 16),
            )
        {
            current = (lo <= addr && addr < hi).then_some((lo, offset));
        } else if let Some(flags) = line.strip_prefix("VmFlags:")
            && let Some((lo, offset)) = current
        {
            found = Some((
                lo,
                offset,
                flags
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            ));
        }
    }
    let (lo, offset, flags) = found.expect("the window's mapping is in /proc/self/smaps");
    assert_eq!(
        offset,
        2 * MIB,
        "the mapping starts at the 2 MiB boundary before the window"
    );
    assert_eq!(
        addr - lo,
        (start - offset) as usize,
        "the window starts inside its mapping"
    );
    if std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
        assert!(
            flags.iter().any(|f| f == "hg"),
            "MADV_HUGEPAGE missing: {flags:?}"
        );
    } else {
        // A kernel built without transparent huge pages rejects the advice (a hint: the
        // windows are read the same way).
        eprintln!(
            "*** SKIPPED the MADV_HUGEPAGE check: this kernel has no transparent huge pages. \
             The rest of the test ran. ***"
        );
    }
    assert!(
        flags.iter().any(|f| f == "sr"),
        "MADV_SEQUENTIAL missing: {flags:?}"
    );
    drop(w);
    std::fs::remove_file(&path).unwrap();
}
