//! The one allocator setting wirehouse changes, through mimalloc's C API.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long};

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (the C library built by
/// libmimalloc-sys 0.1.49, pinned in Cargo.lock); the test below checks it names an option
/// with that option's default.
const MI_OPTION_PURGE_DELAY: c_int = 15;
/// `mi_option_allow_thp`, read by the test only (huge pages stay as mimalloc sets them).
#[cfg(test)]
const MI_OPTION_ALLOW_THP: c_int = 37;

/// How long freed heap memory stays committed before mimalloc gives it back to the kernel,
/// in milliseconds (mimalloc's default is 10; its arenas wait ten times as long).
///
/// The pipeline frees in bursts, once per window: the emptied reassembly buffers, the record
/// batches handed to the Parquet writers, closed connections. At 24 MiB windows a window is
/// 6-20 ms of a run, so with the default delay much of that memory went back to the kernel
/// just before the next window asked for it again, and came back one fault at a time. Held
/// for a second, a window's frees serve the next window's allocations. mimalloc advises huge
/// pages for its arenas (`MADV_HUGEPAGE`), and once freed memory is not purged between
/// windows they pay: the heap is faulted in 2 MiB at a time, and the connection state of tens
/// of thousands of live connections is reached through far fewer TLB entries.
///
/// Measured on the 1 GB generated capture (11 interleaved rounds, medians), against the previous
/// setting (huge pages off for the heap, default delay): 1 thread 0.495 -> 0.410 s, 2 threads
/// 0.305 -> 0.228 s; page faults 31 k -> 5 k and system time 0.12 -> 0.06 s (user time drops too,
/// 0.48 -> 0.45 s); the 1 GB gzip capture 1.02 -> 0.87 s at 1 thread. Peak RSS grows, because huge
/// pages keep partly used 2 MiB ranges resident: 1 GB 142 -> 162 MB at 1 thread, 10 GB 207 -> 236
/// MB at 2 threads, 20 GB 191 -> 209 MB at 2 threads. Huge pages with the default delay are the
/// worst of both (0.76 s at 1 thread, 42 % system time): every purge of a 2 MiB range is a whole
/// huge page zeroed again on the next touch; that is why an earlier version turned them off. Delays
/// of 30 ms, 100 ms and 1 s timed the same here; 1 s leaves a margin for windows that take longer
/// (slow disks, compressed input, slower machines). On the 10 GB capture: 1 thread 4.30 -> 3.86 s;
/// 2 threads no clear change (2.55 vs 2.46 s and 2.32 vs 2.34 s in two sets of 3 rounds), with
/// system time 0.4 -> 0.6 s: over a longer run some huge pages are still purged and zeroed again.
/// Never purging (-1) cannot be set here: mimalloc fixes whether a segment may purge when it
/// creates it, so the segments made before `main` would purge at once (their expiry is now - 1).
const PURGE_DELAY_MS: c_long = 1000;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
}

/// Whether [`configure`] changed the purge delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PurgeDelay {
    /// Left alone: `MIMALLOC_PURGE_DELAY` was set.
    UserChoice,
    /// Set to [`PURGE_DELAY_MS`].
    Set,
}

/// Sets mimalloc's purge delay to [`PURGE_DELAY_MS`], unless the user set
/// `MIMALLOC_PURGE_DELAY` (mimalloc reads its environment at start-up; the user's value
/// wins). `MIMALLOC_ALLOW_THP=0` turns the heap's huge pages off, as in mimalloc.
pub(crate) fn configure() -> PurgeDelay {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return PurgeDelay::UserChoice;
    }
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table (atomically);
    // the declaration matches mimalloc.h's `void mi_option_set(mi_option_t, long)`, with
    // `mi_option_t` a C enum (int). Purges scheduled from now on use the new delay.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    PurgeDelay::Set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_is_the_option_set_and_huge_pages_stay_allowed() {
        // mimalloc documents purge_delay's default as 10 and allow_thp's as 1 (except on
        // Android); no neighbour of either defaults to the same value, so a wrong index
        // would not read them, and what is set must be what reads back.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
            || std::env::var_os("MIMALLOC_ALLOW_THP").is_some()
        {
            eprintln!(
                "*** SKIPPED purge_delay_is_the_option_set_and_huge_pages_stay_allowed: \
                 MIMALLOC_PURGE_DELAY or MIMALLOC_ALLOW_THP is set. It did NOT run. ***"
            );
            return;
        }
        // SAFETY: reads integers from mimalloc's option table.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, 10);
        assert_eq!(unsafe { mi_option_get(MI_OPTION_ALLOW_THP) }, 1);
        assert_eq!(configure(), PurgeDelay::Set);
        // SAFETY: as above.
        assert_eq!(
            unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) },
            PURGE_DELAY_MS
        );
        assert_eq!(unsafe { mi_option_get(MI_OPTION_ALLOW_THP) }, 1);
    }
}
