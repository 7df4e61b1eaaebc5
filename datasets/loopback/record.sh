#!/usr/bin/env bash
# Record datasets/loopback/http-loopback.pcap: real clients (curl, ab, Python raw sockets)
# against real servers (nginx, and server.py for chunked/upload/close cases) on loopback,
# with the clients' own view written to truth.tsv and truth_ab.tsv.
#
# Needs root (tcpdump) and: nginx curl apache2-utils tcpdump python3. Re-running produces a
# capture with the same structure (ports and timestamps differ), and new truth files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for tool in nginx curl ab tcpdump python3; do
    command -v "$tool" >/dev/null || { echo "record.sh: $tool is required" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; nginx -s stop -c "$work/nginx.conf" 2>/dev/null || true; rm -rf "$work"' EXIT

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
tcpdump -i lo -s 0 -U -w "$work/capture.pcap" 'tcp port 18080 or tcp port 18081' 2>"$work/tcpdump.log" &
echo $! > "$work/tcpdump.pid"
sleep 1
python3 "$here/clients.py" "$work" "$work/upload.bin" "$work/chunk.bin"
sleep 1
kill -INT "$(cat "$work/tcpdump.pid")"
wait "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
rm -f "$work/tcpdump.pid"
grep -E "captured|dropped" "$work/tcpdump.log" >&2
cp "$work/capture.pcap" "$here/http-loopback.pcap"
cp "$work/truth.tsv" "$work/truth_ab.tsv" "$here/"
ls -l "$here/http-loopback.pcap" >&2
