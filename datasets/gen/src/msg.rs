//! Protocol messages as byte layouts: literal bytes and filler runs, so a 5 MB body costs a
//! few words of memory until it is written.

use crate::rng::Rng;

#[derive(Clone, Debug)]
pub(crate) enum Part {
    Bytes(Vec<u8>),
    Filler(u64),
}

/// A message one side sends: its parts and total length.
#[derive(Clone, Debug, Default)]
pub(crate) struct Msg {
    pub(crate) parts: Vec<Part>,
    pub(crate) len: u64,
    /// Bytes of this message left out of the capture (loss).
    pub(crate) lost: u64,
}

impl Msg {
    pub(crate) fn bytes(&mut self, b: Vec<u8>) {
        self.len += b.len() as u64;
        self.parts.push(Part::Bytes(b));
    }

    pub(crate) fn filler(&mut self, n: u64) {
        if n > 0 {
            self.len += n;
            self.parts.push(Part::Filler(n));
        }
    }

    /// The bytes of `[a, b)` as (literal bytes, trailing filler length). Literal bytes after
    /// filler inside the range are materialised with the filler pattern too.
    pub(crate) fn slice(&self, a: u64, b: u64) -> (Vec<u8>, usize) {
        const FILL: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/";
        let mut out = Vec::new();
        let mut pos = 0u64;
        let mut trailing_filler = 0u64;
        for p in &self.parts {
            let len = match p {
                Part::Bytes(v) => v.len() as u64,
                Part::Filler(n) => *n,
            };
            let (s, e) = (pos, pos + len);
            pos = e;
            if e <= a || s >= b {
                continue;
            }
            let (from, to) = (a.max(s) - s, b.min(e) - s);
            match p {
                Part::Bytes(v) => {
                    // Filler before literal bytes must be written out to keep positions.
                    for i in 0..trailing_filler {
                        out.push(FILL[(i % FILL.len() as u64) as usize]);
                    }
                    trailing_filler = 0;
                    out.extend_from_slice(&v[from as usize..to as usize]);
                }
                Part::Filler(_) => trailing_filler += to - from,
            }
        }
        (out, trailing_filler as usize)
    }
}

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
];

/// One planned HTTP/1.1 exchange.
pub(crate) struct H1Exchange {
    pub(crate) method: &'static str,
    pub(crate) uri: String,
    pub(crate) host: String,
    pub(crate) status: u16,
    pub(crate) request: Msg,
    pub(crate) response: Msg,
    pub(crate) request_body: u64,
    pub(crate) response_body: u64,
    pub(crate) chunked: bool,
}

pub(crate) fn h1_exchange(rng: &mut Rng, host: &str, close: bool, body_scale: f64) -> H1Exchange {
    // A body size bound times `body_scale` (exactly the bound at 1), at least one byte.
    let b = |v: u64| ((v as f64 * body_scale).round() as u64).max(1);
    let post = rng.chance(0.15);
    let method = if post { "POST" } else { "GET" };
    let uri = format!(
        "/api/v{}/items/{}?q={:x}&page={}",
        rng.range(1, 4),
        rng.range(1, 100_000),
        rng.next_u64() & 0xffff_ffff,
        rng.range(1, 50)
    );
    let request_body = if post {
        rng.log_range(b(20), b(200_000))
    } else {
        0
    };
    let mut head = format!(
        "{method} {uri} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nAccept: application/json, */*\r\nAccept-Encoding: gzip, deflate\r\nCookie: session={:016x}{:016x}\r\n",
        AGENTS[rng.range(0, AGENTS.len() as u64) as usize],
        rng.next_u64(),
        rng.next_u64()
    );
    if post {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {request_body}\r\n"
        ));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut request = Msg::default();
    request.bytes(head.into_bytes());
    request.filler(request_body);

    let status = match rng.range(0, 100) {
        0..=84 => 200,
        85..=91 => 304,
        92..=97 => 404,
        _ => 500,
    };
    let response_body = match status {
        304 => 0,
        404 => rng.range(b(100), b(600)),
        _ => {
            if rng.chance(0.03) {
                rng.log_range(b(100_000), b(5_000_000))
            } else {
                rng.log_range(b(200), b(20_000))
            }
        }
    };
    let chunked = status == 200 && response_body <= 65_536 && rng.chance(0.2);
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nServer: nginx/1.24.0\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\nContent-Type: application/json\r\nCache-Control: private, max-age=60\r\nX-Request-Id: {:016x}\r\n",
        rng.next_u64()
    );
    let mut response = Msg::default();
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        response.bytes(head.into_bytes());
        let mut left = response_body;
        while left > 0 {
            let n = left.min(4096);
            response.bytes(format!("{n:x}\r\n").into_bytes());
            response.filler(n);
            response.bytes(b"\r\n".to_vec());
            left -= n;
        }
        response.bytes(b"0\r\n\r\n".to_vec());
    } else {
        if status != 304 {
            head.push_str(&format!("Content-Length: {response_body}\r\n"));
        }
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        response.bytes(head.into_bytes());
        response.filler(response_body);
    }
    H1Exchange {
        method,
        uri,
        host: host.to_string(),
        status,
        request,
        response,
        request_body,
        response_body,
        chunked,
    }
}

