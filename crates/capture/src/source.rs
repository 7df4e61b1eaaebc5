//! Getting a capture's bytes into memory, one window at a time.
//!
//! Uncompressed files are memory-mapped window by window: each window is its own mapping,
//! dropped (unmapped) once processed, so resident memory stays bounded by the windows in
//! flight rather than growing with the file. Compressed files cannot be mapped; they are
//! streamed through the decoder into owned buffers of the same size.
//!
//! A window always begins at a record boundary (the end of the last whole record of the
//! previous window), so windows can be framed independently.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::path::Path;
use std::sync::mpsc;

use memmap2::{Advice, Mmap, MmapOptions};

use crate::format::{Compression, Detected, FileFormat, detect};

/// Why an input could not be opened as a capture.
#[derive(Debug)]
pub enum OpenError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// It is not a capture we read; the message says what it looks like.
    NotCapture(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Io(e) => write!(f, "{e}"),
            OpenError::NotCapture(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// An open capture: its format and a way to read windows of it.
pub struct Source {
    format: FileFormat,
    compression: Option<Compression>,
    reader: Reader,
    /// The first bytes of the (decompressed) stream, at least the file header.
    head: Vec<u8>,
}

enum Reader {
    Mapped {
        file: File,
        len: u64,
        /// Its thread is started by the first [`Source::read_ahead`] that finds its range
        /// not cached.
        reader: ReadAheadQueue,
        /// The end of the ranges [`Source::read_ahead`] has seen.
        asked: u64,
        /// How far past the end of the file the last window's read-ahead reached.
        past_end: u64,
    },
    Stream(StreamState),
}

struct StreamState {
    decoder: Box<dyn Read + Send>,
    /// Bytes of the decompressed stream handed out so far (the end of the last window).
    pos: u64,
    /// Bytes read from the decoder while detecting the format, not yet handed out.
    pending: Vec<u8>,
    eof: bool,
    /// Buffers of windows given back with [`Source::recycle`], to fill again.
    spare: Vec<Vec<u8>>,
    /// Why decompression stopped early, and at which offset of the capture stream.
    fault: Option<(String, u64)>,
}

/// The bytes of one window, owned by it.
pub struct Window {
    data: WindowData,
    /// Offset of `self[0]` in the capture stream.
    pub base: u64,
    /// The window reaches the end of the stream.
    pub at_eof: bool,
}

enum WindowData {
    /// `map[skip..skip + len]`: the mapping starts at a huge-page boundary before the window.
    Mapped {
        map: Mmap,
        skip: usize,
        len: usize,
    },
    Owned(Vec<u8>),
    Empty,
}

impl Deref for Window {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.data {
            WindowData::Mapped { map, skip, len } => map.get(*skip..*skip + *len).unwrap_or(&[]),
            WindowData::Owned(v) => v,
            WindowData::Empty => &[],
        }
    }
}

impl Source {
    /// Open `path`, recognise its format by magic bytes, and prepare to read it.
    pub fn open(path: &Path) -> Result<Source, OpenError> {
        let mut file = File::open(path).map_err(OpenError::Io)?;
        let meta = file.metadata().map_err(OpenError::Io)?;
        if meta.is_dir() {
            return Err(OpenError::NotCapture("is a directory".into()));
        }
        let mut head = Vec::with_capacity(64);
        (&mut file)
            .take(64)
            .read_to_end(&mut head)
            .map_err(OpenError::Io)?;
        match detect(&head) {
            Detected::Capture(format) => Ok(Source {
                format,
                compression: None,
                reader: Reader::Mapped {
                    file,
                    len: meta.len(),
                    reader: ReadAheadQueue::default(),
                    asked: 0,
                    past_end: 0,
                },
                head,
            }),
            Detected::Compressed(c) => {
                // Reopen so the decoder sees the stream from byte 0.
                let file = File::open(path).map_err(OpenError::Io)?;
                let decoder: Box<dyn Read + Send> = match c {
                    Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                        io::BufReader::with_capacity(1 << 20, file),
                    )),
                    Compression::Zstd => {
                        Box::new(zstd::stream::read::Decoder::new(file).map_err(OpenError::Io)?)
                    }
                };
                let mut state = StreamState {
                    decoder,
                    pos: 0,
                    pending: Vec::new(),
                    eof: false,
                    spare: Vec::new(),
                    fault: None,
                };
                state.fill_to(64).map_err(|e| {
                    OpenError::NotCapture(format!(
                        "{} stream is corrupt at its start: {e}",
                        c.name()
                    ))
                })?;
                let head = state.pending.clone();
                match detect(&head) {
                    Detected::Capture(format) => Ok(Source {
                        format,
                        compression: Some(c),
                        reader: Reader::Stream(state),
                        head,
                    }),
                    Detected::Compressed(_) => Err(OpenError::NotCapture(format!(
                        "{}-compressed data that is compressed again; decompress it first",
                        c.name()
                    ))),
                    Detected::NotCapture(m) => Err(OpenError::NotCapture(format!(
                        "{}-compressed, but the content is not a capture: {m}",
                        c.name()
                    ))),
                }
            }
            Detected::NotCapture(m) => Err(OpenError::NotCapture(m)),
        }
    }

    /// The capture format (of the decompressed stream).
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The compression wrapper, if any.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// The first bytes of the capture stream (the file header lives here).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Size of the file on disk, if mapped (unknown for compressed streams).
    pub fn file_len(&self) -> Option<u64> {
        match &self.reader {
            Reader::Mapped { len, .. } => Some(*len),
            Reader::Stream(_) => None,
        }
    }

    /// The window of about `size` bytes starting at stream offset `start`.
    ///
    /// `start` is where the previous window's framing stopped, so it may lie inside
    /// `prev`; compressed streams cannot seek back, so the bytes from `start` to the end of
    /// `prev` are carried over from it. Asking again for the same `start` with a larger
    /// `size` (a record larger than the window) is allowed; pass the too-small window as
    /// `prev`.
    ///
    /// A mapped window also has the two windows after it read ahead from disk, if they are
    /// not cached (see `read_ahead`): windows are asked for in file order, each starting
    /// about where the one before ended. What of those two windows lies past the end of the
    /// file is [`Source::read_ahead_past_end`], for the caller to read from the next file.
    pub fn window(&mut self, start: u64, size: usize, prev: Option<&Window>) -> io::Result<Window> {
        match &mut self.reader {
            Reader::Mapped {
                file,
                len,
                past_end,
                ..
            } => {
                let file_len = *len;
                let end = start.saturating_add(size as u64).min(file_len);
                *past_end = end.saturating_add(2 * size as u64).saturating_sub(file_len);
                if start >= end {
                    return Ok(Window {
                        data: WindowData::Empty,
                        base: start,
                        at_eof: true,
                    });
                }
                let data = map_range(file, start, end, file_len)?;
                self.read_ahead(end, 2 * size);
                Ok(Window {
                    data,
                    base: start,
                    at_eof: end == file_len,
                })
            }
            Reader::Stream(s) => s.window(start, size, prev),
        }
    }

    /// Have `len` bytes from `start` read from disk into the page cache, on a thread of this
    /// source's own, so that a window mapped there later does not wait for the disk.
    ///
    /// Archives are read from disk as often as from memory (terabytes do not stay cached).
    /// A window's pages used to be read when it was mapped, just before it was framed, so the
    /// disk and the analysis took turns: on the 1 GB generated capture evicted from the page
    /// cache, 1 thread took 0.58 s (median of 5) where the cached file takes 0.30 s and a
    /// header walk from disk 0.39 s; with read-ahead 0.45 s (2 threads 0.51 -> 0.46 s).
    /// The thread touches one byte per 2 MiB through mappings advised `MADV_HUGEPAGE`, so
    /// the kernel reads 2 MiB folios; `MADV_WILLNEED` instead reads small folios wherever a
    /// fault has not got there first (see `map_range`).
    ///
    /// Only the part of a range not asked for before is read (`window` asks in file order),
    /// and only when its first or last page is not in the page cache (`is_cached`): a cached
    /// file, the usual case for repeated runs, costs two `mincore` calls per window and no
    /// thread (paired against the build without read-ahead, 15 rounds on the cached
    /// capture: wall time 0.999 at 1 thread, 0.994 at 2). A no-op for compressed streams
    /// (the decoder reads sequentially) and past the end of the file.
    fn read_ahead(&mut self, start: u64, len: usize) {
        let Reader::Mapped {
            file,
            len: file_len,
            reader,
            asked,
            ..
        } = &mut self.reader
        else {
            return;
        };
        let end = start.saturating_add(len as u64).min(*file_len);
        let start = start.max(*asked);
        if start >= end {
            return;
        }
        *asked = end;
        if is_cached(file, start) && is_cached(file, end - 1) {
            return;
        }
        if let Ok(file) = file.try_clone() {
            reader.send(file, start, end, *file_len);
        }
    }

    /// How many bytes of the read-ahead the last window asked for fell past the end of
    /// this file: near its end, how much of the files after it (the next of a rotated set)
    /// to read ahead with a [`ReadAheadQueue`], so that their first windows do not wait for
    /// the disk either. 0 for compressed streams.
    pub fn read_ahead_past_end(&self) -> u64 {
        match &self.reader {
            Reader::Mapped { past_end, .. } => *past_end,
            Reader::Stream(_) => 0,
        }
    }

    /// Why the stream ended early, if it did: the decoder's message and the offset of the
    /// capture stream at which no more could be decompressed. The window that ended there
    /// (`at_eof`) holds every byte before it, so what was captured before the fault is
    /// still read. A truncated `.gz` (a capture rotated while it was being written) ends
    /// this way.
    pub fn fault(&self) -> Option<(&str, u64)> {
        match &self.reader {
            Reader::Stream(s) => s.fault.as_ref().map(|(m, o)| (m.as_str(), *o)),
            Reader::Mapped { .. } => None,
        }
    }

    /// Give back a window that is no longer needed. A mapped window is unmapped; the buffer
    /// of a decompressed one is filled again by a later [`Source::window`]. A fresh buffer
    /// for every window cost a page fault per 4 KiB of it: on a 1 GB gzip capture at 2
    /// threads, 84 k faults where the same capture mapped took 32 k.
    pub fn recycle(&mut self, w: Window) {
        if let (Reader::Stream(s), WindowData::Owned(buf)) = (&mut self.reader, w.data) {
            // Two windows are in flight at once (one analysed while the next is framed):
            // a spare beyond that would only hold memory.
            if s.spare.len() < 2 {
                s.spare.push(buf);
            }
        }
    }
}

