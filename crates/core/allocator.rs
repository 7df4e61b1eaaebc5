//! The one allocator setting wirehouse changes, through mimalloc's C API, madvise(2) and
//! prctl(2).
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long, c_void};

/// `mi_option_allow_thp` in mimalloc v2's `mimalloc.h` (the C library built by
/// libmimalloc-sys 0.1.49, pinned in Cargo.lock); the test below checks it names an option
/// with that option's default.
const MI_OPTION_ALLOW_THP: c_int = 37;
/// `MI_MAX_ARENAS` in mimalloc v2's `arena.c`: arena ids run from 1 to this.
const MI_MAX_ARENAS: c_int = 132;

/// `PR_SET_THP_DISABLE` / `PR_GET_THP_DISABLE` from `<linux/prctl.h>`.
#[cfg(target_os = "linux")]
const PR_SET_THP_DISABLE: c_int = 41;
#[cfg(all(target_os = "linux", test))]
const PR_GET_THP_DISABLE: c_int = 42;
/// `PR_THP_DISABLE_EXCEPT_ADVISED` (Linux 6.18): with `PR_SET_THP_DISABLE`, mappings advised
/// `MADV_HUGEPAGE` keep huge pages.
#[cfg(target_os = "linux")]
const PR_THP_DISABLE_EXCEPT_ADVISED: c_long = 1 << 1;
/// `MADV_NOHUGEPAGE` from `<asm-generic/mman-common.h>`.
#[cfg(target_os = "linux")]
const MADV_NOHUGEPAGE: c_int = 15;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_arena_area(arena_id: c_int, size: *mut usize) -> *mut c_void;
    #[cfg(target_os = "linux")]
    fn prctl(option: c_int, ...) -> c_int;
    #[cfg(target_os = "linux")]
    fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
}

/// What [`disable_transparent_huge_pages`] managed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ThpSetting {
    /// Left alone: `MIMALLOC_ALLOW_THP` was set.
    UserChoice,
    /// Off for the heap; the capture windows (advised `MADV_HUGEPAGE`) keep them.
    OffExceptCaptureWindows,
    /// Off for the whole process (kernels before 6.18).
    Off,
}

/// Turns transparent huge pages off for the heap, as `MIMALLOC_ALLOW_THP=0` would, and keeps
/// them for the mapped capture windows.
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
///
/// The capture windows are the opposite case: read-only file pages that the page cache may
/// hold in 2 MiB folios (see `wirehouse_capture::source`), which a mapping advised
/// `MADV_HUGEPAGE` maps with one page-table entry each, unless huge pages are off for the
/// whole process. So the arena mimalloc reserved (and advised) before `main` is advised
/// `MADV_NOHUGEPAGE` instead, and huge pages are turned off for everything not advised
/// (Linux 6.18's `PR_THP_DISABLE_EXCEPT_ADVISED`, which also covers `always` mode). On older
/// kernels they are turned off for the whole process, as before; windows then map the same
/// folios 4 KiB at a time.
pub(crate) fn disable_transparent_huge_pages() -> ThpSetting {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return ThpSetting::UserChoice;
    }
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table (atomically);
    // the declaration matches mimalloc.h's `void mi_option_set(mi_option_t, long)`, with
    // `mi_option_t` a C enum (int). With the option off mimalloc stops advising huge pages
    // for the memory it maps from now on.
    unsafe { mi_option_set(MI_OPTION_ALLOW_THP, 0) }
    #[cfg(target_os = "linux")]
    {
        // Memory mapped before this call (mimalloc's first arena, reserved at the first
        // allocation) was advised already: take the advice back.
        for id in 1..=MI_MAX_ARENAS {
            let mut size = 0usize;
            // SAFETY: mi_arena_area reads mimalloc's arena table and writes one usize
            // through the pointer, which points at a live local; it returns null for an id
            // without an arena. Arenas are numbered from 1 in creation order.
            let start = unsafe { mi_arena_area(id, &mut size) };
            if start.is_null() {
                break;
            }
            // SAFETY: the range is a mapping mimalloc owns for the life of the process;
            // MADV_NOHUGEPAGE only changes the huge-page flag of the mapping, never its
            // contents. Failure leaves the advice as it was (speed and memory, not results).
            let _ = unsafe { madvise(start, size, MADV_NOHUGEPAGE) };
        }
        // SAFETY: prctl(PR_SET_THP_DISABLE, 1, flags, 0, 0) takes integer arguments only and
        // sets a flag on this process's memory descriptor. Kernels before 6.18 reject the
        // flag with EINVAL; failure of the plain form (older than 3.15) leaves THP as it
        // was, which changes speed and memory, never results.
        unsafe {
            let set = |flags: c_long| {
                prctl(
                    PR_SET_THP_DISABLE,
                    1 as c_long,
                    flags,
                    0 as c_long,
                    0 as c_long,
                ) == 0
            };
            if set(PR_THP_DISABLE_EXCEPT_ADVISED) {
                return ThpSetting::OffExceptCaptureWindows;
            }
            let _ = set(0);
        }
    }
    ThpSetting::Off
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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
        let setting = disable_transparent_huge_pages();
        // SAFETY: as above.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_ALLOW_THP) }, 0);
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_GET_THP_DISABLE takes no pointer and returns the flags (or -1 on
            // kernels without it, where there is nothing to check). All four arguments are
            // passed: the kernel rejects the call unless they are zero, and a variadic call
            // with fewer leaves whatever was in those registers.
            let flag = unsafe {
                prctl(
                    PR_GET_THP_DISABLE,
                    0 as c_long,
                    0 as c_long,
                    0 as c_long,
                    0 as c_long,
                )
            };
            match setting {
                // PR_GET_THP_DISABLE reports both bits: disabled, except where advised.
                ThpSetting::OffExceptCaptureWindows => assert_eq!(flag, 3),
                ThpSetting::Off if flag >= 0 => assert_eq!(flag, 1),
                other => assert!(flag < 0, "{other:?} with PR_GET_THP_DISABLE = {flag}"),
            }
            // The arena mimalloc advised before the call is now advised against huge pages:
            // its mapping's VmFlags in /proc/self/smaps carry `nh` and not `hg`.
            let mut size = 0usize;
            // SAFETY: as in disable_transparent_huge_pages.
            let start = unsafe { mi_arena_area(1, &mut size) } as usize;
            assert!(start != 0 && size > 0, "mimalloc reserved no arena");
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            let mut flags = None;
            let mut inside = false;
            for line in smaps.lines() {
                if let Some((range, _)) = line.split_once(' ')
                    && let Some((lo, hi)) = range.split_once('-')
                    && let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = lo <= start && start < hi;
                } else if inside && let Some(f) = line.strip_prefix("VmFlags:") {
                    flags = Some(f.split_whitespace().map(str::to_string).collect::<Vec<_>>());
                }
            }
            let flags = flags.expect("the arena's mapping is in /proc/self/smaps");
            assert!(
                flags.iter().any(|f| f == "nh") && !flags.iter().any(|f| f == "hg"),
                "arena VmFlags {flags:?}"
            );
        }
    }
}
