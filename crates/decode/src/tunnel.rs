//! Tunnels whose inner TCP connections are what users want analysed: IP-in-IP (4, 41), GRE
//! (with transparent Ethernet bridging, ERSPAN types I-III, PPTP's enhanced GRE, Aruba's
//! 802.11-in-GRE), and UDP encapsulations on their standard ports (VXLAN 4789, Geneve 6081,
//! Teredo 3544, AYIYA 5072, GRE-in-UDP 4754, GTP-U 2152). The flow is keyed by the inner addresses, as tshark and Zeek
//! report it.

/// What a tunnel carries.
pub(crate) enum Inner<'a> {
    Ip(&'a [u8]),
    Ethernet(&'a [u8]),
    Wifi(&'a [u8]),
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The inner packet of an IP payload of protocol `proto`, if it is a tunnel we open.
pub(crate) fn inner(proto: u8, payload: &[u8]) -> Option<Inner<'_>> {
    match proto {
        4 | 41 => Some(Inner::Ip(payload)),
        47 => gre(payload),
        17 => udp(payload),
        _ => None,
    }
}

fn gre(p: &[u8]) -> Option<Inner<'_>> {
    let flags = be16(p, 0)?;
    let proto = be16(p, 2)?;
    let version = flags & 0x7;
    let mut off = 4;
    if version == 1 {
        // PPTP's enhanced GRE: key always present, optional sequence and ack numbers.
        off += 4;
        if flags & 0x1000 != 0 {
            off += 4;
        }
        if flags & 0x0080 != 0 {
            off += 4;
        }
    } else {
        if flags & 0x8000 != 0 {
            off += 4; // checksum + reserved
        }
        if flags & 0x2000 != 0 {
            off += 4; // key
        }
        if flags & 0x1000 != 0 {
            off += 4; // sequence number
        }
    }
    let body = p.get(off..)?;
    match proto {
        0x0800 | 0x86dd => Some(Inner::Ip(body)),
        0x6558 => Some(Inner::Ethernet(body)),
        // ERSPAN type II has the sequence bit set and an 8-byte header; type I has neither.
        0x88be if flags & 0x1000 != 0 => Some(Inner::Ethernet(body.get(8..)?)),
        0x88be => Some(Inner::Ethernet(body)),
        // ERSPAN type III: 12-byte header, plus an 8-byte platform subheader when the O bit
        // (lowest bit of the last byte) is set.
        0x22eb => {
            let o = body.get(11)? & 1 == 1;
            Some(Inner::Ethernet(body.get(if o { 20 } else { 12 }..)?))
        }
        // PPP (PPTP): optional address/control bytes, then the PPP protocol.
        0x880b => {
            let b = if body.starts_with(&[0xff, 0x03]) {
                &body[2..]
            } else {
                body
            };
            match be16(b, 0)? {
                0x0021 | 0x0057 => Some(Inner::Ip(b.get(2..)?)),
                _ => None,
            }
        }
        // Aruba access points tunnel 802.11 frames to their controller.
        0x8200 | 0x8210 => Some(Inner::Wifi(body)),
        _ => None,
    }
}

fn udp(p: &[u8]) -> Option<Inner<'_>> {
    let sport = be16(p, 0)?;
    let dport = be16(p, 2)?;
    let body = p.get(8..)?;
    let port = |n: u16| sport == n || dport == n;
    if port(4789) || port(8472) {
        // VXLAN: flags(1) reserved(3) VNI(3) reserved(1); the I flag must be set.
        if body.first()? & 0x08 == 0 {
            return None;
        }
        return Some(Inner::Ethernet(body.get(8..)?));
    }
    if port(6081) {
        // Geneve: version/option length, flags, protocol type, VNI.
        let opt_len = usize::from(body.first()? & 0x3f) * 4;
        let proto = be16(body, 2)?;
        let inner = body.get(8 + opt_len..)?;
        return match proto {
            0x6558 => Some(Inner::Ethernet(inner)),
            0x0800 | 0x86dd => Some(Inner::Ip(inner)),
            _ => None,
        };
    }
    if port(3544) {
        return teredo(body);
    }
    if port(4754) {
        // GRE-in-UDP (RFC 8086).
        return gre(body);
    }
    if port(2152) {
        return gtp_u(body);
    }
    if port(5072) {
        // AYIYA: identity length/type, signature length/hash, auth/opcode, next header,
        // epoch (4), identity (2^n bytes), signature (4n bytes).
        let id_len = 1usize << (body.first()? >> 4);
        let sig_len = usize::from(body.get(1)? >> 4) * 4;
        let next = *body.get(3)?;
        let inner = body.get(8 + id_len + sig_len..)?;
        return matches!(next, 4 | 41).then_some(Inner::Ip(inner));
    }
    None
}

/// GTPv1-U (3GPP TS 29.281): mobile user traffic between the core network's nodes.
fn gtp_u(b: &[u8]) -> Option<Inner<'_>> {
    let flags = *b.first()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || *b.get(1)? != 0xff {
        return None; // not version 1, not GTP (PT=0 is GTP'), or not a T-PDU
    }
    let mut off = 8;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number and next extension header type are present.
        let mut next = *b.get(11)?;
        off = 12;
        while next != 0 {
            let len = usize::from(*b.get(off)?) * 4;
            if len == 0 {
                return None;
            }
            next = *b.get(off + len - 1)?;
            off += len;
        }
    }
    let inner = b.get(off..)?;
    matches!(inner.first()? >> 4, 4 | 6).then_some(Inner::Ip(inner))
}

fn teredo(mut b: &[u8]) -> Option<Inner<'_>> {
    // Optional authentication (0x0001) and origin indication (0x0000) headers precede the
    // IPv6 packet (RFC 4380 section 5.1.1).
    if be16(b, 0)? == 0x0001 {
        let id_len = usize::from(*b.get(2)?);
        let au_len = usize::from(*b.get(3)?);
        b = b.get(4 + id_len + au_len + 8 + 1..)?;
    }
    if be16(b, 0)? == 0x0000 {
        b = b.get(8..)?;
    }
    (b.first()? >> 4 == 6).then_some(Inner::Ip(b))
}