impl StreamState {
    fn fill_to(&mut self, want: usize) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        while self.pending.len() < want && !self.eof {
            let n = self
                .decoder
                .read(&mut chunk[..(want - self.pending.len()).min(65536)])?;
            if n == 0 {
                self.eof = true;
            } else {
                self.pending.extend_from_slice(&chunk[..n]);
            }
        }
        Ok(())
    }

    fn window(&mut self, start: u64, size: usize, prev: Option<&Window>) -> io::Result<Window> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.reserve(size);
        if start < self.pos {
            let p = prev
                .ok_or_else(|| io::Error::other("window start lies before the stream position"))?;
            let from = start
                .checked_sub(p.base)
                .filter(|&f| f <= p.len() as u64)
                .ok_or_else(|| io::Error::other("window start lies outside the previous window"))?;
            buf.extend_from_slice(&p[from as usize..]);
        }
        // `pending` holds stream bytes from `self.pos`; skip any before `start`.
        let mut pending = std::mem::take(&mut self.pending);
        if start > self.pos {
            let skip = ((start - self.pos) as usize).min(pending.len());
            pending.drain(..skip);
            let mut rest = start - self.pos - skip as u64;
            while rest > 0 {
                let n = io::copy(&mut (&mut self.decoder).take(rest), &mut io::sink())?;
                if n == 0 {
                    self.eof = true;
                    break;
                }
                rest -= n;
            }
        }
        buf.extend_from_slice(&pending);
        if buf.len() < size && !self.eof {
            let mut reader = (&mut self.decoder).take((size - buf.len()) as u64);
            let before = buf.len();
            match reader.read_to_end(&mut buf) {
                Ok(got) => {
                    if got < size - before {
                        self.eof = true;
                    }
                }
                Err(e) => {
                    // `read_to_end` keeps what it read before the error: the window ends
                    // there, and the stream with it.
                    let at = start + buf.len() as u64;
                    self.fault = Some((
                        format!("decompression failed after {at} bytes of capture data: {e}"),
                        at,
                    ));
                    self.eof = true;
                }
            }
        }
        self.pos = start + buf.len() as u64;
        // A read that filled the window exactly may sit right at the end of the stream; the
        // next call finds that out with an empty read.
        Ok(Window {
            at_eof: self.eof,
            data: WindowData::Owned(buf),
            base: start,
        })
    }
}

