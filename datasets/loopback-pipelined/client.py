#!/usr/bin/env python3
"""Pipelining HTTP/1.1 client for record.sh: the truth of the pipelined recording.

Each of CONNS connections (one thread each) sends ROUNDS bursts of 1-6 requests written in
one send() (GET mostly, 8 % HEAD, 5 % for a missing file), then reads every response of the
burst before the next. What it logs per request is what it received: status and entity
bytes (Content-Length; none for HEAD). Requests are seeded per connection, so reruns send
the same requests (ports and times differ).

    client.py PORT CONNS ROUNDS > truth.tsv
"""
import random
import socket
import sys
import threading

PORT, CONNS, ROUNDS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
FILES = 40
rows, lock = [], threading.Lock()


def read_response(f, method):
    line = f.readline()
    status = int(line.split()[1])
    length = 0
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        name, value = h.split(b":", 1)
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = 0 if method == "HEAD" else length
    got = 0
    while got < body:
        chunk = f.read(body - got)
        if not chunk:
            raise RuntimeError("connection closed inside a body")
        got += len(chunk)
    return status, body


def connection(seed):
    r = random.Random(seed)
    s = socket.create_connection(("127.0.0.1", PORT))
    port = s.getsockname()[1]
    f = s.makefile("rb")
    depth = 0
    for _ in range(ROUNDS):
        burst = []
        for _ in range(r.choice([1, 1, 2, 3, 4, 6])):
            uri = "/missing" if r.random() < 0.05 else f"/f{r.randrange(FILES)}.bin"
            burst.append(("HEAD" if r.random() < 0.08 else "GET", uri))
        s.sendall(b"".join(
            f"{m} {u} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: pipeline-client\r\n\r\n".encode()
            for m, u in burst))
        for i, (method, uri) in enumerate(burst):
            status, body = read_response(f, method)
            depth += 1
            with lock:
                rows.append((port, depth, method, uri, status, body, int(i > 0)))
    s.close()


threads = [threading.Thread(target=connection, args=(i,)) for i in range(CONNS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("local_port\ttrans_depth\tmethod\turi\tstatus\tresponse_body_bytes\tpipelined")
for row in sorted(rows):
    print("\t".join(map(str, row)))
