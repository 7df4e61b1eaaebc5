//! Link layers, peeled by hand down to the IP header.

use wirehouse_flow::Vlans;

/// Why a frame yields no IP packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The frame carries something other than IP.
    NotIp,
    /// The frame ends inside a link-layer header.
    Short,
    /// We do not decode this link type.
    Unsupported,
}

/// LINKTYPE_* numbers we decode (https://www.tcpdump.org/linktypes.html).
mod lt {
    pub(super) const NULL: u32 = 0;
    pub(super) const FDDI: u32 = 10;
    pub(super) const ETHERNET: u32 = 1;
    pub(super) const PPP: u32 = 9;
    pub(super) const RAW_12: u32 = 12; // DLT_RAW on some BSDs
    pub(super) const RAW_14: u32 = 14; // DLT_RAW on OpenBSD
    pub(super) const PPP_HDLC: u32 = 50;
    pub(super) const PPP_ETHER: u32 = 51;
    pub(super) const RAW: u32 = 101;
    pub(super) const IEEE802_11: u32 = 105;
    pub(super) const LOOP: u32 = 108;
    pub(super) const LINUX_SLL: u32 = 113;
    pub(super) const IEEE802_11_RADIOTAP: u32 = 127;
    pub(super) const IPV4: u32 = 228;
    pub(super) const IPV6: u32 = 229;
    pub(super) const NFLOG: u32 = 239;
    pub(super) const LINUX_SLL2: u32 = 276;
}

/// A short name for a link type, for the `captures.linktypes` column.
pub fn linktype_name(linktype: u32) -> String {
    match linktype {
        lt::NULL => "null".into(),
        lt::ETHERNET => "ethernet".into(),
        lt::FDDI => "fddi".into(),
        lt::PPP => "ppp".into(),
        lt::RAW_12 | lt::RAW_14 | lt::RAW => "raw".into(),
        lt::PPP_HDLC => "ppp-hdlc".into(),
        lt::PPP_ETHER => "pppoe".into(),
        lt::IEEE802_11 => "ieee802.11".into(),
        lt::LOOP => "loop".into(),
        lt::LINUX_SLL => "linux-sll".into(),
        lt::IEEE802_11_RADIOTAP => "ieee802.11-radiotap".into(),
        lt::IPV4 => "ipv4".into(),
        lt::IPV6 => "ipv6".into(),
        lt::NFLOG => "nflog".into(),
        lt::LINUX_SLL2 => "linux-sll2".into(),
        u32::MAX => "unknown-interface".into(),
        other => format!("linktype-{other}"),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Remove the link layer of `data`, returning the IP packet and the VLAN tags seen.
pub(crate) fn strip(linktype: u32, data: &[u8]) -> Result<(&[u8], Vlans), Stop> {
    let mut vlans = Vlans::default();
    let ip = match linktype {
        lt::ETHERNET => ethernet(data, &mut vlans)?,
        lt::LINUX_SLL => {
            // pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
            let proto = be16(data, 14).ok_or(Stop::Short)?;
            let hatype = be16(data, 2).ok_or(Stop::Short)?;
            sll_payload(hatype, proto, &data[16..], &mut vlans)?
        }
        lt::LINUX_SLL2 => {
            // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
            if data.len() < 20 {
                return Err(Stop::Short);
            }
            let proto = be16(data, 0).ok_or(Stop::Short)?;
            let hatype = be16(data, 8).ok_or(Stop::Short)?;
            sll_payload(hatype, proto, &data[20..], &mut vlans)?
        }
        lt::RAW | lt::RAW_12 | lt::RAW_14 | lt::IPV4 | lt::IPV6 => by_version(data)?,
        lt::NULL => {
            // A 4-byte address family in the *capturing host's* byte order.
            let fam = data.get(..4).ok_or(Stop::Short)?;
            let family = if fam[0] == 0 && fam[1] == 0 {
                u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]])
            } else {
                u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]])
            };
            bsd_family(family, &data[4..])?
        }
        lt::LOOP => {
            // OpenBSD loop: the family in network byte order.
            let fam = data.get(..4).ok_or(Stop::Short)?;
            bsd_family(
                u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]),
                &data[4..],
            )?
        }
        lt::PPP | lt::PPP_HDLC => ppp(data, &mut vlans)?,
        lt::PPP_ETHER => pppoe(data, &mut vlans)?,
        lt::NFLOG => nflog(data)?,
        lt::FDDI => {
            // Frame control, destination, source, then LLC/SNAP.
            let (et, body) = snap(data.get(13..).ok_or(Stop::Short)?)?;
            ether_payload(et, body, &mut vlans)?
        }
        lt::IEEE802_11 => wifi(data, &mut vlans)?,
        lt::IEEE802_11_RADIOTAP => {
            let len = data
                .get(2..4)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                .ok_or(Stop::Short)?;
            wifi(data.get(len..).ok_or(Stop::Short)?, &mut vlans)?
        }
        _ => return Err(Stop::Unsupported),
    };
    Ok((ip, vlans))
}

