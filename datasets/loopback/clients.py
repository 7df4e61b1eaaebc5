#!/usr/bin/env python3
"""Drive the loopback scenarios and log what every client itself saw (truth.tsv).

Each row is one request as its client knows it: the client's local port (which identifies
the TCP connection), the position of the request on that connection, what it sent, and what
it received. curl rows come from curl's own --write-out '%{json}' report; raw-socket rows
from this script's own send/receive bookkeeping. Nothing here looks at the capture.
"""
import json
import os
import socket
import subprocess
import sys
import time

NGINX = 18080
PYSRV = 18081
COLUMNS = [
    "scenario", "client", "ip_version", "local_port", "server_port", "trans_depth", "method",
    "uri", "http_version", "request_body_bytes", "status", "response_body_bytes",
    "pipelined", "after_server_close", "response_connection", "t_sent_ns",
]
rows = []
depth_by_port = {}


def log(**kw):
    port = kw["local_port"]
    depth_by_port[port] = depth_by_port.get(port, 0) + 1
    kw.setdefault("trans_depth", depth_by_port[port])
    kw.setdefault("request_body_bytes", 0)
    kw.setdefault("pipelined", False)
    kw.setdefault("after_server_close", False)
    kw.setdefault("response_connection", "")
    rows.append(kw)


def curl(scenario, urls, extra=(), method="GET", body=0, ipv=4):
    """`body`: size of the entity the client uploads (curl's size_upload also counts chunk
    framing, so the client's own file size is the truth for the entity)."""
    """One curl invocation fetching `urls` (connections reused as curl decides)."""
    args = ["curl", "-s", "--http1.1", "-w", "%{json}\\n"]
    for _ in urls:
        args += ["-o", "/dev/null"]
    args += list(extra) + list(urls)
    start = time.time_ns()
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        j = json.loads(line)
        url = j["url_effective"]
        path = "/" + url.split("/", 3)[3]
        log(
            scenario=scenario, client="curl", ip_version=ipv,
            local_port=j["local_port"], server_port=j["remote_port"],
            method=j.get("method", method), uri=path,
            http_version=j["http_version"] if j["http_version"] != "0" else "",
            request_body_bytes=body,
            status=j["http_code"], response_body_bytes=int(j["size_download"]),
            t_sent_ns=start + int(float(j["time_pretransfer"]) * 1e9),
        )


def read_response(sock, buf, head_request=False):
    """Read one response; returns (status, body_bytes, connection_header, rest)."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise EOFError
        buf += d
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    h = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        h[k.strip().lower()] = v.strip()
    if head_request or status in (204, 304) or 100 <= status < 200:
        return status, 0, h.get(b"connection", b"").decode(), buf
    if b"chunked" in h.get(b"transfer-encoding", b"").lower():
        total = 0
        while True:
            while b"\r\n" not in buf:
                buf += sock.recv(65536)
            line, _, buf = buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n\r\n" not in b"\r\n" + buf:
                    buf += sock.recv(65536)
                buf = (b"\r\n" + buf).partition(b"\r\n\r\n")[2]
                return status, total, h.get(b"connection", b"").decode(), buf
            while len(buf) < size + 2:
                buf += sock.recv(65536)
            total += size
            buf = buf[size + 2:]
    n = int(h.get(b"content-length", b"0"))
    while len(buf) < n:
        buf += sock.recv(65536)
    return status, n, h.get(b"connection", b"").decode(), buf[n:]


def pipelined(scenario, paths, port=NGINX):
    """Send all requests in one send(), then read the responses in order."""
    s = socket.create_connection(("127.0.0.1", port))
    lport = s.getsockname()[1]
    reqs = b"".join(f"GET {p} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: pipeline.py\r\n\r\n".encode() for p in paths)
    t = time.time_ns()
    s.sendall(reqs)
    buf = b""
    for i, p in enumerate(paths):
        status, n, conn, buf = read_response(s, buf)
        log(scenario=scenario, client="python", ip_version=4, local_port=lport, server_port=port,
            method="GET", uri=p, http_version="1.1", status=status, response_body_bytes=n,
            pipelined=i > 0, response_connection=conn, t_sent_ns=t)
    s.close()


def after_close(scenario):
    """A request with Connection: close, then, after the server's FIN, another one."""
    s = socket.create_connection(("127.0.0.1", PYSRV))
    lport = s.getsockname()[1]
    t = time.time_ns()
    s.sendall(b"GET /closing HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, n, conn, buf = read_response(s, b"")
    while s.recv(65536):  # wait for the server's FIN
        pass
    log(scenario=scenario, client="python", ip_version=4, local_port=lport, server_port=PYSRV,
        method="GET", uri="/closing", http_version="1.1", status=status, response_body_bytes=n,
        response_connection=conn, t_sent_ns=t)
    t = time.time_ns()
    try:
        s.sendall(b"GET /closing HTTP/1.1\r\nHost: localhost\r\n\r\n")
        time.sleep(0.05)
    except OSError:
        pass
    log(scenario=scenario, client="python", ip_version=4, local_port=lport, server_port=PYSRV,
        method="GET", uri="/closing", http_version="1.1", status="", response_body_bytes="",
        after_server_close=True, t_sent_ns=t)
    s.close()


def conditional(scenario):
    """GET, then the same GET with the ETag: 200 then 304 on one connection."""
    s = socket.create_connection(("127.0.0.1", NGINX))
    lport = s.getsockname()[1]
    t = time.time_ns()
    s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    fields = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip()
              for l in buf.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:] if b":" in l}
    if b"etag" in fields:
        validator = b"If-None-Match: " + fields[b"etag"]
    else:
        validator = b"If-Modified-Since: " + fields[b"last-modified"]
    status, n, conn, buf = read_response(s, buf)
    log(scenario=scenario, client="python", ip_version=4, local_port=lport, server_port=NGINX,
        method="GET", uri="/small.txt", http_version="1.1", status=status, response_body_bytes=n,
        t_sent_ns=t)
    t = time.time_ns()
    s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n" + validator + b"\r\n\r\n")
    status, n, conn, buf = read_response(s, buf)
    log(scenario=scenario, client="python", ip_version=4, local_port=lport, server_port=NGINX,
        method="GET", uri="/small.txt", http_version="1.1", status=status, response_body_bytes=n,
        t_sent_ns=t)
    s.close()


