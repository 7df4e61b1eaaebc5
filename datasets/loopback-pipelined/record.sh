#!/usr/bin/env bash
# Record datasets/loopback-pipelined/http-pipelined.pcap: nginx on loopback answering
# client.py, which pipelines bursts of GET and HEAD requests on keep-alive connections, over
# a loopback of Ethernet's MTU with segmentation offload off (MSS-sized segments, as on a
# wire). truth.tsv is what the client logged. tests/loopback.rs removes packets from this
# capture to check that capture drops never give a request another request's response.
#
# Needs root (tcpdump, ip, ethtool) and: nginx tcpdump ethtool python3.
#
#   ./record.sh [CONNS ROUNDS]     # default 12 connections x 20 bursts
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
conns=${1:-12}
rounds=${2:-20}
port=18096
for tool in nginx tcpdump ethtool python3; do
    command -v "$tool" >/dev/null || { echo "record.sh: $tool is required" >&2; exit 1; }
done
work=$(mktemp -d)
old_mtu=$(cat /sys/class/net/lo/mtu)
old_offload=$(ethtool -k lo | awk '/^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):/{sub(/tcp-segmentation-offload/,"tso");sub(/generic-segmentation-offload/,"gso");sub(/generic-receive-offload/,"gro"); printf "%s %s ", substr($1,1,length($1)-1), $2}')
trap 'ip link set lo mtu "$old_mtu"; ethtool -K lo $old_offload 2>/dev/null || true; kill $(cat "$work/tcpdump.pid" 2>/dev/null) 2>/dev/null || true; nginx -s stop -c "$work/nginx.conf" 2>/dev/null || true; rm -rf "$work"' EXIT

# 40 files, 0 B to 24 KiB (seeded: the same sizes on every run).
mkdir -p "$work/www"
python3 - "$work/www" <<'PY'
import os, random, sys
r = random.Random(7)
for i in range(40):
    size = r.choice([r.randint(0, 200), r.randint(200, 3000), r.randint(3000, 24576)])
    with open(os.path.join(sys.argv[1], f"f{i}.bin"), "wb") as f:
        f.write(r.randbytes(size))
PY
chmod -R a+rX "$work"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 256; }
http {
    access_log off;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port;
        root $work/www;
    }
}
CONF
nginx -c "$work/nginx.conf"

ip link set lo mtu 1500
ethtool -K lo tso off gso off gro off
tcpdump -i lo -s 0 -B 65536 -U -w "$work/cap.pcap" "tcp port $port" 2>"$work/tcpdump.log" &
echo $! > "$work/tcpdump.pid"
sleep 1
python3 "$here/client.py" "$port" "$conns" "$rounds" > "$work/truth.tsv"
sleep 1
kill "$(cat "$work/tcpdump.pid")"
wait || true
cat "$work/tcpdump.log" >&2
if ! grep -q "^0 packets dropped by kernel" "$work/tcpdump.log"; then
    echo "record.sh: tcpdump dropped packets; run again on a quieter machine" >&2
    exit 1
fi
cp "$work/cap.pcap" "$here/http-pipelined.pcap"
cp "$work/truth.tsv" "$here/truth.tsv"
echo "wrote $here/http-pipelined.pcap ($(stat -c %s "$here/http-pipelined.pcap") bytes) and truth.tsv ($(($(wc -l < "$here/truth.tsv") - 1)) requests)" >&2