/// Whether the page at `offset` is in the page cache, asked without reading it (`mincore` on
/// a mapping never touched, so no fault, no read-ahead, no page tables to tear down). `false`
/// when the kernel cannot tell: then the read-ahead thread touches pages that are cached
/// already, which costs page faults, not results.
///
/// Not `preadv2(RWF_NOWAIT)`: a miss there starts the kernel's read-ahead for `read`, in
/// small folios (a cold run left 933 of 1,127 MB in 2 MiB pages instead of 1,118, and took
/// 0.92 s instead of 0.48 at 1 thread). Not the read-ahead thread timing its own first
/// fault: waking it and mapping for every window cost 1.3 % of a 1-thread run on the cached
/// 1 GB capture (15 paired rounds, p = 0.007).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn is_cached(file: &File, offset: u64) -> bool {
    const PAGE: u64 = 4096;
    // SAFETY: as in `map_range`: a read-only private mapping of an input capture, which we
    // never read here (only its address is used).
    let Ok(map) = (unsafe {
        MmapOptions::new()
            .offset(offset - offset % PAGE)
            .len(PAGE as usize)
            .map(file)
    }) else {
        return false;
    };
    let mut resident = 0u8;
    // SAFETY: the address is the start of a live mapping of `PAGE` bytes (page-aligned, as
    // every mapping is), and `resident` has room for the one byte `mincore` writes per page.
    let r = unsafe {
        libc::mincore(
            map.as_ptr() as *mut libc::c_void,
            PAGE as usize,
            &mut resident,
        )
    };
    r == 0 && resident & 1 == 1
}

