//! SOCKS 4/4a/5 handshakes (RFC 1928, RFC 1929), stripped so the protocol tunnelled through
//! the proxy (often plain HTTP) is recognised and analysed like any other connection.
//!
//! Each direction is parsed on its own, message by message, because reassembly may deliver
//! one direction ahead of the other; the shape of each message tells which comes next.

use wirehouse_flow::Dir;

/// Where one direction of the handshake is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// SOCKS4 request / reply.
    V4,
    /// SOCKS5 client greeting or server method choice.
    V5Hello,
    /// After the greeting: an RFC 1929 username/password exchange, or the request.
    V5AuthOrRequest,
    /// SOCKS5 request (client) or reply (server).
    V5Request,
    /// Handshake over: what follows is the tunnelled protocol.
    Done,
    /// Not SOCKS after all.
    Failed,
}

/// The handshake state of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Socks {
    step: [Step; 2],
    buf: [Vec<u8>; 2],
}

/// Does a client stream start like a SOCKS handshake?
pub(crate) fn looks_like_socks(first: &[u8]) -> bool {
    match first {
        // SOCKS4: version 4, command connect (1) or bind (2), port, address, user id.
        [4, 1 | 2, ..] => first.len() < 9 || first[8..].contains(&0) || first.len() < 64,
        // SOCKS5 greeting: version 5, 1-9 methods, each a known method number.
        [5, n, rest @ ..] => {
            (1..=9).contains(n)
                && rest
                    .iter()
                    .take(usize::from(*n))
                    .all(|m| *m <= 3 || *m == 0x80)
        }
        _ => false,
    }
}

/// Result of feeding bytes.
pub(crate) enum Fed<'a> {
    /// Still in the handshake; all bytes consumed.
    More,
    /// The handshake of this direction ended; these bytes belong to the tunnel.
    Done(&'a [u8]),
    /// Not SOCKS.
    Failed,
}

impl Socks {
    pub(crate) fn new(version: u8) -> Socks {
        let s = if version == 4 {
            Step::V4
        } else {
            Step::V5Hello
        };
        Socks {
            step: [s, s],
            buf: [Vec::new(), Vec::new()],
        }
    }

    /// Both directions finished the handshake.
    pub(crate) fn done(&self) -> bool {
        self.step == [Step::Done, Step::Done]
    }

    pub(crate) fn feed<'a>(&mut self, dir: Dir, data: &'a [u8]) -> Fed<'a> {
        let i = dir.index();
        let mut data = data;
        loop {
            match self.step[i] {
                Step::Done => return Fed::Done(data),
                Step::Failed => return Fed::Failed,
                _ => {}
            }
            if data.is_empty() {
                return Fed::More;
            }
            // Buffer only what the current message needs (they are a few hundred bytes).
            let have = self.buf[i].len();
            self.buf[i].extend_from_slice(&data[..data.len().min(600)]);
            match message_len(self.step[i], dir, &self.buf[i]) {
                Len::Need => {
                    if self.buf[i].len() > 600 {
                        self.step[i] = Step::Failed;
                        return Fed::Failed;
                    }
                    return Fed::More;
                }
                Len::Bad => {
                    self.step[i] = Step::Failed;
                    return Fed::Failed;
                }
                Len::Is(n, next) => {
                    let used = n - have;
                    self.buf[i].clear();
                    self.step[i] = next;
                    data = &data[used.min(data.len())..];
                }
            }
        }
    }
}

enum Len {
    Need,
    Bad,
    /// The message has this many bytes; then comes this step.
    Is(usize, Step),
}

