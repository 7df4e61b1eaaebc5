//! HTTP/1 analyzer behaviour on hand-written exchanges. Expected values are read off the
//! bytes of each exchange (RFC 9112 framing), not produced by the analyzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use wirehouse_http1::{Config, Dir, Http1, HttpSink, Transaction};

#[derive(Default)]
struct Rec {
    tx: Vec<Transaction>,
    events: Vec<(&'static str, String)>,
}

impl HttpSink for Rec {
    fn transaction(&mut self, t: Transaction) {
        self.tx.push(t);
    }
    fn event(&mut self, _ts: i64, kind: &'static str, detail: String) {
        self.events.push((kind, detail));
    }
}

const C: Dir = Dir::ToServer;
const S: Dir = Dir::ToClient;

/// Feed a script of (direction, timestamp, bytes) and finish.
fn run(script: &[(Dir, i64, &[u8])]) -> Rec {
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    for (d, ts, b) in script {
        h.on_data(*d, *ts, b, &mut r);
    }
    h.finish(1_000_000, &mut r);
    r
}

const GET: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nReferer: http://a/\r\n\r\n";
const OK5: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn simple_get_every_field() {
    let r = run(&[(C, 100, GET), (S, 300, OK5)]);
    assert_eq!(r.tx.len(), 1);
    let t = &r.tx[0];
    assert_eq!(t.trans_depth, 1);
    assert_eq!(t.method.as_deref(), Some("GET"));
    assert_eq!(t.uri.as_deref(), Some("/index.html"));
    assert_eq!(t.host.as_deref(), Some("example.com"));
    assert_eq!(t.user_agent.as_deref(), Some("curl/8.0"));
    assert_eq!(t.referrer.as_deref(), Some("http://a/"));
    assert_eq!(t.version.as_deref(), Some("1.1"));
    assert_eq!(t.request_header_bytes, GET.len() as u64);
    assert_eq!(t.status, Some(200));
    assert_eq!(t.reason.as_deref(), Some("OK"));
    assert_eq!(t.content_type.as_deref(), Some("text/plain"));
    assert_eq!(t.response_header_bytes, Some((OK5.len() - 5) as u64));
    assert_eq!(t.response_body_bytes, Some(5));
    assert_eq!(
        (t.ts, t.request_end_ts, t.response_ts, t.response_end_ts),
        (100, Some(100), Some(300), Some(300))
    );
    assert_eq!((t.ttfb_ns, t.total_ns), (Some(200), Some(200)));
    assert!(t.complete && !t.pipelined && !t.reused_connection && !t.after_server_close);
    assert_eq!(t.idle_before_ns, None);
}

#[test]
fn keep_alive_three_requests() {
    let r = run(&[
        (C, 10, GET),
        (S, 20, OK5),
        (C, 50, GET),
        (S, 60, OK5),
        (C, 100, GET),
        (S, 130, OK5),
    ]);
    let d: Vec<_> =
        r.tx.iter()
            .map(|t| {
                (
                    t.trans_depth,
                    t.reused_connection,
                    t.idle_before_ns,
                    t.pipelined,
                )
            })
            .collect();
    assert_eq!(
        d,
        vec![
            (1, false, None, false),
            (2, true, Some(30), false),
            (3, true, Some(40), false)
        ]
    );
}

#[test]
fn pipelining_in_one_segment_each_way() {
    let mut reqs = Vec::new();
    for i in 0..3 {
        reqs.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
    }
    let mut resps = Vec::new();
    for i in 0..3 {
        resps.extend_from_slice(
            format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{i}{i}").as_bytes(),
        );
    }
    let r = run(&[(C, 10, &reqs), (S, 20, &resps)]);
    let got: Vec<_> =
        r.tx.iter()
            .map(|t| (t.uri.clone().unwrap(), t.response_body_bytes, t.pipelined))
            .collect();
    assert_eq!(
        got,
        vec![
            ("/0".into(), Some(2), false),
            ("/1".into(), Some(2), true),
            ("/2".into(), Some(2), true)
        ]
    );
}

#[test]
fn header_block_split_at_every_byte() {
    let mut whole = GET.to_vec();
    whole.extend_from_slice(b"POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    for cut in 0..=whole.len() {
        let r = run(&[
            (C, 1, &whole[..cut]),
            (C, 2, &whole[cut..]),
            (S, 3, OK5),
            (S, 4, OK5),
        ]);
        assert_eq!(r.tx.len(), 2, "cut at {cut}");
        assert_eq!(r.tx[0].uri.as_deref(), Some("/index.html"), "cut {cut}");
        assert_eq!(r.tx[1].method.as_deref(), Some("POST"), "cut {cut}");
        assert_eq!(r.tx[1].request_body_bytes, 3, "cut {cut}");
    }
}

#[test]
fn chunked_with_extensions_and_trailers_split_anywhere() {
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";
    for cut in 0..=resp.len() {
        let r = run(&[(C, 1, GET), (S, 2, &resp[..cut]), (S, 3, &resp[cut..])]);
        assert_eq!(r.tx.len(), 1, "cut {cut}");
        let t = &r.tx[0];
        // 4 + 5 + 14 entity bytes: "Wikipedia in\r\n\r\nchunks."
        assert_eq!(t.response_body_bytes, Some(23), "cut {cut}");
        assert_eq!(t.transfer_encoding.as_deref(), Some("chunked"));
        assert!(t.complete, "cut {cut}");
    }
}

/// Bodies fed a byte per call (so nearly every call takes the body fast path of `on_data`)
/// count every byte, and each transaction is emitted by the call that brings its last byte,
/// not by a later one: the fast path skips looking for ready transactions only on calls that
/// cannot finish a message.
#[test]
fn body_fed_a_byte_per_call_is_counted_and_emitted_on_its_last_byte() {
    let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
    let sized: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz";
    for resp in [chunked, sized] {
        let mut h = Http1::new(&Config::default());
        let mut r = Rec::default();
        let post = b"POST /up HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
        for (i, b) in post.iter().enumerate() {
            h.on_data(C, i as i64, std::slice::from_ref(b), &mut r);
        }
        for (i, b) in resp.iter().enumerate() {
            h.on_data(S, 100 + i as i64, std::slice::from_ref(b), &mut r);
            let last = i + 1 == resp.len();
            assert_eq!(r.tx.len(), usize::from(last), "after response byte {i}");
        }
        let t = &r.tx[0];
        assert_eq!(t.request_body_bytes, 10);
        assert_eq!(t.request_end_ts, Some(post.len() as i64 - 1));
        assert_eq!(t.response_body_bytes, Some(26));
        assert_eq!(t.response_end_ts, Some(100 + resp.len() as i64 - 1));
        assert!(t.complete);
    }
}

#[test]
fn head_204_304_have_no_body() {
    let head = b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n";
    let r = run(&[
        (C, 1, head),
        (S, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        (C, 3, GET),
        (
            S,
            4,
            b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
        ),
        (C, 5, GET),
        (S, 6, b"HTTP/1.1 304 Not Modified\r\n\r\n"),
        (C, 7, GET),
        (S, 8, OK5),
    ]);
    let got: Vec<_> =
        r.tx.iter()
            .map(|t| (t.status, t.response_body_bytes, t.complete))
            .collect();
    assert_eq!(
        got,
        vec![
            (Some(200), Some(0), true),
            (Some(204), Some(0), true),
            (Some(304), Some(0), true),
            (Some(200), Some(5), true)
        ]
    );
}

#[test]
fn expect_100_continue_is_one_transaction() {
    let req: &[u8] =
        b"PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    let r = run(&[
        (C, 1, req),
        (S, 2, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (C, 3, b"data"),
        (S, 4, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(r.tx.len(), 1);
    let t = &r.tx[0];
    assert_eq!(
        (t.status, t.informational, t.request_body_bytes),
        (Some(201), 1, 4)
    );
    assert_eq!((t.request_end_ts, t.response_ts), (Some(3), Some(4)));
}

/// A server that answers before the request is over (nginx `return 200` on an upload, a 413
/// for a body too large): the response starts, and here ends, while the body still comes.
/// The time to first byte is negative (the answer came before the request's last byte), and
/// the transaction lasts until the request's last byte, not the response's (a loopback
/// recording of curl POSTing 2 MB to nginx: ttfb -5.8 ms, total 66 us before the fix).
#[test]
fn an_answer_before_the_request_ends_lasts_until_the_request_does() {
    let head = b"POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    let r = run(&[
        (C, 100, head),
        (C, 150, b"01234"),
        (S, 160, ok),
        (C, 5_900, b"56789"),
    ]);
    assert_eq!(r.tx.len(), 1);
    let t = &r.tx[0];
    assert_eq!((t.status, t.request_body_bytes), (Some(200), 10));
    assert_eq!(
        (t.ts, t.request_end_ts, t.response_ts, t.response_end_ts),
        (100, Some(5_900), Some(160), Some(160))
    );
    assert_eq!(t.ttfb_ns, Some(160 - 5_900));
    assert_eq!(t.total_ns, Some(5_900 - 100));
    assert!(t.complete);
}

/// A keep-alive connection the capture picked up mid-stream, in the middle of an upload and
/// of the response before it: each direction's first bytes are the rest of a message sent
/// before the capture began. The transactions after them are found and paired (the upload's
/// own response has no request in the capture: a row without one, as tshark shows it).
/// Without `begins_mid_stream` both directions were given up as not HTTP, and every later
/// request on such a connection was lost.
#[test]
fn a_connection_picked_up_mid_stream_finds_its_next_messages() {
    let script: [(Dir, i64, &[u8]); 6] = [
        (C, 10, b"rest of an upload, no line break at its end"),
        (S, 20, b"\x00\x01binary tail of the previous response body"),
        (S, 30, OK5),
        (C, 40, GET),
        (S, 50, OK5),
        (C, 60, b"GET /two HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    ];
    let mut h = Http1::new(&Config::default());
    h.begins_mid_stream(C);
    h.begins_mid_stream(S);
    let mut r = Rec::default();
    for (d, ts, b) in &script {
        h.on_data(*d, *ts, b, &mut r);
    }
    h.on_data(S, 70, OK5, &mut r);
    h.finish(1_000, &mut r);
    let got: Vec<_> =
        r.tx.iter()
            .map(|t| (t.uri.clone(), t.status, t.response_ts))
            .collect();
    assert_eq!(
        got,
        [
            (None, Some(200), Some(30)),
            (Some("/index.html".into()), Some(200), Some(50)),
            (Some("/two".into()), Some(200), Some(70)),
        ]
    );
    assert!(r.events.iter().any(|e| e.0 == "HTTP_midstream"));

    // The same bytes on a connection whose SYNs were seen: not HTTP from its first byte.
    let r = run(&script);
    assert!(r.tx.iter().all(|t| t.uri.is_none() || t.status.is_none()));
}

#[test]
fn connect_and_upgrade_stop_parsing() {
    let r = run(&[
        (
            C,
            1,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        ),
        (S, 2, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        (C, 3, b"\x16\x03\x01\x02\x00garbage-tls"),
        (S, 4, b"\x16\x03\x03more"),
    ]);
    assert_eq!(r.tx.len(), 1);
    assert_eq!(r.tx[0].upgrade.as_deref(), Some("connect"));
    assert!(r.events.is_empty(), "{:?}", r.events);

    let mut h = Http1::new(&Config::default());
    let mut rec = Rec::default();
    h.on_data(
        C,
        1,
        b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        &mut rec,
    );
    h.on_data(S, 2, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello", &mut rec);
    h.on_data(C, 3, b"\x81\x85\x00\x00\x00\x00hello", &mut rec);
    h.finish(9, &mut rec);
    assert_eq!(h.upgraded_to(), Some("websocket"));
    assert_eq!(rec.tx.len(), 1);
    assert_eq!(
        (rec.tx[0].status, rec.tx[0].upgrade.as_deref()),
        (Some(101), Some("websocket"))
    );
}

#[test]
fn plain_http_inside_a_connect_tunnel_is_parsed() {
    let r = run(&[
        (C, 1, b"CONNECT abc:80 HTTP/1.1\r\n\r\n"),
        (S, 2, b"HTTP/1.1 200 OK\r\n\r\n"),
        (C, 3, GET),
        (S, 4, OK5),
    ]);
    assert_eq!(r.tx.len(), 2);
    assert_eq!(r.tx[1].uri.as_deref(), Some("/index.html"));
}

#[test]
fn response_until_close() {
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, b"GET / HTTP/1.0\r\n\r\n", &mut r);
    h.on_data(
        S,
        2,
        b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>",
        &mut r,
    );
    h.on_data(S, 3, b"</html>", &mut r);
    h.on_fin(S, 4, &mut r);
    assert_eq!(r.tx.len(), 1, "emitted at the server's FIN");
    let t = &r.tx[0];
    assert_eq!(
        (t.response_body_bytes, t.complete, t.response_end_ts),
        (Some(13), true, Some(4))
    );
}

#[test]
fn requests_after_close_are_flagged() {
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, GET, &mut r);
    h.on_data(
        S,
        2,
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        &mut r,
    );
    h.on_fin(S, 3, &mut r);
    h.on_data(C, 4, GET, &mut r); // the client did not notice
    h.finish(5, &mut r);
    assert_eq!(r.tx.len(), 2);
    assert!(!r.tx[0].after_server_close);
    assert_eq!(r.tx[0].response_connection.as_deref(), Some("close"));
    assert!(r.tx[1].after_server_close);
    assert_eq!(r.tx[1].status, None);
    assert_eq!(h.requests_after_server_close(), 1);
}

#[test]
fn gap_in_body_counts_missing_and_next_message_parses() {
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, GET, &mut r);
    h.on_data(
        S,
        2,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        &mut r,
    );
    h.on_gap(S, 3, 50, &mut r);
    h.on_data(S, 4, &[b'x'; 40], &mut r);
    h.on_data(C, 5, GET, &mut r);
    h.on_data(S, 6, OK5, &mut r);
    h.finish(7, &mut r);
    assert_eq!(r.tx.len(), 2);
    assert_eq!(
        (
            r.tx[0].response_body_bytes,
            r.tx[0].missing_bytes,
            r.tx[0].complete
        ),
        (Some(100), 50, false)
    );
    assert!(r.tx[1].complete);
}

#[test]
fn a_response_cut_by_a_gap_still_ends_when_its_last_bytes_came() {
    // Chunked response 1 loses bytes across a chunk boundary: its framing is lost and the
    // parser skips its tail (captured at t=4) to the next status line. Request 2 at t=10
    // came after all of response 1's bytes: not pipelined, idle since t=4. The same with
    // request 2 sent before that tail (t=3.5): pipelined.
    for (req2_at, pipelined, idle) in [(10, false, Some(6)), (3, true, None)] {
        let mut h = Http1::new(&Config::default());
        let mut r = Rec::default();
        h.on_data(C, 1, GET, &mut r);
        h.on_data(
            S,
            2,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n",
            &mut r,
        );
        h.on_gap(S, 3, 20, &mut r);
        let mut script: Vec<(Dir, i64, &[u8])> = vec![
            (S, 4, b"zz\r\n4\r\nwxyz\r\n0\r\n\r\n"),
            (C, req2_at, GET),
            (S, 11, OK5),
        ];
        script.sort_by_key(|s| s.1);
        for (d, ts, b) in script {
            h.on_data(d, ts, b, &mut r);
        }
        h.finish(12, &mut r);
        assert_eq!(r.tx.len(), 2);
        assert!(!r.tx[0].complete);
        assert_eq!(r.tx[1].status, Some(200));
        assert_eq!(r.tx[1].pipelined, pipelined, "request 2 at {req2_at}");
        assert_eq!(r.tx[1].idle_before_ns, idle, "request 2 at {req2_at}");
    }
}

#[test]
fn gap_in_headers_resynchronises() {
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(
        C,
        1,
        b"GET /first HTTP/1.1\r\nHost: h\r\nCookie: abc",
        &mut r,
    );
    h.on_gap(C, 2, 300, &mut r);
    h.on_data(
        C,
        3,
        b"tail of a lost header\r\n\r\nGET /second HTTP/1.1\r\nHost: h\r\n\r\n",
        &mut r,
    );
    h.on_data(S, 4, OK5, &mut r);
    h.on_data(S, 5, OK5, &mut r);
    h.finish(6, &mut r);
    let uris: Vec<_> = r.tx.iter().map(|t| t.uri.clone()).collect();
    assert_eq!(uris, vec![Some("/first".into()), Some("/second".into())]);
    // The gap is the first request's: the rest of its header block was in it.
    assert_eq!(r.tx[0].missing_bytes, 300);
    assert_eq!(r.tx[1].missing_bytes, 0);
    assert!(r.events.iter().any(|e| e.0 == "HTTP_resync"));
}

#[test]
fn a_response_head_cut_by_the_snaplen_keeps_its_status_and_counts_the_loss() {
    // A capture with a short snaplen: each response's first segment is cut inside its
    // header block, and the rest of the segment (3,012 bytes: the end of the head and the
    // whole body) reaches the parser as a gap. The status line survives; the loss is the
    // gap's length, and the next exchange on the connection parses whole.
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, GET, &mut r);
    h.on_data(
        S,
        2,
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Ty",
        &mut r,
    );
    h.on_gap(S, 2, 3012, &mut r);
    h.on_data(C, 3, GET, &mut r);
    h.on_data(S, 4, OK5, &mut r);
    h.finish(5, &mut r);
    assert_eq!(r.tx.len(), 2);
    assert_eq!(r.tx[0].status, Some(200));
    assert_eq!(r.tx[0].missing_bytes, 3012);
    assert!(!r.tx[0].complete);
    assert_eq!((r.tx[1].status, r.tx[1].missing_bytes), (Some(200), 0));
    assert!(r.tx[1].complete);
    assert!(r.events.iter().any(|e| e.0 == "HTTP_truncated_header"));
}

#[test]
fn garbage_is_not_http() {
    let r = run(&[
        (C, 1, b"\x00\x01\x02binary junk\r\n\r\n"),
        (S, 2, b"\xff\xfe"),
    ]);
    assert!(r.tx.is_empty());
    assert!(r.events.iter().any(|e| e.0 == "bad_HTTP_request"));
}

#[test]
fn conflicting_lengths_and_te_plus_cl_are_events() {
    let r = run(&[
        (
            C,
            1,
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabc",
        ),
        (S, 2, OK5),
    ]);
    assert_eq!(r.tx.len(), 1, "one message stays one record (zeek#1798)");
    assert_eq!(r.tx[0].request_body_bytes, 3);
    assert!(
        r.events
            .iter()
            .any(|e| e.0 == "HTTP_conflicting_Content_Length"
                && e.1 == "Content-Length values [3, 5]; using 3"),
        "{:?}",
        r.events
    );
    let r = run(&[
        (C, 1, b"POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        (S, 2, OK5),
    ]);
    assert_eq!(
        (r.tx[0].request_body_bytes, r.tx[0].request_chunked),
        (3, true)
    );
    assert!(
        r.events
            .iter()
            .any(|e| e.0 == "HTTP_both_Content_Length_and_Transfer_Encoding")
    );
}

#[test]
fn proxy_protocol_v1_and_v2_split_across_chunks() {
    let v1: &[u8] =
        b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    for cut in 1..v1.len() {
        let mut h = Http1::new(&Config::default());
        let mut r = Rec::default();
        h.on_data(C, 1, &v1[..cut], &mut r);
        h.on_data(C, 2, &v1[cut..], &mut r);
        h.on_data(S, 3, OK5, &mut r);
        h.finish(4, &mut r);
        assert_eq!(r.tx.len(), 1, "cut {cut}");
        assert!(
            r.tx[0].proxied_client_ip.is_some(),
            "cut {cut}: {:?} {:?}",
            r.tx[0],
            r.events
        );
        assert_eq!(
            r.tx[0].proxied_client_ip.unwrap().to_string(),
            "203.0.113.7"
        );
        assert_eq!(r.tx[0].proxied_client_port, Some(51000));
        assert_eq!(h.proxy().unwrap().version, 1);
    }
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[0x21, 0x21, 0, 36]); // PROXY, TCP over IPv6
    v2.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v2.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v2.extend_from_slice(&[0xc7, 0x38, 0x01, 0xbb]);
    v2.extend_from_slice(GET);
    let r = run(&[(C, 1, &v2[..7]), (C, 2, &v2[7..]), (S, 3, OK5)]);
    assert_eq!(
        r.tx[0].proxied_client_ip.unwrap().to_string(),
        "2001:db8::7"
    );
    assert_eq!(r.tx[0].proxied_client_port, Some(51000));
}

#[test]
fn lagging_request_direction_still_pairs_with_right_times() {
    // The response is delivered first (its direction was not held back); the request is
    // delivered later but carries its own, earlier, capture time.
    let r = run(&[(S, 300, OK5), (C, 100, GET)]);
    assert_eq!(r.tx.len(), 1);
    let t = &r.tx[0];
    assert_eq!(
        (t.method.as_deref(), t.status, t.ttfb_ns),
        (Some("GET"), Some(200), Some(200))
    );
}

#[test]
fn unsolicited_response_is_its_own_row() {
    let r = run(&[
        (C, 10, GET),
        (S, 20, OK5),
        (S, 25, OK5),
        (C, 40, GET),
        (S, 50, OK5),
    ]);
    let got: Vec<_> =
        r.tx.iter()
            .map(|t| (t.trans_depth, t.method.is_some(), t.status))
            .collect();
    assert_eq!(
        got,
        vec![
            (1, true, Some(200)),
            (2, false, Some(200)),
            (3, true, Some(200))
        ]
    );
}

#[test]
fn http_09() {
    // Whole, and a byte per segment (the request line is recognised when its end arrives).
    for piece in [usize::MAX, 1] {
        let mut h = Http1::new(&Config::default());
        let mut r = Rec::default();
        for b in b"GET /zeek.html\r\n".chunks(piece.min(64)) {
            h.on_data(C, 1, b, &mut r);
        }
        h.on_data(S, 2, b"<html>doc</html>", &mut r);
        h.on_fin(S, 3, &mut r);
        h.finish(4, &mut r);
        assert_eq!(r.tx.len(), 1, "{piece}");
        let t = &r.tx[0];
        assert_eq!(
            (
                t.version.as_deref(),
                t.uri.as_deref(),
                t.status,
                t.response_body_bytes
            ),
            (Some("0.9"), Some("/zeek.html"), None, Some(16)),
            "{piece}"
        );
    }
}

/// A multi-transaction exchange and what it must produce, for the chunking property.
#[allow(clippy::type_complexity)]
fn exchange() -> (Vec<u8>, Vec<u8>, Vec<usize>, Vec<usize>) {
    let reqs: [&[u8]; 3] = [
        GET,
        b"POST /form HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n",
    ];
    let resps: [&[u8]; 3] = [
        OK5,
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
    ];
    let (mut c, mut s, mut ends, mut starts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (q, r) in reqs.iter().zip(resps) {
        c.extend_from_slice(q);
        ends.push(c.len());
        starts.push(s.len());
        s.extend_from_slice(r);
    }
    (c, s, ends, starts)
}

type Summary = Vec<(Option<String>, Option<u16>, u64, Option<u64>, bool)>;

fn summary(r: &Rec) -> Summary {
    r.tx.iter()
        .map(|t| {
            (
                t.method.clone(),
                t.status,
                t.request_body_bytes,
                t.response_body_bytes,
                t.complete,
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_transactions(cuts_c in proptest::collection::vec(1usize..40, 1..20),
                                               cuts_s in proptest::collection::vec(1usize..40, 1..20)) {
        let (c, s, req_ends, resp_starts) = exchange();
        let whole = run(&[(C, 1, &c), (S, 2, &s)]);
        prop_assert_eq!(whole.tx.len(), 3);
        let mut h = Http1::new(&Config::default());
        let mut r = Rec::default();
        let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
        // Interleave the two directions' pieces as a real exchange can: any split, but a
        // response never starts before its request is complete.
        while i < c.len() || j < s.len() {
            if i < c.len() {
                let n = cuts_c[k % cuts_c.len()].min(c.len() - i);
                h.on_data(C, 1, &c[i..i + n], &mut r);
                i += n;
            }
            let limit = resp_starts
                .iter()
                .zip(&req_ends)
                .find(|(_, e)| i < **e)
                .map_or(s.len(), |(st, _)| *st);
            if j < limit && (k % 2 == 1 || i >= c.len()) {
                let n = cuts_s[k % cuts_s.len()].min(limit - j);
                h.on_data(S, 2, &s[j..j + n], &mut r);
                j += n;
            }
            k += 1;
        }
        h.finish(3, &mut r);
        prop_assert_eq!(summary(&r), summary(&whole));
    }

    #[test]
    fn garbage_never_panics(c in proptest::collection::vec(any::<u8>(), 0..300),
                            s in proptest::collection::vec(any::<u8>(), 0..300),
                            gap in 0u64..5000) {
        let mut h = Http1::new(&Config::default());
        let mut r = Rec::default();
        let mut c2 = b"GET / HTTP/1.1\r\n".to_vec();
        c2.extend_from_slice(&c);
        h.on_data(C, 1, &c2, &mut r);
        h.on_gap(C, 2, gap, &mut r);
        h.on_data(S, 3, &s, &mut r);
        h.on_data(C, 4, &c, &mut r);
        h.finish(5, &mut r);
    }
}

/// A request for `path`, and a response of `status` with a `len`-byte body.
fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()
}
fn resp(status: u16, len: usize) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status} X\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    r.resize(r.len() + len, b'x');
    r
}

/// (uri, status, response body bytes, complete) of each transaction.
fn outcomes(r: &Rec) -> Vec<(String, Option<u16>, Option<u64>, bool)> {
    r.tx.iter()
        .map(|t| {
            (
                t.uri.clone().unwrap_or_default(),
                t.status,
                t.response_body_bytes,
                t.complete,
            )
        })
        .collect()
}

#[test]
fn a_response_lost_from_the_capture_leaves_its_request_unanswered() {
    // A client waiting for each response on a keep-alive connection; the capture lost the
    // whole response to /b (the packets never reached it). FIFO pairing would give /b the
    // response to /c, and every later request its predecessor's. The lost bytes came right
    // after a response that ended in sync, so they were /b's response.
    let (a, b, c) = (resp(200, 10), resp(404, 7), resp(200, 30));
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, &get("/a"), &mut r);
    h.on_data(S, 2, &a, &mut r);
    h.on_data(C, 3, &get("/b"), &mut r);
    h.on_gap(S, 5, b.len() as u64, &mut r);
    h.on_data(C, 5, &get("/c"), &mut r);
    h.on_data(S, 6, &c, &mut r);
    h.on_data(C, 7, &get("/d"), &mut r);
    h.on_data(S, 8, &resp(200, 1), &mut r);
    h.finish(9, &mut r);
    assert_eq!(
        outcomes(&r),
        vec![
            ("/a".into(), Some(200), Some(10), true),
            ("/b".into(), None, None, false),
            ("/c".into(), Some(200), Some(30), true),
            ("/d".into(), Some(200), Some(1), true),
        ]
    );
    assert!(r.tx[1].missing_bytes > 0);
    // The same when reassembly hands the parser the server's bytes first (both directions
    // waited on bytes the other acknowledged): the response to /c, captured after /c was
    // sent, is parsed before /b and /c are. Each request's acknowledgment says how much of
    // the server's stream its client had: /b was sent after A, /c after B.
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, &get("/a"), &mut r);
    h.on_data(S, 2, &a, &mut r);
    h.on_gap(S, 6, b.len() as u64, &mut r);
    h.on_data(S, 6, &c, &mut r);
    h.on_ack(C, a.len() as u64);
    h.on_data(C, 3, &get("/b"), &mut r);
    h.on_ack(C, (a.len() + b.len()) as u64);
    h.on_data(C, 5, &get("/c"), &mut r);
    h.finish(9, &mut r);
    assert_eq!(
        outcomes(&r),
        vec![
            ("/a".into(), Some(200), Some(10), true),
            ("/b".into(), None, None, false),
            ("/c".into(), Some(200), Some(30), true),
        ]
    );
}

#[test]
fn a_lost_response_to_a_lost_request_is_nobody_elses() {
    // The capture lost a request and its response both. The next request was sent after
    // its client had that response (its acknowledgment says so), so the lost bytes were
    // not its answer: it keeps the response that follows.
    let (a, lost) = (resp(200, 10), resp(200, 20));
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, &get("/a"), &mut r);
    h.on_data(S, 2, &a, &mut r);
    h.on_gap(C, 3, get("/lost").len() as u64, &mut r);
    h.on_gap(S, 4, lost.len() as u64, &mut r);
    h.on_ack(C, (a.len() + lost.len()) as u64);
    h.on_data(C, 5, &get("/c"), &mut r);
    h.on_data(S, 6, &resp(404, 3), &mut r);
    h.finish(7, &mut r);
    assert_eq!(
        outcomes(&r),
        vec![
            ("/a".into(), Some(200), Some(10), true),
            ("/c".into(), Some(404), Some(3), true),
        ]
    );
}

