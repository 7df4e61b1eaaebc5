#!/usr/bin/env python3
"""Put a file's page-cache copy into a known state, or report it, for benchmarks.

How the kernel caches a capture changes what mapping it costs: with 2 MiB folios a fault
maps 2 MiB with one page-table entry; with 4 KiB folios it maps sixteen pages per fault
and unmapping tears them down one by one. On the 1 GB generated capture that is 0.15 s
against 0.27 s for the header walk. Which state a file is in depends on who read it first
since it was last evicted, so a benchmark has to set it.

    pagecache.py huge FILE    evict, then read it the way a cold `wirehouse` run does
                              (a mapping advised MADV_HUGEPAGE): 2 MiB folios where the
                              kernel and file system support them
    pagecache.py small FILE   evict, then read it through a mapping advised only
                              MADV_SEQUENTIAL and MADV_WILLNEED (what wirehouse did before
                              4459c0b): 4 KiB folios
    pagecache.py report FILE  print how much of FILE a fresh mapping maps in 2 MiB pages
    pagecache.py evict FILE...  only evict: the next reader reads each FILE from the disk
"""
import mmap
import os
import sys


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages (a capture just generated) cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def touch(path, advice):
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        m = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        for a in advice:
            if a is None:
                continue  # MADV_HUGEPAGE on a Python built without it
            try:
                m.madvise(a)
            except OSError:
                pass  # a hint the kernel does not take; the report says what happened
        total = 0
        for off in range(0, size, 4096):
            total += m[off]
        pmd = 0
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("FilePmdMapped:"):
                    pmd = int(line.split()[1]) * 1024
        m.close()
        return size, pmd
    finally:
        os.close(fd)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("huge", "small", "report", "evict"):
        sys.exit(__doc__)
    if sys.argv[1] == "evict":
        for path in sys.argv[2:]:
            evict(path)
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "huge":
        evict(path)
        touch(path, [getattr(mmap, "MADV_HUGEPAGE", None), mmap.MADV_SEQUENTIAL])
    elif mode == "small":
        evict(path)
        touch(path, [mmap.MADV_SEQUENTIAL, mmap.MADV_WILLNEED])
    # Report through a second, unadvised mapping: the first one's advice decides how it is
    # mapped, while the question is how the page cache holds the file.
    size, pmd = touch(path, [])
    print(f"{pmd / 1e6:.0f} of {size / 1e6:.0f} MB in 2 MiB pages")


if __name__ == "__main__":
    main()