#[cfg(not(target_os = "linux"))]
fn is_cached(_file: &File, _offset: u64) -> bool {
    false
}

/// One thread that reads ranges of files into the page cache in the order they are asked
/// for: a file's next windows ([`Source::read_ahead`]), and the start of the files whose turn
/// comes after the one being analysed (the next of a rotated set, read with `--merge` or one
/// after the other; [`ReadAheadQueue::read`]), so that their first windows do not wait for
/// the disk. Each queue has one thread reading its ranges in turn, so the disk is read in the
/// order the files will be needed rather than several files at once (a Source has a queue
/// for its own windows, the engine one for the files after it). It maps each 2 MiB of a range the
/// way a window is mapped and touches one byte of it (`touch_range`), so that the kernel
/// reads 2 MiB folios; blocking on the disk is all it does. A hint: a file that cannot be
/// opened or mapped is read when its turn comes, and reports its error then. The thread is
/// started by the first range sent and ends with the queue.
#[derive(Default)]
pub struct ReadAheadQueue {
    ranges: std::sync::Mutex<Option<mpsc::Sender<FileRange>>>,
}

/// Bytes `start..end` of `file`, whose length is `file_len`.
struct FileRange {
    file: File,
    start: u64,
    end: u64,
    file_len: u64,
}

impl ReadAheadQueue {
    /// Have bytes `start..start + len` of the file at `path` read, unless they are cached.
    pub fn read(&self, path: &Path, start: u64, len: u64) {
        let Ok(file) = File::open(path) else {
            return;
        };
        let Ok(file_len) = file.metadata().map(|m| m.len()) else {
            return;
        };
        let end = start.saturating_add(len).min(file_len);
        if start >= end || (is_cached(&file, start) && is_cached(&file, end - 1)) {
            return;
        }
        self.send(file, start, end, file_len);
    }