#[test]
fn pipelined_requests_keep_their_responses_around_a_lost_one() {
    // Three requests in one segment; the capture lost the second response whole. Responses
    // follow each other without a byte between, so the loss right after the first is the
    // second's, and the third request still gets the third response.
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    let mut burst = get("/a");
    burst.extend(get("/b"));
    burst.extend(get("/c"));
    h.on_data(C, 1, &burst, &mut r);
    h.on_data(S, 2, &resp(200, 10), &mut r);
    h.on_gap(S, 3, resp(404, 7).len() as u64, &mut r);
    h.on_data(S, 4, &resp(200, 30), &mut r);
    h.finish(5, &mut r);
    assert_eq!(
        outcomes(&r),
        vec![
            ("/a".into(), Some(200), Some(10), true),
            ("/b".into(), None, None, false),
            ("/c".into(), Some(200), Some(30), true),
        ]
    );
    // A gap inside a body of known length loses no response: pairing is unchanged.
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, &burst, &mut r);
    let a = resp(200, 100);
    h.on_data(S, 2, &a[..a.len() - 60], &mut r);
    h.on_gap(S, 3, 50, &mut r);
    h.on_data(S, 3, &a[a.len() - 10..], &mut r);
    h.on_data(S, 4, &resp(404, 7), &mut r);
    h.on_data(S, 5, &resp(200, 30), &mut r);
    h.finish(6, &mut r);
    let got = outcomes(&r);
    assert_eq!(got[0], ("/a".into(), Some(200), Some(100), false));
    assert_eq!(got[1], ("/b".into(), Some(404), Some(7), true));
    assert_eq!(got[2], ("/c".into(), Some(200), Some(30), true));
}

