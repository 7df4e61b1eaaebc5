//! The one allocator setting wirehouse changes, through mimalloc's C API.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long};

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (the C library built by
/// libmimalloc-sys 0.1.49, pinned in Cargo.lock); the test below checks it names an option
/// with that option's default.
const MI_OPTION_PURGE_DELAY: c_int = 15;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
}

/// Returns freed memory to the kernel at once instead of after mimalloc's default 10 ms.
///
/// Windows, shard queues and Parquet pages are freed in bursts, and with the delay those
/// pages stay resident while the next burst is allocated. Generated captures, peak RSS at
/// 1 / 2 threads: 20 GB 210 / 255-271 MB with the delay, 181 / 231-233 MB without; 10 GB
/// 206 / 240 -> 179 / 223 MB; with the later 6 MiB Parquet writers, 20 GB at 2 threads
/// 247-276 MB with the delay against 239-245 MB without (three interleaved runs each). The
/// price is system time: on the 1 GB capture at 2 threads madvise calls go from about 190 to
/// 2,000 and page faults from 21k to 50k, and the median wall time of 5 interleaved runs was
/// 0.59 s against 0.55 s, about 5 %. Staying under the memory target at any capture size was
/// judged worth that; a `MIMALLOC_PURGE_DELAY` set by the user wins (10 restores mimalloc's
/// default).
pub(crate) fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table (atomically);
    // the declaration matches mimalloc.h's `void mi_option_set(mi_option_t, long)`, with
    // `mi_option_t` a C enum (int).
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_option_is_the_one_set() {
        // mimalloc documents purge_delay's default as 10 (ms); a wrong index would read
        // another option (its neighbours default to 1 and 0), and what is set
        // must be what reads back.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            eprintln!(
                "*** SKIPPED purge_delay_option_is_the_one_set: MIMALLOC_PURGE_DELAY is set. \
                 It did NOT run. ***"
            );
            return;
        }
        // SAFETY: reads an integer from mimalloc's option table.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, 10);
        return_freed_memory_promptly();
        // SAFETY: as above.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, 0);
    }
}