    /// Queue `start..end` of `file` (`file_len` bytes long) for the thread.
    fn send(&self, file: File, start: u64, end: u64, file_len: u64) {
        let mut tx = self.ranges.lock().unwrap_or_else(|p| p.into_inner());
        if tx.is_none() {
            let (t, rx) = mpsc::channel::<FileRange>();
            let started = std::thread::Builder::new()
                .name("wirehouse-read-ahead".into())
                .spawn(move || {
                    for r in rx {
                        touch_range(&r.file, r.start, r.end, r.file_len);
                    }
                });
            if started.is_ok() {
                *tx = Some(t);
            }
        }
        if let Some(t) = tx.as_ref()
            && t.send(FileRange {
                file,
                start,
                end,
                file_len,
            })
            .is_err()
        {
            // The thread is gone; windows fault in their pages themselves, as without
            // read-ahead.
            *tx = None;
        }
    }

    /// No thread was started: every range asked for was cached (or none was asked for).
    #[cfg(test)]
    fn idle(&self) -> bool {
        self.ranges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }
}

/// Read `start..end` of `file` into the page cache by touching one byte per 2 MiB folio,
/// one mapping per folio, each unmapped at once: a page mapped here counts in the process's
/// resident memory until it is unmapped, and mapping a whole request at once added 23-31 MB
/// to the peak of a run from disk. The byte is loaded (`copied`), not only its address taken.
fn touch_range(file: &File, start: u64, end: u64, file_len: u64) {
    let mut at = start - start % HUGE_PAGE;
    while at < end {
        if let Ok(WindowData::Mapped { map, .. }) =
            map_range(file, at, (at + HUGE_PAGE).min(end), file_len)
        {
            std::hint::black_box(map.first().copied());
        }
        at += HUGE_PAGE;
    }
}

/// Huge-page size the mappings are aligned to (x86-64 and arm64 with 4 KiB pages).
const HUGE_PAGE: u64 = 2 << 20;