fn by_version(data: &[u8]) -> Result<&[u8], Stop> {
    match data.first().map(|b| b >> 4) {
        Some(4) | Some(6) => Ok(data),
        Some(_) => Err(Stop::NotIp),
        None => Err(Stop::Short),
    }
}

fn bsd_family(family: u32, rest: &[u8]) -> Result<&[u8], Stop> {
    match family {
        // AF_INET everywhere; AF_INET6 is 10 on Linux, 24 (NetBSD/OpenBSD), 28 (FreeBSD),
        // 30 (macOS).
        2 | 10 | 24 | 28 | 30 => by_version(rest),
        _ => Err(Stop::NotIp),
    }
}

fn ethernet<'a>(data: &'a [u8], vlans: &mut Vlans) -> Result<&'a [u8], Stop> {
    let ethertype = be16(data, 12).ok_or(Stop::Short)?;
    ether_payload(ethertype, &data[14..], vlans)
}

/// Follow an EtherType through VLAN tags, MPLS labels and PPPoE to the IP header.
fn ether_payload<'a>(
    mut ethertype: u16,
    mut rest: &'a [u8],
    vlans: &mut Vlans,
) -> Result<&'a [u8], Stop> {
    let mut tags = 0;
    loop {
        match ethertype {
            0x0800 | 0x86dd => return by_version(rest),
            0x8100 | 0x88a8 | 0x9100 | 0x9200 => {
                let tci = be16(rest, 0).ok_or(Stop::Short)?;
                let next = be16(rest, 2).ok_or(Stop::Short)?;
                let id = tci & 0x0fff;
                match tags {
                    0 => vlans.outer = id,
                    1 => vlans.inner = id,
                    _ => {} // a third tag is rare; the first two identify the flow
                }
                tags += 1;
                if tags > 8 {
                    return Err(Stop::NotIp);
                }
                ethertype = next;
                rest = &rest[4..];
            }
            0x8847 | 0x8848 => return mpls(rest, vlans),
            0x8864 => return pppoe_session(rest, vlans),
            0x88e7 => {
                // 802.1ah provider backbone bridging: I-TAG, then the customer frame.
                return ethernet(rest.get(4..).ok_or(Stop::Short)?, vlans);
            }
            len if len < 0x0600 => {
                // An 802.3 length field: LLC, with SNAP carrying an EtherType.
                let (next, body) = snap(rest)?;
                ethertype = next;
                rest = body;
            }
            _ => return Err(Stop::NotIp),
        }
    }
}

/// LLC/SNAP: AA AA 03, a 3-byte OUI, then an EtherType.
fn snap(b: &[u8]) -> Result<(u16, &[u8]), Stop> {
    let h = b.get(..8).ok_or(Stop::Short)?;
    if h[..3] != [0xaa, 0xaa, 0x03] {
        return Err(Stop::NotIp);
    }
    Ok((u16::from_be_bytes([h[6], h[7]]), &b[8..]))
}

fn mpls<'a>(mut rest: &'a [u8], vlans: &mut Vlans) -> Result<&'a [u8], Stop> {
    for _ in 0..16 {
        let label = rest.get(..4).ok_or(Stop::Short)?;
        let bottom = label[2] & 1 == 1;
        rest = &rest[4..];
        if bottom {
            // RFC 4385: after the stack, a first nibble of 4/6 is IP; 0 is a pseudowire
            // control word followed by an Ethernet frame.
            return match rest.first().map(|b| b >> 4) {
                Some(4) | Some(6) => Ok(rest),
                Some(0) => ethernet(rest.get(4..).ok_or(Stop::Short)?, vlans),
                Some(_) => Err(Stop::NotIp),
                None => Err(Stop::Short),
            };
        }
    }
    Err(Stop::NotIp)
}

