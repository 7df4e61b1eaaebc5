//! The one allocator setting wirehouse changes, through mimalloc's C API and prctl(2).
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long};

/// `mi_option_allow_thp` in mimalloc v2's `mimalloc.h` (the C library built by
/// libmimalloc-sys 0.1.49, pinned in Cargo.lock); the test below checks it names an option
/// with that option's default.
const MI_OPTION_ALLOW_THP: c_int = 37;

/// `PR_SET_THP_DISABLE` / `PR_GET_THP_DISABLE` from `<linux/prctl.h>`.
#[cfg(target_os = "linux")]
const PR_SET_THP_DISABLE: c_int = 41;
#[cfg(all(target_os = "linux", test))]
const PR_GET_THP_DISABLE: c_int = 42;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
    #[cfg(target_os = "linux")]
    fn prctl(option: c_int, ...) -> c_int;
}

/// Turns transparent huge pages off for this process, as `MIMALLOC_ALLOW_THP=0` would.
///
/// mimalloc asks for huge pages on its arenas (`madvise(MADV_HUGEPAGE)`), so on kernels with
/// THP in `madvise` mode (this machine's) or `always` mode every first touch of a freed-and-purged 2 MiB
/// range faults in a whole huge page and zeroes it. The pipeline frees in bursts (record
/// batches handed to the Parquet writers, emptied reassembly buffers, closed connections),
/// and under a 1-thread `perf` profile of the 1 GB generated capture about a sixth of all
/// samples were `clear_page_erms` under `do_huge_pmd_anonymous_page`. Before this, wirehouse
/// set mimalloc's purge delay to 0 to keep peak RSS down, which made that zeroing happen on
/// every burst. With 4 KiB pages and mimalloc's default 10 ms purge delay, the 1 GB
/// capture over 12 interleaved rounds: median wall 1.15 -> 0.97 s at 1 thread and 0.63 ->
/// 0.57 s at 2 threads, system time 0.34 -> 0.21 s, and peak RSS 166 -> 153 MB (1 thread),
/// 168 -> 156 MB (2 threads), because huge pages also kept partly used 2 MiB ranges
/// resident. A `MIMALLOC_ALLOW_THP` set by the user wins (1 restores mimalloc's default).
/// Reading the capture is unaffected: the setting only concerns anonymous memory, and the
/// header walk runs at the same speed with it or without.
pub(crate) fn disable_transparent_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table (atomically);
    // the declaration matches mimalloc.h's `void mi_option_set(mi_option_t, long)`, with
    // `mi_option_t` a C enum (int). With the option off mimalloc stops advising huge pages
    // for the memory it maps from now on.
    unsafe { mi_option_set(MI_OPTION_ALLOW_THP, 0) }
    // mimalloc reads the option once at start-up to disable THP for the process; that has
    // happened before `main`, so do what it would have done. Memory mapped before this call
    // (mimalloc's first arena) was advised already, and the process-wide flag covers it too.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) takes integer arguments only and sets a
    // flag on this process's memory descriptor; failure (old kernels) leaves THP as it was,
    // which changes speed and memory, never results.
    unsafe {
        let _ = prctl(
            PR_SET_THP_DISABLE,
            1 as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thp_option_is_the_one_set_and_the_process_flag_follows() {
        // mimalloc documents allow_thp's default as 1 (except on Android); its neighbour
        // generic_collect defaults to 10000 and past it lies the end of the table, so a
        // wrong index would not read 1, and what is set must be what reads back.
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
            eprintln!(
                "*** SKIPPED thp_option_is_the_one_set_and_the_process_flag_follows: \
                 MIMALLOC_ALLOW_THP is set. It did NOT run. ***"
            );
            return;
        }
        // SAFETY: reads an integer from mimalloc's option table.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_ALLOW_THP) }, 1);
        disable_transparent_huge_pages();
        // SAFETY: as above.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_ALLOW_THP) }, 0);
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_GET_THP_DISABLE takes no pointer and returns the flag (or -1 on
            // kernels without it, where there is nothing to check).
            let flag = unsafe { prctl(PR_GET_THP_DISABLE, 0 as c_long, 0 as c_long) };
            if flag >= 0 {
                assert_eq!(flag, 1, "PR_SET_THP_DISABLE did not take effect");
            }
        }
    }
}