/// The head of a response to a HEAD request: it announces a body it does not carry.
fn head_resp(len: usize) -> Vec<u8> {
    format!("HTTP/1.1 200 X\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

#[test]
fn a_response_after_a_lost_head_response_is_framed_by_its_own_request() {
    // Pipelined HEAD /a, HEAD /b, GET /c (nginx and a raw-socket client, with a capture that
    // dropped packets, showed it): the capture lost the answer to HEAD /b, right after the
    // answer to HEAD /a ended. The next response answers GET /c, so it has a body; framed as
    // the answer to HEAD /b it would not, its body would be read as the next response, and
    // sync would be lost for the rest of the connection.
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    let burst = [
        b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n".as_slice(),
        b"HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n",
    ]
    .concat();
    h.on_ack(C, 0);
    h.on_data(C, 1, &burst, &mut r);
    h.on_data(S, 2, &head_resp(100), &mut r);
    h.on_gap(S, 3, head_resp(200).len() as u64, &mut r);
    h.on_data(S, 4, &resp(200, 300), &mut r);
    h.on_data(C, 5, &get("/d"), &mut r);
    h.on_data(S, 6, &resp(404, 9), &mut r);
    h.finish(7, &mut r);
    assert_eq!(
        outcomes(&r),
        vec![
            ("/a".into(), Some(200), Some(0), true),
            ("/b".into(), None, None, false),
            ("/c".into(), Some(200), Some(300), true),
            ("/d".into(), Some(404), Some(9), true),
        ]
    );
}

#[test]
fn after_losing_sync_the_next_status_line_is_found_where_a_binary_body_ends() {
    // A gap took the head of the response to /b, so its body is read while looking for the
    // next message. Binary bodies seldom end in a line break: the next status line follows
    // the last body byte on the same "line", and must still be found.
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    h.on_data(C, 1, &get("/a"), &mut r);
    h.on_data(S, 2, &resp(200, 10), &mut r);
    h.on_data(C, 3, &get("/b"), &mut r);
    h.on_data(C, 3, &get("/c"), &mut r);
    let b = resp(200, 600);
    let head_len = b.len() - 600;
    h.on_gap(S, 4, head_len as u64 + 100, &mut r);
    // The rest of /b's body (no line breaks), then /c's response in the same segment.
    let mut seg = vec![0xa7u8; 500];
    seg.extend_from_slice(&resp(201, 4));
    h.on_data(S, 5, &seg, &mut r);
    h.finish(6, &mut r);
    let out = outcomes(&r);
    assert_eq!(out[0], ("/a".into(), Some(200), Some(10), true));
    assert_eq!(out[1].1, None, "/b's head was lost: {out:?}");
    assert_eq!(out[2], ("/c".into(), Some(201), Some(4), true), "{out:?}");
}

#[test]
fn a_burst_that_lost_two_responses_does_not_shift_the_next_burst() {
    // A client pipelines /a /b /c /e, reads every response, then sends /d. The capture lost
    // one segment holding the responses to /b and /c whole. Nothing in the stream says how
    // many responses the gap held, so inside the burst the next parsed response (/e's) goes
    // to /c; but /d was sent after its client had all of the burst's responses, so the
    // response after it is /d's, and /e's was among what was lost or mispaired before.
    let (a, b, c, e, d) = (
        resp(200, 10),
        resp(200, 20),
        resp(200, 30),
        resp(200, 40),
        resp(404, 50),
    );
    let mut h = Http1::new(&Config::default());
    let mut r = Rec::default();
    let burst = [get("/a"), get("/b"), get("/c"), get("/e")].concat();
    h.on_ack(C, 0);
    h.on_data(C, 1, &burst, &mut r);
    h.on_data(S, 2, &a, &mut r);
    h.on_gap(S, 3, (b.len() + c.len()) as u64, &mut r);
    h.on_data(S, 4, &e, &mut r);
    h.on_ack(C, (a.len() + b.len() + c.len() + e.len()) as u64);
    h.on_data(C, 5, &get("/d"), &mut r);
    h.on_data(S, 6, &d, &mut r);
    h.finish(7, &mut r);
    let out = outcomes(&r);
    assert_eq!(out[0], ("/a".into(), Some(200), Some(10), true));
    assert_eq!(out[1].1, None, "/b's response was lost: {out:?}");
    let e_row = out.iter().find(|o| o.0 == "/e").unwrap();
    assert_eq!(e_row.1, None, "{out:?}");
    let d_row = out.iter().find(|o| o.0 == "/d").unwrap();
    assert_eq!(*d_row, ("/d".into(), Some(404), Some(50), true), "{out:?}");
}
