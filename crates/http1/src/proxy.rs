//! The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2), which load
//! balancers put in front of the client's bytes to pass on the original client address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use wirehouse_flow::{Addr, Endpoint};

/// A parsed PROXY header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// 1 (text) or 2 (binary).
    pub version: u8,
    /// The original client, when the header names one (not for UNKNOWN/LOCAL).
    pub src: Option<Endpoint>,
    /// The address the client connected to.
    pub dst: Option<Endpoint>,
}

/// The 12-byte signature of a version 2 header.
pub(crate) const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// Could `b` (the first bytes of a client stream) be the start of a PROXY header?
pub(crate) fn may_start(b: &[u8]) -> bool {
    let n = b.len().min(6);
    (n > 0 && b[..n] == b"PROXY "[..n]) || {
        let m = b.len().min(12);
        m > 0 && b[..m] == V2_SIG[..m]
    }
}

/// Result of trying to parse a header at the start of `b`.
pub(crate) enum Parsed {
    /// Need more bytes.
    Partial,
    /// Not a PROXY header after all.
    Invalid,
    /// A header of this many bytes.
    Done(ProxyHeader, usize),
}

pub(crate) fn parse(b: &[u8]) -> Parsed {
    if b.starts_with(b"PROXY ") || (b.len() < 6 && b"PROXY ".starts_with(b)) {
        return v1(b);
    }
    v2(b)
}

fn v1(b: &[u8]) -> Parsed {
    // "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", at most 107 bytes.
    let Some(end) = b.iter().take(107).position(|&c| c == b'\n') else {
        return if b.len() >= 107 {
            Parsed::Invalid
        } else {
            Parsed::Partial
        };
    };
    let line = &b[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(text) = std::str::from_utf8(line) else {
        return Parsed::Invalid;
    };
    let parts: Vec<&str> = text.split(' ').collect();
    let header = match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => ProxyHeader {
            version: 1,
            src: None,
            dst: None,
        },
        ["PROXY", fam @ ("TCP4" | "TCP6"), s, d, sp, dp] => {
            let (Ok(s), Ok(d), Ok(sp), Ok(dp)) = (
                s.parse::<IpAddr>(),
                d.parse::<IpAddr>(),
                sp.parse::<u16>(),
                dp.parse::<u16>(),
            ) else {
                return Parsed::Invalid;
            };
            if (*fam == "TCP4") != s.is_ipv4() {
                return Parsed::Invalid;
            }
            ProxyHeader {
                version: 1,
                src: Some(Endpoint::new(Addr::from(s), sp)),
                dst: Some(Endpoint::new(Addr::from(d), dp)),
            }
        }
        _ => return Parsed::Invalid,
    };
    Parsed::Done(header, end + 1)
}

fn v2(b: &[u8]) -> Parsed {
    if b.len() < 16 {
        return if V2_SIG.starts_with(&b[..b.len().min(12)]) {
            Parsed::Partial
        } else {
            Parsed::Invalid
        };
    }
    if &b[..12] != V2_SIG || b[12] >> 4 != 2 {
        return Parsed::Invalid;
    }
    let command = b[12] & 0x0f;
    let family = b[13];
    let len = usize::from(u16::from_be_bytes([b[14], b[15]]));
    let Some(body) = b.get(16..16 + len) else {
        return Parsed::Partial;
    };
    let (src, dst) = if command == 1 {
        match family >> 4 {
            1 if body.len() >= 12 => {
                let s = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
                let d = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
                let sp = u16::from_be_bytes([body[8], body[9]]);
                let dp = u16::from_be_bytes([body[10], body[11]]);
                (
                    Some(Endpoint::new(Addr::from(IpAddr::V4(s)), sp)),
                    Some(Endpoint::new(Addr::from(IpAddr::V4(d)), dp)),
                )
            }
            2 if body.len() >= 36 => {
                let mut s = [0u8; 16];
                let mut d = [0u8; 16];
                s.copy_from_slice(&body[..16]);
                d.copy_from_slice(&body[16..32]);
                let sp = u16::from_be_bytes([body[32], body[33]]);
                let dp = u16::from_be_bytes([body[34], body[35]]);
                (
                    Some(Endpoint::new(Addr::from(IpAddr::V6(Ipv6Addr::from(s))), sp)),
                    Some(Endpoint::new(Addr::from(IpAddr::V6(Ipv6Addr::from(d))), dp)),
                )
            }
            _ => (None, None),
        }
    } else {
        (None, None) // LOCAL: health checks from the proxy itself
    };
    Parsed::Done(
        ProxyHeader {
            version: 2,
            src,
            dst,
        },
        16 + len,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_tcp4_and_tcp6() {
        let b = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        let Parsed::Done(h, n) = parse(b) else {
            panic!()
        };
        assert_eq!(n, 47);
        assert_eq!(h.src.unwrap().to_string(), "192.168.0.1:56324");
        assert_eq!(h.dst.unwrap().to_string(), "192.168.0.11:443");
        let b = b"PROXY TCP6 2001:db8::1 2001:db8::2 1000 80\r\n";
        let Parsed::Done(h, _) = parse(b) else {
            panic!()
        };
        assert_eq!(h.src.unwrap().to_string(), "[2001:db8::1]:1000");
        assert!(matches!(parse(b"PROXY TCP4 1.2.3.4"), Parsed::Partial));
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.4 x 1 2\r\n"),
            Parsed::Invalid
        ));
        let Parsed::Done(h, _) = parse(b"PROXY UNKNOWN\r\n") else {
            panic!()
        };
        assert_eq!(h.src, None);
    }

    #[test]
    fn v2_ipv4_with_tlv() {
        let mut b = V2_SIG.to_vec();
        b.extend_from_slice(&[0x21, 0x11, 0, 15]); // v2 PROXY, TCP over IPv4, 12 + 3 bytes
        b.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0, 80]);
        b.extend_from_slice(&[0x04, 0, 0]); // a NOOP TLV
        b.extend_from_slice(b"GET");
        let Parsed::Done(h, n) = parse(&b) else {
            panic!()
        };
        assert_eq!(n, 31);
        assert_eq!(h.version, 2);
        assert_eq!(h.src.unwrap().to_string(), "10.0.0.1:12345");
        assert!(matches!(parse(&b[..20]), Parsed::Partial));
    }
}
