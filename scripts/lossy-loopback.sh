#!/usr/bin/env bash
# Real clients through real loss, at a scale the checked-in recordings do not reach: nginx
# on loopback, ApacheBench (keep-alive GETs, new-connection GETs over IPv6, keep-alive POST
# uploads) with LOSS % of the packets of the server port dropped by nftables after tcpdump
# saw them (the capture holds lost copies beside their retransmissions) and before (the
# sender is told and sends again later: retried handshakes, stalls, retransmission
# timeouts; see datasets/loopback/README.md), at Ethernet's MTU, offloads off. wirehouse's
# tables are then held to what ab itself reported: complete requests, body bytes received
# and sent, no request unanswered, nothing missing that TCP later delivered.
#
#   sudo ./scripts/lossy-loopback.sh             # LOSS=2 (percent), N=20000 requests
#   LOSS=5 N=5000 KEEP=1 sudo ./scripts/lossy-loopback.sh
#
# Needs root and Debian's nginx, apache2-utils, tcpdump, nftables, ethtool; python3 with
# duckdb (make's .venv). The loopback MTU, offloads and nftables are restored on exit.
# Exit status 0 when every figure agrees, 1 otherwise. KEEP=1 keeps the capture and the
# tables in out/lossy-loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
LOSS=${LOSS:-2}
N=${N:-20000}
PORT=18095
for tool in nginx ab tcpdump nft ethtool; do
    command -v "$tool" >/dev/null || { echo "lossy-loopback: $tool is required" >&2; exit 1; }
done
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c "import duckdb" 2>/dev/null || { echo "lossy-loopback: python duckdb is required (make .venv)" >&2; exit 1; }
cargo build --release --locked -p wirehouse >&2
BIN=$PWD/target/release/wirehouse

work=$(mktemp -d)
out=${KEEP:+$PWD/out/lossy-loopback}
out=${out:-$work/out}
mkdir -p "$out"
old_mtu=$(cat /sys/class/net/lo/mtu)
old_offload=$(ethtool -k lo | awk '/^tcp-segmentation-offload:/ { t = $2 } /^generic-segmentation-offload:/ { g = $2 } END { print "tso " t " gso " g }')
cleanup() {
    ip link set lo mtu "$old_mtu"
    ethtool -K lo $old_offload
    nft delete table inet wirehouse_lossy 2>/dev/null || true
    [ -f "$work/nginx.pid" ] && nginx -s stop -c "$work/nginx.conf" 2>/dev/null || true
    kill "$(cat "$work/tcpdump.pid" 2>/dev/null)" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/www"
head -c 20000 /dev/urandom > "$work/www/m.bin"
head -c 3000 /dev/urandom > "$work/www/s.bin"
head -c 30000 /dev/urandom > "$work/post.bin"
chmod -R a+rX "$work"
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/cb;
    proxy_temp_path $work/p; fastcgi_temp_path $work/f; uwsgi_temp_path $work/u; scgi_temp_path $work/s;
    keepalive_requests 100;
    server {
        listen 127.0.0.1:$PORT;
        listen [::1]:$PORT;
        root $work/www;
        location /post { client_body_buffer_size 1m; return 200 "ok\n"; }
    }
}
CONF
nginx -c "$work/nginx.conf"
ip link set lo mtu 1500
ethtool -K lo tso off gso off
permille=$("$PY" -c "print(round(float('$LOSS') * 10))")
drop="numgen random mod 1000 < $permille counter drop"
nft -f - <<NFT
table inet wirehouse_lossy {
    chain before_capture { type filter hook output priority 0; tcp sport $PORT $drop; tcp dport $PORT $drop; }
    chain after_capture { type filter hook input priority 0; tcp sport $PORT $drop; tcp dport $PORT $drop; }
}
NFT
tcpdump -Z root -i lo -s 0 -B 131072 -w "$out/capture.pcap" "tcp port $PORT" 2>"$work/tcpdump.log" &
echo $! > "$work/tcpdump.pid"
sleep 1
echo "lossy-loopback: $N keep-alive GETs, $((N / 10)) GETs over IPv6 without keep-alive, $((N / 10)) keep-alive POSTs, $LOSS % loss" >&2
ab -s 300 -k -n "$N" -c 40 "http://127.0.0.1:$PORT/m.bin" > "$work/ab-get.txt" 2>&1 &
ab -s 300 -n $((N / 10)) -c 8 "http://[::1]:$PORT/s.bin" > "$work/ab-v6.txt" 2>&1 &
ab -s 300 -k -n $((N / 10)) -c 10 -p "$work/post.bin" -T application/octet-stream "http://127.0.0.1:$PORT/post" > "$work/ab-post.txt" 2>&1 &
wait %2 %3 %4
sleep 1
kill -INT "$(cat "$work/tcpdump.pid")"
wait %1 2>/dev/null || true
rm -f "$work/tcpdump.pid"
nft list table inet wirehouse_lossy | awk '/counter/ { n += $(NF - 3) } END { print "nftables dropped " n " packets" }' >&2
grep -E "captured|dropped by kernel" "$work/tcpdump.log" >&2
"$BIN" analyze "$out/capture.pcap" -o "$out/tables" --force --quiet

"$PY" - "$work" "$out/tables" "$(stat -c %s "$work/post.bin")" <<'PY'
import re, sys, duckdb
work, tables, post_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ab(name):
    text = open(f"{work}/ab-{name}.txt").read()
    def get(label):
        m = re.search(label + r":\s+(\d+)", text)
        if not m:
            sys.exit(f"ab {name} did not finish: {text.strip().splitlines()[-1]}")
        return int(m.group(1))
    return get("Complete requests"), get("Failed requests"), get("HTML transferred")
q = lambda sql: duckdb.sql(sql.replace("HTTP", f"read_parquet('{tables}/http/*.parquet')")
                           .replace("CONNS", f"read_parquet('{tables}/connections/*.parquet')")).fetchall()[0]
ok = True
def check(what, ours, theirs):
    global ok
    good = ours == theirs
    ok &= good
    print(f"  {'ok  ' if good else 'FAIL'} {what}: wirehouse {ours}, truth {theirs}")
for name, uri, method in [("get", "/m.bin", "GET"), ("v6", "/s.bin", "GET"), ("post", "/post", "POST")]:
    done, failed, body = ab(name)
    n, complete, ok200, resp, req = q(f"""SELECT count(*), count(*) FILTER (WHERE complete),
        count(*) FILTER (WHERE status = 200), sum(response_body_bytes), sum(request_body_bytes)
        FROM HTTP WHERE uri = '{uri}' AND method = '{method}'""")
    print(f"ab {name}: {done} complete, {failed} failed")
    check("requests", n, done + failed)
    check("complete responses", complete, done)
    check("status 200", ok200, done)
    check("response body bytes", int(resp), body)
    check("request body bytes", int(req), post_size * done if name == "post" else 0)
missing, retx, ooo, conns = q("SELECT sum(missing_bytes), sum(retransmitted_pkts), sum(out_of_order_pkts), count(*) FROM CONNS")
check("bytes missing from the capture", int(missing), 0)
print(f"connections {conns}, retransmitted packets {int(retx)}, out-of-order packets {int(ooo)}")
sys.exit(0 if ok else 1)
PY