/// HPACK literal header field without indexing, new name (RFC 7541 §6.2.2), no Huffman.
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    hpack_len(out, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_len(out, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// A 7-bit prefix integer (RFC 7541 §5.1) with the Huffman bit clear.
fn hpack_len(out: &mut Vec<u8>, mut n: usize) {
    if n < 127 {
        out.push(n as u8);
        return;
    }
    out.push(127);
    n -= 127;
    while n >= 128 {
        out.push((n % 128 + 128) as u8);
        n /= 128;
    }
    out.push(n as u8);
}

/// An HTTP/2 frame header (RFC 9113 §4.1).
fn frame(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
}

pub(crate) fn h2_preface_client() -> Vec<u8> {
    let mut b = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut b, 6, 0x4, 0, 0); // SETTINGS: MAX_CONCURRENT_STREAMS = 100
    b.extend_from_slice(&[0, 3, 0, 0, 0, 100]);
    b
}

pub(crate) fn h2_settings_server() -> Vec<u8> {
    let mut b = Vec::new();
    frame(&mut b, 0, 0x4, 0, 0); // SETTINGS (empty)
    frame(&mut b, 0, 0x4, 0x1, 0); // SETTINGS ACK
    b
}

pub(crate) fn h2_settings_ack() -> Vec<u8> {
    let mut b = Vec::new();
    frame(&mut b, 0, 0x4, 0x1, 0);
    b
}

/// One HTTP/2 (or gRPC) stream: the client's and the server's frames.
pub(crate) struct H2Stream {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) request: Msg,
    pub(crate) response: Msg,
    pub(crate) request_body: u64,
    pub(crate) response_body: u64,
}

pub(crate) fn h2_stream(rng: &mut Rng, host: &str, stream: u32, grpc: bool) -> H2Stream {
    const END_STREAM: u8 = 0x1;
    const END_HEADERS: u8 = 0x4;
    let mut request = Msg::default();
    let mut response = Msg::default();
    let (method, path) = if grpc {
        (
            "POST",
            format!(
                "/inventory.v1.Catalog/{}",
                ["GetItem", "ListItems", "Reserve"][rng.range(0, 3) as usize]
            ),
        )
    } else {
        ("GET", format!("/assets/{}.js", rng.range(1, 10_000)))
    };
    let mut block = Vec::new();
    hpack_literal(&mut block, ":method", method);
    hpack_literal(&mut block, ":scheme", "http");
    hpack_literal(&mut block, ":path", &path);
    hpack_literal(&mut block, ":authority", host);
    if grpc {
        hpack_literal(&mut block, "content-type", "application/grpc");
        hpack_literal(&mut block, "te", "trailers");
    }
    let mut head = Vec::new();
    let req_flags = END_HEADERS | if grpc { 0 } else { END_STREAM };
    frame(&mut head, block.len(), 0x1, req_flags, stream);
    head.extend_from_slice(&block);
    let mut request_body = 0;
    if grpc {
        let msg = rng.range(10, 400);
        frame(&mut head, 5 + msg as usize, 0x0, END_STREAM, stream);
        head.push(0);
        head.extend_from_slice(&(msg as u32).to_be_bytes());
        request.bytes(head);
        request.filler(msg);
        request_body = msg + 5;
    } else {
        request.bytes(head);
    }

    let status = 200;
    let mut block = Vec::new();
    hpack_literal(&mut block, ":status", "200");
    hpack_literal(
        &mut block,
        "content-type",
        if grpc {
            "application/grpc"
        } else {
            "application/javascript"
        },
    );
    let mut head = Vec::new();
    frame(&mut head, block.len(), 0x1, END_HEADERS, stream);
    head.extend_from_slice(&block);
    response.bytes(head);
    let body = if grpc {
        rng.range(10, 2000) + 5
    } else {
        rng.log_range(500, 200_000)
    };
    let mut left = body;
    let mut first = true;
    while left > 0 {
        let n = left.min(16_384);
        left -= n;
        let last = left == 0 && !grpc;
        let mut h = Vec::new();
        frame(
            &mut h,
            n as usize,
            0x0,
            if last { END_STREAM } else { 0 },
            stream,
        );
        if grpc && first {
            h.push(0);
            h.extend_from_slice(&((body - 5) as u32).to_be_bytes());
            response.bytes(h);
            response.filler(n - 5);
        } else {
            response.bytes(h);
            response.filler(n);
        }
        first = false;
    }
    if grpc {
        let mut block = Vec::new();
        hpack_literal(&mut block, "grpc-status", "0");
        let mut h = Vec::new();
        frame(&mut h, block.len(), 0x1, END_HEADERS | END_STREAM, stream);
        h.extend_from_slice(&block);
        response.bytes(h);
    }
    H2Stream {
        method,
        path,
        status,
        request,
        response,
        request_body,
        response_body: body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_keep_positions_across_parts() {
        let mut m = Msg::default();
        m.bytes(b"HEAD".to_vec());
        m.filler(10);
        m.bytes(b"TAIL".to_vec());
        assert_eq!(m.len, 18);
        assert_eq!(m.slice(0, 6), (b"HEAD".to_vec(), 2));
        let (b, f) = m.slice(2, 18);
        assert_eq!(f, 0);
        assert_eq!(&b[..2], b"AD");
        assert_eq!(&b[12..], b"TAIL");
        assert_eq!(b.len(), 16);
    }

    #[test]
    fn hpack_lengths_use_the_prefix_integer_encoding() {
        let mut v = Vec::new();
        hpack_len(&mut v, 10);
        hpack_len(&mut v, 1337 + 127);
        // RFC 7541 C.1.2: 1337 with a 5-bit prefix; here a 7-bit prefix with 127 + 1337.
        assert_eq!(v, vec![10, 127, 0xb9, 0x0a]);
    }
}
