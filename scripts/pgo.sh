#!/usr/bin/env bash
# A profile-guided build of wirehouse (`make pgo`): an instrumented build analyses training
# captures, and the release build is compiled again with what it recorded (which branches
# are taken, which calls are hot), so the compiler lays out and inlines for this workload.
#
#   ./scripts/pgo.sh                    # writes out/pgo/wirehouse
#   BIN=out/pgo/wirehouse ./scripts/throughput.sh   # benchmark it
#
# Training uses generated captures with other seeds than the benchmark's (seed 1), one with
# ordinary bodies and one with small ones, plus the shipped recordings, at 1 and 2 threads:
# the profile describes the pipeline, not the benchmark file. The result must analyse
# exactly as the plain build does; the last step checks that on the shipped captures.
#
# Needs llvm-profdata from rustc's own LLVM version (rustup's llvm-tools component; it is
# added when rustup is there). About 8 minutes on 2 cores, two full builds.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PGO_DIR:-out/pgo}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ] && command -v rustup >/dev/null; then
    rustup component add llvm-tools >&2
fi
if [ ! -x "$profdata" ]; then
    echo "pgo: no llvm-profdata for rustc's LLVM at $profdata;" \
        "install it with: rustup component add llvm-tools" >&2
    exit 1
fi

echo "pgo: plain and instrumented builds ..." >&2
cargo build --release --locked -p wirehouse -p wirehouse-gen >&2
rm -rf "$OUT/profraw"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$OUT/profraw" CARGO_TARGET_DIR="$OUT/target-gen" \
    cargo build --release --locked -p wirehouse >&2

echo "pgo: training ..." >&2
[ -f "$OUT/train.pcap" ] ||
    ./target/release/wirehouse-gen --out "$OUT/train.pcap" --size 256M --seed 2 >&2
[ -f "$OUT/train-small.pcap" ] ||
    ./target/release/wirehouse-gen --out "$OUT/train-small.pcap" --size 64M --seed 3 \
        --body-scale 0.05 >&2
shipped=(datasets/*/*.pcap)
gen="$OUT/target-gen/release/wirehouse"
for threads in 1 2; do
    for cap in "$OUT/train.pcap" "$OUT/train-small.pcap"; do
        "$gen" analyze --threads "$threads" "$cap" -o "$OUT/train-out" --force -q
    done
    "$gen" analyze --threads "$threads" "${shipped[@]}" -o "$OUT/train-out" --force -q
done
"$profdata" merge -o "$OUT/merged.profdata" "$OUT/profraw"

echo "pgo: optimised build ..." >&2
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$OUT/merged.profdata" CARGO_TARGET_DIR="$OUT/target" \
    cargo build --release --locked -p wirehouse >&2
cp "$OUT/target/release/wirehouse" "$OUT/wirehouse"

# Same rows as the plain build, table by table, on the shipped recordings and the training
# captures (scripts/same_rows.py, with the test virtualenv's DuckDB).
./scripts/pyenv.sh
for cap in "${shipped[@]}" "$OUT/train.pcap" "$OUT/train-small.pcap"; do
    ./target/release/wirehouse analyze "$cap" -o "$OUT/check-plain" --force -q
    "$OUT/wirehouse" analyze "$cap" -o "$OUT/check-pgo" --force -q
    if ! .venv/bin/python scripts/same_rows.py "$OUT/check-plain" "$OUT/check-pgo" >&2; then
        echo "pgo: $cap gives other rows with the PGO build" >&2
        exit 1
    fi
done
rm -rf "$OUT/check-plain" "$OUT/check-pgo" "$OUT/train-out" "$OUT/profraw"
echo "$OUT/wirehouse"