def main(out_dir, upload_file, chunk_file):
    n = f"http://127.0.0.1:{NGINX}"
    p = f"http://127.0.0.1:{PYSRV}"
    for _ in range(5):
        curl("no_reuse", [f"{n}/small.txt"])
    curl("keepalive", [f"{n}/small.txt", f"{n}/medium.bin", f"{n}/small.txt?x=2",
                       f"{n}/medium.bin?y=3", f"{n}/small.txt?z=4"])
    pipelined("pipelining", ["/small.txt", "/medium.bin", "/small.txt?p=3"])
    pipelined("pipelining", [f"/small.txt?d={i}" for i in range(5)])
    curl("close_then_new", [f"{n}/close/small.txt", f"{n}/close/small.txt?again=1"])
    after_close("after_close")
    curl("chunked", [f"{p}/chunked"])
    curl("chunked", [f"{p}/upload"], extra=["-H", "Transfer-Encoding: chunked", "--data-binary", "@" + chunk_file],
         method="POST", body=os.path.getsize(chunk_file))
    curl("large", [f"{n}/large.bin"])
    curl("large", [f"{p}/upload"], extra=["-H", "Expect:", "--data-binary", "@" + upload_file], method="POST",
         body=os.path.getsize(upload_file))
    curl("ipv6", [f"http://[::1]:{NGINX}/small.txt", f"http://[::1]:{NGINX}/medium.bin"], extra=["-g"], ipv=6)
    curl("misc", [f"{n}/small.txt"], extra=["-I"], method="HEAD")
    conditional("misc")
    curl("misc", [f"{p}/nocontent"])
    curl("misc", [f"{n}/missing"])
    curl("misc", [f"{n}/small.txt"], extra=["--http1.0"])
    curl("gzip_chunked", [f"{n}/gz/text.txt"], extra=["-H", "Accept-Encoding: gzip"])
    ab = subprocess.run(["ab", "-k", "-n", "20", "-c", "2", f"{n}/medium.bin"], capture_output=True, text=True, check=True).stdout
    complete = int([l for l in ab.splitlines() if l.startswith("Complete requests")][0].split()[-1])
    keepalive = int([l for l in ab.splitlines() if l.startswith("Keep-Alive requests")][0].split()[-1])
    with open(os.path.join(out_dir, "truth.tsv"), "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(str(r.get(c, "")).replace("True", "1").replace("False", "0") for c in COLUMNS) + "\n")
    with open(os.path.join(out_dir, "truth_ab.tsv"), "w") as f:
        f.write("client\turi\tcomplete_requests\tkeep_alive_requests\n")
        f.write(f"ApacheBench\t/medium.bin\t{complete}\t{keepalive}\n")
    print(f"{len(rows)} requests logged, ab: {complete} requests ({keepalive} keep-alive)", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