/// Map bytes `start..end` of `file`, read-only, with the kernel told to read ahead.
///
/// The mapping itself starts at the huge-page boundary at or before `start` and is marked
/// `MADV_HUGEPAGE`. When the file is not cached yet, the kernel's read-ahead for a fault in
/// such a mapping fills the page cache with 2 MiB folios, and every later fault on the file
/// (this run's and every later run's) maps 2 MiB with one page-table entry instead of 4 KiB
/// pages sixteen at a time. On the 1 GB generated capture that took the page-fault and unmap
/// work, about a fifth of a single-thread run, down to almost nothing. A file already cached
/// in small pages (read before by another tool, or just written) keeps them; nothing changes
/// for it. The alignment is what lets the kernel use one entry per 2 MiB: a mapping's address
/// and file offset must agree modulo 2 MiB, and a window starts at any record boundary.
///
/// For the same reason the mapping runs on past `end` to the next 2 MiB boundary (or the end
/// of the file, `file_len`): a window ends at any byte, and a mapping that stops inside a huge
/// page cannot map that page with one entry; the kernel mapped its used part 64 KiB per fault
/// instead. On the 1 GB generated capture (cached in 2 MiB folios, 1 thread) a run's page
/// faults went from 4,536 to 3,411. Those faults were cheap: paired timings (21 rounds) show
/// no change in wall time (1.009 at 1 thread, 0.969 at 2); system time at 2 threads 0.044 ->
/// 0.036 s. The bytes past `end` are the next window's; this one never reads them.
#[allow(unsafe_code)]
fn map_range(file: &File, start: u64, end: u64, file_len: u64) -> io::Result<WindowData> {
    let from = start - start % HUGE_PAGE;
    let skip = (start - from) as usize;
    let len = (end - start) as usize;
    let map_end = end
        .checked_next_multiple_of(HUGE_PAGE)
        .unwrap_or(end)
        .min(file_len)
        .max(end);
    // SAFETY: the mapping is read-only and private to this process. Undefined behaviour is
    // only possible if another process truncates or rewrites the capture while we read it;
    // capture archives are immutable inputs, and every tool that maps files (ripgrep,
    // tshark's mmap reader) accepts the same contract. We never hand out references that
    // outlive the `Window` owning the mapping.
    let map = unsafe {
        MmapOptions::new()
            .offset(from)
            .len((map_end - from) as usize)
            .map(file)?
    };
    // Advice is a hint; failure to apply it changes speed, never results. No `WillNeed`:
    // the kernel's read-ahead for it fills the page cache in small folios wherever a fault
    // has not got there first, which is where the read-ahead thread is still reading (a
    // cold header walk left 671 of 1,127 MB in 2 MiB pages with it, 1,122 without), and
    // that thread reads what is needed in time (`Source::read_ahead`).
    #[cfg(target_os = "linux")]
    let _ = map.advise(Advice::HugePage);
    let _ = map.advise(Advice::Sequential);
    Ok(WindowData::Mapped { map, skip, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window's bytes are exactly the file's, and its mapping covers whole huge pages: from
    /// the boundary at or before the window to the one at or after its end, or the file's end.
    #[test]
    fn mappings_run_from_huge_page_boundary_to_boundary_or_file_end() {
        let path = std::env::temp_dir().join(format!("wirehouse-map-{}", std::process::id()));
        let file_len = 5 * HUGE_PAGE + 123;
        let content: Vec<u8> = (0..file_len).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = File::open(&path).unwrap();
        let mib = 1 << 20;
        for (start, end, want_from, want_end) in [
            (0, mib, 0, HUGE_PAGE),
            (100, HUGE_PAGE, 0, HUGE_PAGE),
            (HUGE_PAGE - 1, HUGE_PAGE + 1, 0, 2 * HUGE_PAGE),
            (
                3 * HUGE_PAGE + 5,
                4 * HUGE_PAGE + mib,
                3 * HUGE_PAGE,
                5 * HUGE_PAGE,
            ),
            (
                4 * HUGE_PAGE + 7,
                5 * HUGE_PAGE + 1,
                4 * HUGE_PAGE,
                file_len,
            ),
            (5 * HUGE_PAGE, file_len, 5 * HUGE_PAGE, file_len),
        ] {
            let w = Window {
                data: map_range(&file, start, end, file_len).unwrap(),
                base: start,
                at_eof: false,
            };
            assert_eq!(
                &w[..],
                &content[start as usize..end as usize],
                "{start}..{end}"
            );
            let WindowData::Mapped { map, skip, .. } = &w.data else {
                panic!("not mapped");
            };
            assert_eq!(start - *skip as u64, want_from, "{start}..{end}");
            assert_eq!(want_from + map.len() as u64, want_end, "{start}..{end}");
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// A 64 MiB file with a pcap header, written under the target directory (tmpfs, often
    /// /tmp, cannot evict its pages) and evicted from the page cache; `None`, after a loud
    /// notice, where the file system cannot evict it.
    #[cfg(target_os = "linux")]
    fn evicted_file(test: &str) -> Option<(std::path::PathBuf, File, Vec<u8>)> {
        use rustix::fs::{Advice as Fadvice, fadvise};
        use std::io::Write;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-read-ahead");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{test}-{}.pcap", std::process::id()));
        let huge = HUGE_PAGE as usize;
        let mut content: Vec<u8> = (0..32 * huge).map(|i| (i * 13 % 251) as u8).collect();
        // A pcap file header (little-endian, Ethernet), so that `Source::open` takes it.
        content[..24].copy_from_slice(&[
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ]);
        let mut f = File::create(&path).unwrap();
        f.write_all(&content).unwrap();
        f.sync_all().unwrap(); // dirty pages cannot be evicted
        drop(f);
        let file = File::open(&path).unwrap();
        if fadvise(&file, 0, None, Fadvice::DontNeed).is_err() || is_cached(&file, 20 * HUGE_PAGE) {
            eprintln!(
                "*** SKIPPED {test}: the file system of {} cannot evict a file's pages (tmpfs?). \
                 It did NOT run. ***",
                dir.display()
            );
            std::fs::remove_file(&path).unwrap();
            return None;
        }
        Some((path, file, content))
    }

    /// Wait until the first and last page of `a..b` are cached (read-ahead runs on a thread).
    #[cfg(target_os = "linux")]
    fn wait_cached(file: &File, a: u64, b: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !(is_cached(file, a) && is_cached(file, b - 1)) {
            assert!(
                std::time::Instant::now() < deadline,
                "read-ahead did not bring {a}..{b} into the page cache"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The queue that reads the next files of a set: the ranges asked for, in full, and
    /// nothing far outside them; a cached range starts no thread. And `Source::window` says
    /// how much of its look-ahead fell past the end of the file, which is what the engine
    /// asks the queue for.
    #[cfg(target_os = "linux")]
    #[test]
    fn read_ahead_queue_reads_the_next_files_ranges() {
        let Some((path, file, _)) = evicted_file("read_ahead_queue") else {
            return;
        };
        let queue = ReadAheadQueue::default();
        queue.read(&path, 2 * HUGE_PAGE, 4 * HUGE_PAGE);
        queue.read(&path, 10 * HUGE_PAGE, 2 * HUGE_PAGE);
        wait_cached(&file, 2 * HUGE_PAGE, 6 * HUGE_PAGE);
        wait_cached(&file, 10 * HUGE_PAGE, 12 * HUGE_PAGE);
        assert!(
            !is_cached(&file, 20 * HUGE_PAGE),
            "the queue read far outside the ranges asked for"
        );
        let cached = ReadAheadQueue::default();
        cached.read(&path, 2 * HUGE_PAGE, 4 * HUGE_PAGE);
        assert!(cached.idle(), "a thread for a cached range");

        let mut src = Source::open(&path).unwrap();
        let len = 32 * HUGE_PAGE;
        let w = src
            .window(24, (len - 24 - HUGE_PAGE) as usize, None)
            .unwrap();
        assert!(!w.at_eof);
        // The window ends 2 MiB before the end; its look-ahead is two windows long.
        assert_eq!(
            src.read_ahead_past_end(),
            2 * (len - 24 - HUGE_PAGE) - HUGE_PAGE
        );
        drop(w);
        let _ = src.window(24, HUGE_PAGE as usize, None).unwrap();
        assert_eq!(src.read_ahead_past_end(), 0, "look-ahead within the file");
        drop(src);
        std::fs::remove_file(&path).unwrap();
    }

    /// Read-ahead reads an evicted range into the page cache before anything maps it, and
    /// not the whole file; on a cached range it starts no thread at all. `is_cached` is the
    /// yardstick: it asks the kernel without reading.
    #[cfg(target_os = "linux")]
    #[test]
    fn read_ahead_reads_an_evicted_range_and_leaves_a_cached_one_alone() {
        let Some((path, file, content)) = evicted_file("read_ahead_reads_an_evicted_range") else {
            return;
        };
        let (a, b) = (20 * HUGE_PAGE, 24 * HUGE_PAGE);
        let mut src = Source::open(&path).unwrap();
        src.read_ahead(a, (b - a) as usize);
        wait_cached(&file, a, b);
        assert!(
            !is_cached(&file, 10 * HUGE_PAGE),
            "read-ahead read far outside the range asked for"
        );
        let w = src.window(a, (b - a) as usize, None).unwrap();
        assert_eq!(&w[..], &content[a as usize..b as usize]);

        // Now cached: a new source asked for the same range starts no thread.
        let mut src = Source::open(&path).unwrap();
        src.read_ahead(a, (b - a) as usize);
        assert!(matches!(&src.reader, Reader::Mapped { reader, .. } if reader.idle()));
        // Not cached: it does.
        let mut src = Source::open(&path).unwrap();
        assert!(!is_cached(&file, 14 * HUGE_PAGE));
        src.read_ahead(14 * HUGE_PAGE, HUGE_PAGE as usize);
        assert!(matches!(&src.reader, Reader::Mapped { reader, .. } if !reader.idle()));
        drop(src);
        std::fs::remove_file(&path).unwrap();
    }
}