fn message_len(step: Step, dir: Dir, b: &[u8]) -> Len {
    let need = |n: usize, next: Step| {
        if b.len() >= n {
            Len::Is(n, next)
        } else {
            Len::Need
        }
    };
    match (step, dir) {
        (Step::V4, Dir::ToServer) => {
            // VN CD PORT(2) IP(4) USERID\0 [DOMAIN\0 when the IP is 0.0.0.x: SOCKS4a]
            if b.len() < 9 {
                return Len::Need;
            }
            let Some(z) = b[8..].iter().position(|c| *c == 0) else {
                return Len::Need;
            };
            let mut n = 8 + z + 1;
            if b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] != 0 {
                let Some(z2) = b[n..].iter().position(|c| *c == 0) else {
                    return Len::Need;
                };
                n += z2 + 1;
            }
            Len::Is(n, Step::Done)
        }
        (Step::V4, Dir::ToClient) => match b.first() {
            Some(0) | Some(4) => need(8, Step::Done),
            Some(_) => Len::Bad,
            None => Len::Need,
        },
        (Step::V5Hello, Dir::ToServer) => match b {
            [5, n, ..] => need(2 + usize::from(*n), Step::V5AuthOrRequest),
            [5] | [] => Len::Need,
            _ => Len::Bad,
        },
        (Step::V5Hello, Dir::ToClient) => match b {
            // The method choice; 2 (username/password) means an auth status comes next.
            [5, 2, ..] => Len::Is(2, Step::V5AuthOrRequest),
            [5, 0xff, ..] => Len::Bad,
            [5, _, ..] => Len::Is(2, Step::V5Request),
            [5] | [] => Len::Need,
            _ => Len::Bad,
        },
        (Step::V5AuthOrRequest, Dir::ToServer) => match b {
            // RFC 1929: VER(1)=1 ULEN UNAME PLEN PASSWD
            [1, ..] => {
                if b.len() < 2 {
                    return Len::Need;
                }
                let ulen = usize::from(b[1]);
                let Some(&plen) = b.get(2 + ulen) else {
                    return Len::Need;
                };
                need(3 + ulen + usize::from(plen), Step::V5Request)
            }
            [5, ..] => message_len(Step::V5Request, dir, b),
            [] => Len::Need,
            _ => Len::Bad,
        },
        (Step::V5AuthOrRequest, Dir::ToClient) => match b {
            [1, 0, ..] => Len::Is(2, Step::V5Request),
            [1] | [] => Len::Need,
            _ => Len::Bad,
        },
        (Step::V5Request, _) => {
            // VER CMD/REP RSV ATYP ADDR PORT(2)
            if b.len() < 5 {
                return if b.first().is_none_or(|v| *v == 5) {
                    Len::Need
                } else {
                    Len::Bad
                };
            }
            if b[0] != 5 || (dir == Dir::ToClient && b[1] != 0) {
                return Len::Bad;
            }
            let addr = match b[3] {
                1 => 4,
                3 => 1 + usize::from(b[4]),
                4 => 16,
                _ => return Len::Bad,
            };
            need(4 + addr + 2, Step::Done)
        }
        (Step::Done | Step::Failed, _) => Len::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_with_password_then_http() {
        let mut s = Socks::new(5);
        assert!(looks_like_socks(&[5, 2, 0, 2]));
        assert!(matches!(s.feed(Dir::ToServer, &[5, 2, 0, 2]), Fed::More));
        assert!(matches!(s.feed(Dir::ToClient, &[5, 2]), Fed::More));
        assert!(matches!(
            s.feed(Dir::ToServer, &[1, 1, b'u', 2, b'p', b'w']),
            Fed::More
        ));
        assert!(matches!(s.feed(Dir::ToClient, &[1, 0]), Fed::More));
        // Request for example.com:80, split across two deliveries, with HTTP right after.
        let mut req = vec![5, 1, 0, 3, 11];
        req.extend_from_slice(b"example.com");
        req.extend_from_slice(&[0, 80]);
        req.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert!(matches!(s.feed(Dir::ToServer, &req[..7]), Fed::More));
        match s.feed(Dir::ToServer, &req[7..]) {
            Fed::Done(rest) => assert_eq!(rest, b"GET / HTTP/1.1\r\n"),
            _ => panic!(),
        }
        match s.feed(Dir::ToClient, &[5, 0, 0, 1, 10, 0, 0, 1, 0, 80, b'H']) {
            Fed::Done(rest) => assert_eq!(rest, b"H"),
            _ => panic!(),
        }
        assert!(s.done());
    }

    #[test]
    fn socks4a_request() {
        let mut s = Socks::new(4);
        let mut req = vec![4, 1, 0, 80, 0, 0, 0, 1];
        req.extend_from_slice(b"user\0host.example\0GET");
        match s.feed(Dir::ToServer, &req) {
            Fed::Done(rest) => assert_eq!(rest, b"GET"),
            _ => panic!(),
        }
        assert!(matches!(
            s.feed(Dir::ToClient, &[0, 90, 0, 0, 0, 0, 0, 0]),
            Fed::Done(b"")
        ));
    }

    #[test]
    fn not_socks() {
        assert!(!looks_like_socks(b"GET / HTTP/1.1"));
        let mut s = Socks::new(5);
        assert!(matches!(
            s.feed(Dir::ToClient, b"HTTP/1.1 200 OK"),
            Fed::Failed
        ));
    }
}
