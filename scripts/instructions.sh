#!/usr/bin/env bash
# Instructions per packet of `wirehouse analyze --threads 1` on a generated capture, counted
# by callgrind. Unlike wall time on a shared VM, the count repeats to a few thousand
# instructions, so it shows the effect of a hot-path change that timing noise would hide.
#
#   ./scripts/instructions.sh              # 1G capture (shared with scripts/throughput.sh)
#   SIZE=256M ./scripts/instructions.sh    # smaller and quicker
#
# Needs valgrind (apt-get install valgrind). Takes about a minute per GB.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-1G}
DIR=out/bench
CAP=$DIR/http-$SIZE.pcap
if ! command -v valgrind >/dev/null; then
    echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 1
fi
mkdir -p "$DIR"
cargo build --release --locked -p wirehouse -p wirehouse-gen >&2
if [ ! -f "$CAP" ]; then
    echo "generating $SIZE capture ..." >&2
    ./target/release/wirehouse-gen --out "$CAP" --size "$SIZE" --seed 1 >&2
fi
out=$DIR/callgrind.out
valgrind --tool=callgrind --callgrind-out-file="$out" \
    ./target/release/wirehouse analyze --threads 1 "$CAP" -o "$DIR/instructions-out" --force \
    2>"$DIR/callgrind.log" >/dev/null
instr=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$DIR/callgrind.log")
packets=$(./target/release/wirehouse walk "$CAP" 2>&1 | sed -n 's/^\([0-9][0-9]*\) packets$/\1/p' | head -1)
if [ -z "$instr" ] || [ -z "$packets" ]; then
    echo "instructions.sh: could not read the counts (see $DIR/callgrind.log)" >&2
    exit 1
fi
awk -v i="$instr" -v p="$packets" -v c="$CAP" 'BEGIN {
    printf "%s: %d packets, %.3f G instructions, %.0f per packet\n", c, p, i / 1e9, i / p }'
# Where they go, by the inclusive count of each stage's entry point (with LTO most helpers are
# inlined into these, so the split is by stage, not by function). The stages overlap in one
# place: the TCP state machine's count includes the HTTP analysis it feeds.
# (awk reads to the end rather than exiting at the match: an early exit made callgrind_annotate
# die of SIGPIPE, and with pipefail the script stopped after the first stage.)
stage() { # LABEL SYMBOL
    callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
        awk -v s="$2" -v l="$1" -v total="$instr" '
            !done && index($0, s) && $1 ~ /^[0-9,]+$/ { gsub(",", "", $1); printf "  %-34s %6.3f G  %4.1f %%\n", l, $1 / 1e9, 100 * $1 / total; done = 1 }'
}
if command -v callgrind_annotate >/dev/null; then
    stage "framing + decode + routing" "wirehouse_engine::framing::frame_window"
    stage "TCP state machine (+ HTTP fed)" "wirehouse_tcp::conn::Connection::on_segment"
    stage "application analysis (HTTP)" "wirehouse_engine::app::App::on_data"
    stage "Parquet encoding" "wirehouse_output::dataset::Part::write"
    stage "  of which zstd" "ZSTD_compress2"
fi
echo "profile: $out (callgrind_annotate $out)"
