#!/usr/bin/env python3
"""Test server for what nginx cannot be made to do on demand: a chunked response with
chunk extensions and a trailer, an upload endpoint that accepts Content-Length or chunked
bodies, a 204, and a response that announces Connection: close and closes.

Raw sockets and explicit bytes, so the wire format is exactly what the comments say."""
import socket
import sys
import threading


def read_head(conn, buf):
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def read_body(conn, headers, rest):
    """Read a request body; returns (body_length, remaining buffer)."""
    te = headers.get(b"transfer-encoding", b"").lower()
    if b"chunked" in te:
        total = 0
        buf = rest
        while True:
            while b"\r\n" not in buf:
                buf += conn.recv(65536)
            line, _, buf = buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n\r\n" not in buf and not buf.startswith(b"\r\n"):
                    buf += conn.recv(65536)
                if buf.startswith(b"\r\n"):
                    buf = buf[2:]
                else:
                    buf = buf.partition(b"\r\n\r\n")[2]
                return total, buf
            while len(buf) < size + 2:
                buf += conn.recv(65536)
            total += size
            buf = buf[size + 2:]
    n = int(headers.get(b"content-length", b"0"))
    buf = rest
    while len(buf) < n:
        buf += conn.recv(65536)
    return n, buf[n:]


def handle(conn):
    buf = b""
    try:
        while True:
            head, buf = read_head(conn, buf)
            if head is None:
                return
            lines = head.split(b"\r\n")
            method, path, version = lines[0].split(b" ", 2)
            headers = {}
            for l in lines[1:]:
                k, _, v = l.partition(b":")
                headers[k.strip().lower()] = v.strip()
            body_len, buf = read_body(conn, headers, buf)
            if path == b"/chunked":
                # Three chunks, one with an extension, then a trailer field.
                parts = [(b"hello", b";name=first"), (b", world", b""), (b" from a chunked response", b"")]
                out = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                       b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n")
                for data, ext in parts:
                    out += b"%x" % len(data) + ext + b"\r\n" + data + b"\r\n"
                out += b"0\r\nX-Checksum: 42\r\n\r\n"
                conn.sendall(out)
            elif path == b"/upload":
                msg = str(body_len).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                             + str(len(msg)).encode() + b"\r\n\r\n" + msg)
            elif path == b"/nocontent":
                conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            elif path == b"/closing":
                body = b"goodbye\n"
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 8\r\n\r\n" + body)
                conn.shutdown(socket.SHUT_WR)
                # Keep reading until the client goes away (a late request gets a RST).
                conn.settimeout(3)
                try:
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass
                return
            else:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            if version == b"HTTP/1.0" or headers.get(b"connection", b"").lower() == b"close":
                return
    finally:
        conn.close()


def main():
    port = int(sys.argv[1])
    for family, addr in [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    threading.Event().wait()


def serve(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