fn pppoe<'a>(data: &'a [u8], vlans: &mut Vlans) -> Result<&'a [u8], Stop> {
    pppoe_session(data, vlans)
}

fn pppoe_session<'a>(rest: &'a [u8], vlans: &mut Vlans) -> Result<&'a [u8], Stop> {
    // ver/type(1) code(1) session(2) length(2), then a PPP protocol field.
    let body = rest.get(6..).ok_or(Stop::Short)?;
    ppp_protocol(body, vlans)
}

fn ppp<'a>(data: &'a [u8], vlans: &mut Vlans) -> Result<&'a [u8], Stop> {
    // HDLC-framed PPP starts with address 0xff, control 0x03.
    let body = if data.starts_with(&[0xff, 0x03]) {
        &data[2..]
    } else {
        data
    };
    ppp_protocol(body, vlans)
}

fn ppp_protocol<'a>(body: &'a [u8], _vlans: &mut Vlans) -> Result<&'a [u8], Stop> {
    let proto = be16(body, 0).ok_or(Stop::Short)?;
    match proto {
        0x0021 | 0x0057 => by_version(&body[2..]),
        _ => Err(Stop::NotIp),
    }
}

fn sll_payload<'a>(
    hatype: u16,
    proto: u16,
    rest: &'a [u8],
    vlans: &mut Vlans,
) -> Result<&'a [u8], Stop> {
    match hatype {
        // ARPHRD_NETLINK: netlink messages, not packets.
        824 => Err(Stop::NotIp),
        // On tunnel and IP-only devices (ARPHRD_NONE, IPGRE, SIT...) the protocol field is
        // still an EtherType, so one path serves all.
        _ => ether_payload(proto, rest, vlans),
    }
}

fn nflog(data: &[u8]) -> Result<&[u8], Stop> {
    // family(1) version(1) resource id(2), then TLVs: length(2, host order: little-endian on
    // every capture seen) type(2) value, each padded to 4 bytes. NFULA_PAYLOAD (9) holds the
    // IP packet.
    let family = *data.first().ok_or(Stop::Short)?;
    let mut p = 4;
    while p + 4 <= data.len() {
        let len = usize::from(u16::from_le_bytes([data[p], data[p + 1]]));
        let tlv_type = u16::from_le_bytes([data[p + 2], data[p + 3]]) & 0x7fff;
        if len < 4 {
            return Err(Stop::NotIp);
        }
        let value = data.get(p + 4..p + len).ok_or(Stop::Short)?;
        if tlv_type == 9 {
            return match family {
                2 | 10 => by_version(value),
                _ => Err(Stop::NotIp),
            };
        }
        p += len.next_multiple_of(4);
    }
    Err(Stop::NotIp)
}

fn wifi<'a>(data: &'a [u8], vlans: &mut Vlans) -> Result<&'a [u8], Stop> {
    let fc0 = *data.first().ok_or(Stop::Short)?;
    let fc1 = *data.get(1).ok_or(Stop::Short)?;
    let frame_type = (fc0 >> 2) & 3;
    if frame_type != 2 {
        return Err(Stop::NotIp); // management or control frame
    }
    if fc1 & 0x40 != 0 {
        return Err(Stop::NotIp); // protected: encrypted payload
    }
    let subtype = fc0 >> 4;
    if subtype & 0x4 != 0 {
        return Err(Stop::NotIp); // null-data frames carry nothing
    }
    let mut hlen = 24;
    if fc1 & 0x03 == 0x03 {
        hlen += 6; // four-address (WDS) frame
    }
    if subtype & 0x8 != 0 {
        hlen += 2; // QoS control
        if fc1 & 0x80 != 0 {
            hlen += 4; // HT control
        }
    }
    let llc = data.get(hlen..).ok_or(Stop::Short)?;
    // LLC/SNAP: AA AA 03 00 00 00 then an EtherType.
    if llc.len() < 8 {
        return Err(Stop::Short);
    }
    if llc[..3] != [0xaa, 0xaa, 0x03] {
        return Err(Stop::NotIp);
    }
    let ethertype = u16::from_be_bytes([llc[6], llc[7]]);
    ether_payload(ethertype, &llc[8..], vlans)
}
