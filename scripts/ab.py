#!/usr/bin/env python3
"""Paired A/B timing of two (or more) wirehouse builds on one capture.

This VM's speed drifts by 10-50 % within minutes, far more than most changes are worth, so
separate timing runs of two builds compare the VM's moods rather than the builds. Here each
round runs every build back to back (the order alternating between rounds, so neither build
always runs on the heels of the other), and what is reported is the per-round ratio of each
build to the first: its median, how many rounds it was lower, and a two-sided sign test of
"lower as often as higher". Wall, user and system time come from the kernel's accounting of
the child (wait4), so nothing runs beside the measured process.

    scripts/ab.py [--rounds N] [--threads T] CAPTURE BIN_A BIN_B [BIN_C ...] [-- EXTRA ARGS]

    scripts/ab.py out/bench/http-1G.pcap /tmp/wirehouse-before target/release/wirehouse
    scripts/ab.py --rounds 31 --threads 2 out/bench/http-10G.pcap old new -- --window-mib 16

The capture's page cache is put in 2 MiB folios first (`scripts/pagecache.py huge`, as
`throughput.sh` does; `--cache small` for 4 KiB folios, `--cache keep` to leave it), and its state
is reported again after the rounds. A file that has fallen back to 4 KiB folios (evicted and
read again by something else) costs every run a tenth of a second of system time mapping and
unmapping it, which hides a few percent of difference in user time.

Copy the baseline binary aside first (`cp target/release/wirehouse /tmp/wirehouse-before`):
cargo replaces the file in place. Each run writes to its own temporary directory, deleted
afterwards. A sign test p-value under 0.05 with a median ratio a few percent from 1 is about
the smallest difference this machine can show; with 21 rounds that takes 16 rounds of 21 on
one side.
"""

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(binary, capture, threads, extra):
    out = tempfile.mkdtemp(prefix="wirehouse-ab-")
    try:
        cmd = [binary, "analyze", capture, "-o", out, "--force", "--threads", str(threads)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd + extra, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if status != 0:
            sys.exit(f"{binary} failed (status {status}):\n{err}")
        return wall, usage.ru_utime, usage.ru_stime
    finally:
        shutil.rmtree(out, ignore_errors=True)


def sign_test(lower, n):
    """Two-sided p-value of `lower` of `n` rounds below 1 under a fair coin."""
    k = min(lower, n - lower)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=21)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache", choices=["huge", "small", "keep"], default="huge")
    p.add_argument("capture")
    p.add_argument("binaries", nargs="+")
    a = p.parse_args(argv)
    if len(a.binaries) < 2:
        p.error("give at least two binaries: the baseline first")
    if not os.path.exists(a.capture):
        p.error(f"{a.capture}: no such file")
    for b in a.binaries:
        if shutil.which(b) is None and not os.access(b, os.X_OK):
            p.error(f"{b}: not an executable")
    pagecache = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pagecache.py")

    def cache(action):
        out = subprocess.run(
            [sys.executable, pagecache, action, a.capture], capture_output=True, text=True
        )
        return (out.stdout or out.stderr).strip()

    cache_before = cache("report" if a.cache == "keep" else a.cache)
    times = {b: [] for b in a.binaries}
    for r in range(a.rounds):
        order = a.binaries if r % 2 == 0 else a.binaries[::-1]
        for b in order:
            times[b].append(run_once(b, a.capture, a.threads, extra))
        print(f"round {r + 1}/{a.rounds}", file=sys.stderr, end="\r", flush=True)
    print(file=sys.stderr)
    base = times[a.binaries[0]]
    print(f"{a.rounds} paired rounds, {a.threads} thread(s), {a.capture}")
    print(f"page cache: {cache_before} before the rounds, {cache('report')} after")
    for b in a.binaries:
        t = times[b]
        med = [statistics.median(x[k] for x in t) for k in range(3)]
        line = f"{b}: median wall {med[0]:.3f} s, user {med[1]:.3f} s, system {med[2]:.3f} s"
        if b != a.binaries[0]:
            for k, name in [(0, "wall"), (1, "user")]:
                ratios = [y[k] / x[k] for x, y in zip(base, t) if x[k] > 0]
                lower = sum(v < 1 for v in ratios)
                line += (
                    f"\n    {name} / baseline: median {statistics.median(ratios):.3f}, "
                    f"lower in {lower} of {len(ratios)} rounds, "
                    f"sign test p = {sign_test(lower, len(ratios)):.3f}"
                )
        print(line)


if __name__ == "__main__":
    main()
