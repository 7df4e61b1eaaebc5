#!/usr/bin/env bash
# Record datasets/loopback/http-loopback.pcap: real clients (curl, ab, Python raw sockets)
# against real servers (nginx, and server.py for chunked/upload/close cases) on loopback,
# with the clients' own view written to truth.tsv and truth_ab.tsv.
#
# Needs root (tcpdump) and: nginx curl apache2-utils tcpdump python3. Re-running produces a
# capture with the same structure (ports and timestamps differ), and new truth files.
#
#   ./record.sh                         # datasets/loopback: a clean recording
#   ./record.sh --loss 3 --mtu 1500 --out DIR
#                                       # the same scenarios with 3 % of packets dropped,
#                                       # over a loopback of Ethernet's MTU
#
# With --loss P (needs nft, Debian's nftables), nftables drops each packet of the two server
# ports with probability P % twice: at INPUT, after tcpdump saw it (the capture holds the lost
# copy and, later, its retransmission: loss on the path beyond the capture point), and at
# OUTPUT, before tcpdump sees it. Linux reports an OUTPUT drop to the sending socket, which
# sends the segment again later instead of moving on: the capture shows it once, late (retried
# SYNs and SYN/ACKs, stalls, retransmission timeouts), not a hole. Bytes the capture never has
# are covered by the generator's --loss and the corpus. The clients' truth is unchanged by
# loss: they log what TCP finally delivered to them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here
loss=0
mtu=
while [ $# -gt 0 ]; do
    case $1 in
        --loss) loss=$2; shift 2 ;;
        --mtu) mtu=$2; shift 2 ;;
        --out) out=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
        *) echo "record.sh: unknown argument $1 (use --loss PCT, --mtu BYTES, --out DIR)" >&2; exit 1 ;;
    esac
done
for tool in nginx curl ab tcpdump python3; do
    command -v "$tool" >/dev/null || { echo "record.sh: $tool is required" >&2; exit 1; }
done
if [ -n "$mtu" ]; then
    command -v ethtool >/dev/null || { echo "record.sh: --mtu needs ethtool" >&2; exit 1; }
fi
if [ "$loss" != 0 ]; then
    command -v nft >/dev/null || { echo "record.sh: --loss needs nft (apt-get install nftables)" >&2; exit 1; }
fi
work=$(mktemp -d)
old_mtu=$(cat /sys/class/net/lo/mtu)
old_offload=
trap '[ -n "$mtu" ] && ip link set lo mtu "$old_mtu"; [ -n "$old_offload" ] && ethtool -K lo $old_offload; kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; nginx -s stop -c "$work/nginx.conf" 2>/dev/null || true; nft delete table inet wirehouse_loss 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/www/close" "$work/www/gz"
head -c 1000 /dev/urandom | base64 -w 76 | head -c 1024 > "$work/www/small.txt"
cp "$work/www/small.txt" "$work/www/close/small.txt"
head -c 40960 /dev/urandom > "$work/www/medium.bin"
head -c 3145728 /dev/urandom > "$work/www/large.bin"
python3 -c "import sys; [print(f'line {i}: the quick brown fox jumps over the lazy dog') for i in range(1000)]" > "$work/www/gz/text.txt"
head -c 1048576 /dev/urandom > "$work/upload.bin"
head -c 5000 /dev/urandom > "$work/chunk.bin"

# nginx workers run unprivileged: the document root must be world-readable.
chmod -R a+rX "$work"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 64; }
http {
    access_log $work/access.log;
    client_body_temp_path $work/client_body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    types { text/plain txt; text/html html; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:18080;
        listen [::1]:18080;
        root $work/www;
        keepalive_timeout 30s;
        location /close/ { keepalive_timeout 0; }
        location /gz/ { gzip on; gzip_types text/plain; gzip_min_length 0; }
    }
}
CONF
nginx -c "$work/nginx.conf"
python3 "$here/server.py" 18081 & echo $! > "$work/server.pid"
tcpdump -i lo -s 0 -B 65536 -U -w "$work/capture.pcap" 'tcp port 18080 or tcp port 18081' 2>"$work/tcpdump.log" &
echo $! > "$work/tcpdump.pid"
# With --mtu, segments are MSS-sized as on Ethernet (loopback's own MTU is 64 KiB, and TCP
# hands it up to 64 KiB at once unless segmentation offload is off), so a lost packet is one
# segment of a long train rather than most of a response.
if [ -n "$mtu" ]; then
    old_offload=$(ethtool -k lo | awk '/^tcp-segmentation-offload:/ { t = $2 } /^generic-segmentation-offload:/ { g = $2 } END { print "tso " t " gso " g }')
    ip link set lo mtu "$mtu"
    ethtool -K lo tso off gso off
fi
sleep 1
if [ "$loss" != 0 ]; then
    # Per mille, so fractional percentages work too.
    permille=$(python3 -c "print(round(float('$loss') * 10))")
    drop="numgen random mod 1000 < $permille counter drop"
    nft -f - <<NFT
table inet wirehouse_loss {
    chain before_capture {
        type filter hook output priority 0;
        tcp sport { 18080, 18081 } $drop
        tcp dport { 18080, 18081 } $drop
    }
    chain after_capture {
        type filter hook input priority 0;
        tcp sport { 18080, 18081 } $drop
        tcp dport { 18080, 18081 } $drop
    }
}
NFT
fi
python3 "$here/clients.py" "$work" "$work/upload.bin" "$work/chunk.bin"
sleep 1
if [ "$loss" != 0 ]; then
    nft list table inet wirehouse_loss | tee "$out/dropped.nft" >&2
    nft delete table inet wirehouse_loss
fi
kill -INT "$(cat "$work/tcpdump.pid")"
wait "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
rm -f "$work/tcpdump.pid"
grep -E "captured|dropped" "$work/tcpdump.log" >&2
cp "$work/capture.pcap" "$out/http-loopback.pcap"
cp "$work/truth.tsv" "$work/truth_ab.tsv" "$out/"
ls -l "$out/http-loopback.pcap" >&2
