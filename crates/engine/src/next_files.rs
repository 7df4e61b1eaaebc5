//! Reading the start of the files whose turn comes next while the current one is analysed.
//!
//! A file's own windows are read ahead by its `Source`, two windows before they are needed.
//! At the end of a file that look-ahead runs out, and the next file of a rotated set began
//! with its first window read from disk while the cores waited. Users with archives point
//! the tool at thousands of files of tens or hundreds of MB (`tcpdump -C`, `-G`), mostly not
//! cached, so every file boundary paid for it: the 1 GB generated capture split into 11
//! files of 64-100 MB and evicted took 1.14 s merged at 1 thread and 1.09 s at 2 (medians of
//! 8), 0.73 and 0.53 s with the next files read ahead.
//!
//! Files of at most one window are not read ahead (nor those after them): the same capture
//! in 50 files of 8-22 MB, merged, was slower with them read ahead at 1 thread (1.6x the
//! time, 8 of 8 rounds) though faster at 2 (0.86x, 6 of 8); docs/PERFORMANCE.md.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use wirehouse_capture::source::ReadAheadQueue;

use crate::inputs::InputFile;

/// At most this many files ahead are read for one file's look-ahead: a directory of tiny
/// captures would otherwise start a thread per file for a window's worth of them.
const MAX_FILES_AHEAD: usize = 8;

/// The files of a run in the order their turns come.
pub(crate) struct NextFiles<'a> {
    files: &'a [InputFile],
    /// Files of at most this many bytes (one window) are not read ahead, nor any after them.
    small: u64,
    /// Each file's size, looked up when first needed (0 when it cannot be).
    sizes: Vec<OnceLock<u64>>,
    /// Bytes from each file's start asked for so far, so a range is asked for once (atomic:
    /// the window loop asks from its framing task, on any of the run's threads).
    asked: Vec<AtomicU64>,
    reader: ReadAheadQueue,
}

impl<'a> NextFiles<'a> {
    pub(crate) fn new(files: &'a [InputFile], window_bytes: usize) -> NextFiles<'a> {
        NextFiles {
            files,
            small: window_bytes as u64,
            sizes: files.iter().map(|_| OnceLock::new()).collect(),
            asked: files.iter().map(|_| AtomicU64::new(0)).collect(),
            reader: ReadAheadQueue::default(),
        }
    }

    /// File `i`'s look-ahead reached `past_end` bytes beyond its end (see
    /// `Source::read_ahead_past_end`): have that many bytes read from the files after it,
    /// from their starts, in order.
    pub(crate) fn after(&self, i: usize, mut past_end: u64) {
        let last = self.files.len().min(i.saturating_add(1 + MAX_FILES_AHEAD));
        for j in i + 1..last {
            if past_end == 0 {
                return;
            }
            let size = *self.sizes[j]
                .get_or_init(|| std::fs::metadata(&self.files[j].path).map_or(0, |m| m.len()));
            if size <= self.small {
                return;
            }
            let want = size.min(past_end);
            let before = self.asked[j].fetch_max(want, Ordering::Relaxed);
            if want > before {
                self.reader.read(&self.files[j].path, before, want - before);
            }
            past_end -= want;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(n: usize) -> Vec<InputFile> {
        (0..n)
            .map(|i| InputFile {
                path: format!("/nonexistent/wirehouse-next-files/{i}").into(),
                name: i.to_string(),
            })
            .collect()
    }

    /// Bytes asked for of each file so far.
    fn asked(next: &NextFiles<'_>) -> Vec<u64> {
        next.asked
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect()
    }

    #[test]
    fn asks_each_file_once_and_spends_the_look_ahead_across_files() {
        let list = files(4);
        let next = NextFiles::new(&list, 10);
        for (j, size) in [(1, 30u64), (2, 50), (3, 1000)] {
            next.sizes[j].set(size).unwrap();
        }
        next.after(0, 20);
        assert_eq!(asked(&next), [0, 20, 0, 0]);
        // The look-ahead grows as the end of file 0 comes closer: the rest of file 1, all
        // of file 2 (smaller than what is left), then the start of file 3.
        next.after(0, 100);
        assert_eq!(asked(&next), [0, 30, 50, 20]);
        // Never less than before, and file 3's own turn asks past what file 0 did.
        next.after(0, 10);
        assert_eq!(asked(&next), [0, 30, 50, 20]);
        next.after(2, 60);
        assert_eq!(asked(&next), [0, 30, 50, 60]);
        // The last file has none after it.
        next.after(3, 500);
        assert_eq!(asked(&next), [0, 30, 50, 60]);
    }

    #[test]
    fn looks_at_most_eight_files_ahead() {
        let list = files(20);
        let next = NextFiles::new(&list, 1);
        for s in &next.sizes {
            s.set(2).unwrap();
        }
        next.after(0, 100);
        assert_eq!(asked(&next).iter().sum::<u64>(), 2 * MAX_FILES_AHEAD as u64);
    }

    /// Files of at most a window are not read ahead, nor the files after them: for those,
    /// read ahead of their turn, a run from disk was slower at 1 thread (docs/PERFORMANCE.md).
    #[test]
    fn stops_at_a_file_of_one_window() {
        let list = files(4);
        let next = NextFiles::new(&list, 10);
        for (j, size) in [(1, 30u64), (2, 10), (3, 1000)] {
            next.sizes[j].set(size).unwrap();
        }
        next.after(0, 500);
        assert_eq!(asked(&next), [0, 30, 0, 0]);
    }
}
