#!/usr/bin/env bash
# End-to-end throughput on a generated capture, against the floor of walking every record
# header, at 1 thread and at all threads; peak RSS; and tshark/tcpflow on the same file for
# comparison when they are installed. Prints a table (also written to out/bench/RESULTS.md).
#
#   SIZE=2G ./scripts/throughput.sh        # capture size (default 1G)
#   KEEP=1 ./scripts/throughput.sh         # keep the generated capture in out/bench
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-1G}
THREADS=$(nproc)
DIR=out/bench
CAP=$DIR/http-$SIZE.pcap
mkdir -p "$DIR"
cargo build --release --locked -p wirehouse -p wirehouse-gen >&2
BIN=./target/release/wirehouse
if [ ! -f "$CAP" ]; then
    echo "generating $SIZE capture ..." >&2
    ./target/release/wirehouse-gen --out "$CAP" --size "$SIZE" --seed 1 --truth "$DIR/truth-$SIZE" >&2
fi
bytes=$(stat -c %s "$CAP")
# Read it once so every run starts with the file in the page cache.
cat "$CAP" > /dev/null

peak_kb() { grep VmHWM "/proc/$1/status" 2>/dev/null | awk '{print $2}'; }

# run LABEL CMD...: wall seconds and peak RSS (sampled from /proc while running).
run() {
    local label=$1; shift
    local start end peak=0 p
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$DIR/$label.stderr" &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        p=$(peak_kb "$pid" || echo 0); [ -n "$p" ] && [ "$p" -gt "$peak" ] && peak=$p
        sleep 0.05
    done
    wait "$pid" || true
    end=$(date +%s.%N)
    echo "$label $(echo "$end - $start" | bc) $peak"
}

packets=$($BIN walk "$CAP" -j 1 | awk '/packets/{print $1}')
{
echo "| run | threads | seconds | GB/s | M packets/s | peak RSS MB |"
echo "|---|---|---|---|---|---|"
for t in 1 "$THREADS"; do
    read -r _ secs peak < <(run "walk-$t" $BIN walk "$CAP" -j "$t")
    echo "| header walk (floor) | $t | $secs | $(echo "scale=2; $bytes/$secs/1000000000" | bc) | $(echo "scale=2; $packets/$secs/1000000" | bc) | $((peak/1024)) |"
    read -r _ secs peak < <(run "analyze-$t" $BIN analyze "$CAP" -o "$DIR/out-$t" --force -q -j "$t")
    echo "| wirehouse analyze | $t | $secs | $(echo "scale=2; $bytes/$secs/1000000000" | bc) | $(echo "scale=2; $packets/$secs/1000000" | bc) | $((peak/1024)) |"
done
if command -v tshark >/dev/null; then
    read -r _ secs peak < <(run tshark tshark -r "$CAP" -Y http.request -T fields -e http.request.uri)
    echo "| tshark -Y http.request -e http.request.uri | 1 | $secs | $(echo "scale=3; $bytes/$secs/1000000000" | bc) | $(echo "scale=3; $packets/$secs/1000000" | bc) | $((peak/1024)) |"
fi
if command -v tcpflow >/dev/null; then
    rm -rf "$DIR/tcpflow"; mkdir -p "$DIR/tcpflow"
    read -r _ secs peak < <(run tcpflow tcpflow -r "$CAP" -o "$DIR/tcpflow")
    echo "| tcpflow -r | 1 | $secs | $(echo "scale=3; $bytes/$secs/1000000000" | bc) | $(echo "scale=3; $packets/$secs/1000000" | bc) | $((peak/1024)) |"
    rm -rf "$DIR/tcpflow"
fi
echo
echo "capture: $CAP, $bytes bytes, $packets packets; machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
} | tee "$DIR/RESULTS.md"
[ -n "${KEEP:-}" ] || rm -f "$CAP"
