//! Decode: from a captured frame to a TCP segment (or to the reason it is not one).
//!
//! Link layers are peeled here by hand, because they are a few fixed offsets and etherparse
//! covers only some of them (no SLL2, MPLS, BSD loopback, PPP, NFLOG or 802.11): Ethernet
//! with any stack of 802.1Q/802.1ad tags, MPLS label stacks, PPPoE, Linux cooked capture
//! v1 and v2, raw IPv4/IPv6, BSD null/loopback in both byte orders, PPP, NFLOG and 802.11
//! data frames (with or without radiotap). The IP and TCP layers go through etherparse's lax
//! slicers, which accept what real captures contain: IP length fields of 0 or larger than the
//! capture (TSO/GRO on the capturing host), snaplen-cut payloads, IPv4 options, IPv6
//! extension headers.
//!
//! Every packet gets exactly one [`Fate`]; the engine counts them so that the `captures`
//! table accounts for every packet. A packet cut by the snaplen in the middle of a header
//! it needs is [`Fate::Truncated`]; one whose headers are inconsistent is
//! [`Fate::Malformed`]. A TCP packet whose *payload* was cut is still a TCP packet: its
//! [`Segment::wire_len`] says how much the wire carried, and reassembly counts the rest as
//! missing.
//!
//! No function here panics on any input: all reads are bounds-checked slices.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod defrag;
mod link;
mod tunnel;

use etherparse::{LaxIpSlice, TcpSlice, err};
use wirehouse_flow::{Addr, Endpoint, Segment, TcpFlags, TcpOptions, Vlans};

pub use link::linktype_name;

/// What became of a packet. Every packet has exactly one fate; the `captures` table's
/// `packets_*` columns are these counts and sum to the packet count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// TCP (including IP fragments carrying TCP).
    Tcp,
    /// UDP (including fragments carrying UDP).
    Udp,
    /// IP carrying another protocol (ICMP, ESP, GRE, SCTP, ...).
    OtherIp,
    /// Not IP at all (ARP, LLDP, STP, encrypted 802.11, ...).
    NonIp,
    /// Cut by the capture's snaplen before the headers we need.
    Truncated,
    /// Headers that contradict themselves or the bytes present.
    Malformed,
    /// A link type we do not decode.
    UnsupportedLinktype,
}

impl Fate {
    /// Every fate, in column order.
    pub const ALL: [Fate; 7] = [
        Fate::Tcp,
        Fate::Udp,
        Fate::OtherIp,
        Fate::NonIp,
        Fate::Truncated,
        Fate::Malformed,
        Fate::UnsupportedLinktype,
    ];

    /// Index into a per-fate counter array.
    pub fn index(self) -> usize {
        self as usize
    }

    fn of_protocol(proto: u8) -> Fate {
        match proto {
            6 => Fate::Tcp,
            17 => Fate::Udp,
            _ => Fate::OtherIp,
        }
    }
}

/// A decoded TCP packet.
#[derive(Clone, Copy, Debug)]
pub struct TcpPacket<'a> {
    /// The segment as the TCP state machine consumes it.
    pub seg: Segment<'a>,
    /// VLAN tags it was captured with (part of the flow key).
    pub vlans: Vlans,
}

/// One IP fragment, for [`defrag::Defragmenter`].
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// VLAN tags.
    pub vlans: Vlans,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// IP identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Protocol of the reassembled payload.
    pub proto: u8,
    /// Byte offset of this fragment's data in the reassembled payload.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// The fragment's data as captured.
    pub data: &'a [u8],
    /// The capture cut this fragment's data short.
    pub cut: bool,
}

impl Fragment<'_> {
    /// The fate of the packet carrying this fragment.
    pub fn fate(&self) -> Fate {
        Fate::of_protocol(self.proto)
    }
}

/// The outcome of decoding one frame.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(TcpPacket<'a>),
    /// An IP fragment: reassemble before looking at the transport layer.
    Fragment(Fragment<'a>),
    /// Anything else, with its fate.
    Other(Fate),
}

impl Decoded<'_> {
    /// This packet's fate for accounting.
    pub fn fate(&self) -> Fate {
        match self {
            Decoded::Tcp(_) => Fate::Tcp,
            Decoded::Fragment(f) => f.fate(),
            Decoded::Other(f) => *f,
        }
    }
}

/// Decode a frame of link type `linktype` whose original length was `origlen`.
pub fn decode(linktype: u32, data: &[u8], origlen: u32, ts_ns: i64) -> Decoded<'_> {
    let cut = (data.len() as u64) < u64::from(origlen);
    // Untagged Ethernet carrying IPv4/TCP, most of what real captures hold, skips the
    // link-type dispatch; whatever the fast path declines goes the general way.
    if linktype == LINKTYPE_ETHERNET
        && fast_path_on()
        && data.get(12..14) == Some(&[0x08, 0x00])
        && let Some(d) = ipv4_tcp_fast(&data[14..], Vlans::default(), cut, ts_ns)
    {
        return d;
    }
    match link::strip(linktype, data) {
        Ok((ip, vlans)) => decode_ip_at(ip, vlans, cut, ts_ns, 0),
        Err(link::Stop::NotIp) => Decoded::Other(Fate::NonIp),
        Err(link::Stop::Short) => Decoded::Other(if cut {
            Fate::Truncated
        } else {
            Fate::Malformed
        }),
        Err(link::Stop::Unsupported) => Decoded::Other(Fate::UnsupportedLinktype),
    }
}

fn len_fate(cut: bool) -> Fate {
    if cut {
        Fate::Truncated
    } else {
        Fate::Malformed
    }
}

/// Decode an IP packet (the link layer already removed).
pub fn decode_ip(data: &[u8], vlans: Vlans, cut: bool, ts_ns: i64) -> Decoded<'_> {
    decode_ip_at(data, vlans, cut, ts_ns, 0)
}

/// Tunnels nest at most this deep (a GRE in a VXLAN in a GRE is already exotic).
const MAX_TUNNEL_DEPTH: u8 = 4;

const LINKTYPE_ETHERNET: u32 = 1;

/// Tests turn the fast path off to compare it with the general one.
#[cfg(not(test))]
#[inline(always)]
fn fast_path_on() -> bool {
    true
}

#[cfg(test)]
thread_local! {
    static GENERAL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static FAST_HITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn fast_path_on() -> bool {
    !GENERAL_ONLY.with(|g| g.get())
}

/// The common case read straight off the bytes: an unfragmented IPv4 packet carrying TCP,
/// whole in the capture. `None` sends everything else (IPv6, options-only edge cases, other
/// protocols, fragments, packets shorter than their header claims) to the general path.
///
/// The general path parses the header into etherparse's slice types, dispatches on the
/// protocol and checks for extension headers; on the generated capture that was about 300
/// instructions per packet, most of the decode stage. This reads six fields. The result is
/// the same as the general path's by construction, and a test checks it against it.
#[inline(always)]
fn ipv4_tcp_fast(data: &[u8], vlans: Vlans, cut: bool, ts_ns: i64) -> Option<Decoded<'_>> {
    let h = data.get(..20)?;
    if h[0] >> 4 != 4 || h[9] != 6 {
        return None;
    }
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // More-fragments flag or a fragment offset: reassembly.
    if u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
        return None;
    }
    if header_len < 20 || total_len < header_len || total_len > data.len() {
        return None;
    }
    let src = Addr::v4([h[12], h[13], h[14], h[15]]);
    let dst = Addr::v4([h[16], h[17], h[18], h[19]]);
    let payload = &data[header_len..total_len];
    #[cfg(test)]
    FAST_HITS.with(|n| n.set(n.get() + 1));
    Some(decode_tcp(
        payload,
        payload.len(),
        src,
        dst,
        vlans,
        cut,
        ts_ns,
    ))
}

fn decode_ip_at(data: &[u8], vlans: Vlans, cut: bool, ts_ns: i64, depth: u8) -> Decoded<'_> {
    if fast_path_on()
        && let Some(d) = ipv4_tcp_fast(data, vlans, cut, ts_ns)
    {
        return d;
    }
    decode_ip_general(data, vlans, cut, ts_ns, depth)
}

fn decode_ip_general(data: &[u8], vlans: Vlans, cut: bool, ts_ns: i64, depth: u8) -> Decoded<'_> {
    let (ip, ext_err) = match LaxIpSlice::from_slice(data) {
        Ok(v) => v,
        Err(err::ip::LaxHeaderSliceError::Len(_)) => return Decoded::Other(len_fate(cut)),
        Err(err::ip::LaxHeaderSliceError::Content(_)) => {
            return Decoded::Other(Fate::Malformed);
        }
    };
    let (src, dst) = match &ip {
        LaxIpSlice::Ipv4(v4) => (
            Addr::v4(v4.header().source()),
            Addr::v4(v4.header().destination()),
        ),
        LaxIpSlice::Ipv6(v6) => (
            Addr::v6(v6.header().source()),
            Addr::v6(v6.header().destination()),
        ),
    };
    let payload = ip.payload();
    if payload.fragmented {
        return fragment(&ip, vlans, src, dst, cut);
    }
    if let Some((e, _)) = ext_err {
        // An IPv6 extension header we could not walk: we do not know the transport protocol.
        return Decoded::Other(match e {
            err::ipv6_exts::HeaderSliceError::Len(_) => len_fate(cut),
            err::ipv6_exts::HeaderSliceError::Content(_) => Fate::Malformed,
        });
    }
    let proto = payload.ip_number.0;
    let wire_payload = if payload.incomplete {
        ip_wire_payload_len(&ip).unwrap_or(payload.payload.len())
    } else {
        payload.payload.len()
    };
    // A frame shorter than its IP header claims, but not cut by the capture, was short on
    // the wire: a failure to read the TCP header is then malformed, not truncated.
    decode_transport_at(
        proto,
        payload.payload,
        wire_payload,
        src,
        dst,
        vlans,
        cut,
        ts_ns,
        depth,
    )
}

/// Decode an IP payload of protocol `proto` (the transport header and what follows): TCP,
/// or a tunnel opened to the packet inside. Used directly for datagrams rebuilt from
/// fragments.
#[allow(clippy::too_many_arguments)]
pub fn decode_transport(
    proto: u8,
    data: &[u8],
    wire_len: usize,
    src: Addr,
    dst: Addr,
    vlans: Vlans,
    cut: bool,
    ts_ns: i64,
) -> Decoded<'_> {
    decode_transport_at(proto, data, wire_len, src, dst, vlans, cut, ts_ns, 0)
}

#[allow(clippy::too_many_arguments)]
fn decode_transport_at(
    proto: u8,
    data: &[u8],
    wire_len: usize,
    src: Addr,
    dst: Addr,
    vlans: Vlans,
    cut: bool,
    ts_ns: i64,
    depth: u8,
) -> Decoded<'_> {
    if proto == 6 {
        return decode_tcp(data, wire_len, src, dst, vlans, cut, ts_ns);
    }
    if depth < MAX_TUNNEL_DEPTH
        && let Some(inner) = tunnel::inner(proto, data)
    {
        return match inner {
            tunnel::Inner::Ip(p) => decode_ip_at(p, vlans, cut, ts_ns, depth + 1),
            tunnel::Inner::Ethernet(frame) => match link::strip(1, frame) {
                Ok((p, inner_vlans)) => {
                    let v = if inner_vlans == Vlans::default() {
                        vlans
                    } else {
                        inner_vlans
                    };
                    decode_ip_at(p, v, cut, ts_ns, depth + 1)
                }
                Err(_) => Decoded::Other(Fate::of_protocol(proto)),
            },
            tunnel::Inner::Wifi(frame) => match link::strip(105, frame) {
                Ok((p, _)) => decode_ip_at(p, vlans, cut, ts_ns, depth + 1),
                Err(_) => Decoded::Other(Fate::of_protocol(proto)),
            },
        };
    }
    Decoded::Other(Fate::of_protocol(proto))
}

/// The IP payload length the headers announce, for packets the capture cut short.
fn ip_wire_payload_len(ip: &LaxIpSlice<'_>) -> Option<usize> {
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
            usize::from(h.total_len()).checked_sub(h.slice().len() + auth)
        }
        LaxIpSlice::Ipv6(v6) => {
            usize::from(v6.header().payload_length()).checked_sub(v6.extensions().slice().len())
        }
    }
}

fn fragment<'a>(ip: &LaxIpSlice<'a>, vlans: Vlans, src: Addr, dst: Addr, cut: bool) -> Decoded<'a> {
    let payload = ip.payload();
    let cut = cut || payload.incomplete;
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            Decoded::Fragment(Fragment {
                vlans,
                src,
                dst,
                id: u32::from(h.identification()),
                proto: h.protocol().0,
                offset: u32::from(h.fragments_offset().value()) * 8,
                more: h.more_fragments(),
                data: payload.payload,
                cut,
            })
        }
        LaxIpSlice::Ipv6(v6) => {
            for ext in v6.extensions().clone() {
                if let etherparse::Ipv6ExtensionSlice::Fragment(f) = ext {
                    return Decoded::Fragment(Fragment {
                        vlans,
                        src,
                        dst,
                        id: f.identification(),
                        proto: payload.ip_number.0,
                        offset: u32::from(f.fragment_offset().value()) * 8,
                        more: f.more_fragments(),
                        data: payload.payload,
                        cut,
                    });
                }
            }
            Decoded::Other(Fate::Malformed)
        }
    }
}

/// Decode a TCP header and payload. `wire_len` is the length of `data` on the wire (larger
/// than `data.len()` when the capture cut the packet). Used directly for reassembled
/// fragments.
///
/// Always inlined, into the IPv4 fast path above all. Called out of line, the two addresses
/// travel through the stack: the caller stores each in pieces (flag, octets, zero padding)
/// and the callee loads it back in one 16-byte read, which cannot be forwarded from those
/// stores and waits until they (and every store before them, such as the previous packet's
/// queue entry) reach the cache. On the generated capture that one load held a tenth of the
/// single-thread run's samples.
#[inline(always)]
pub fn decode_tcp(
    data: &[u8],
    wire_len: usize,
    src: Addr,
    dst: Addr,
    vlans: Vlans,
    cut: bool,
    ts_ns: i64,
) -> Decoded<'_> {
    let tcp = match TcpSlice::from_slice(data) {
        Ok(t) => t,
        Err(err::tcp::HeaderSliceError::Len(_)) if cut && data.len() >= 20 => {
            // The snaplen cut the options, but the fixed header (ports, sequence numbers,
            // flags) is whole: the segment still counts for connection tracking.
            return tcp_cut_in_options(data, wire_len, src, dst, vlans, ts_ns);
        }
        Err(err::tcp::HeaderSliceError::Len(_)) => return Decoded::Other(len_fate(cut)),
        Err(err::tcp::HeaderSliceError::Content(_)) => return Decoded::Other(Fate::Malformed),
    };
    let header_len = tcp.header_slice().len();
    let payload = tcp.payload();
    let wire_payload = wire_len.saturating_sub(header_len).max(payload.len());
    let mut flags = 0u8;
    for (set, bit) in [
        (tcp.fin(), TcpFlags::FIN),
        (tcp.syn(), TcpFlags::SYN),
        (tcp.rst(), TcpFlags::RST),
        (tcp.psh(), TcpFlags::PSH),
        (tcp.ack(), TcpFlags::ACK),
        (tcp.urg(), TcpFlags::URG),
        (tcp.ece(), TcpFlags::ECE),
        (tcp.cwr(), TcpFlags::CWR),
    ] {
        if set {
            flags |= bit;
        }
    }
    Decoded::Tcp(TcpPacket {
        seg: Segment {
            ts_ns,
            src: Endpoint::new(src, tcp.source_port()),
            dst: Endpoint::new(dst, tcp.destination_port()),
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            flags: TcpFlags(flags),
            window: tcp.window_size(),
            options: syn_options(flags, tcp.options()),
            payload,
            wire_len: u32::try_from(wire_payload).unwrap_or(u32::MAX),
        },
        vlans,
    })
}

/// A TCP header whose options the capture cut: read the fixed 20 bytes by hand and the
/// options as far as they go.
///
/// Inlined although rare: a call would take the addresses by reference, which keeps them
/// in memory on the fast path too (see [`decode_tcp`]).
#[inline(always)]
fn tcp_cut_in_options(
    data: &[u8],
    wire_len: usize,
    src: Addr,
    dst: Addr,
    vlans: Vlans,
    ts_ns: i64,
) -> Decoded<'_> {
    let be16 = |i: usize| u16::from_be_bytes([data[i], data[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let header_len = usize::from(data[12] >> 4) * 4;
    if header_len < 20 {
        return Decoded::Other(Fate::Malformed);
    }
    let options = &data[20..data.len().min(header_len)];
    Decoded::Tcp(TcpPacket {
        seg: Segment {
            ts_ns,
            src: Endpoint::new(src, be16(0)),
            dst: Endpoint::new(dst, be16(2)),
            seq: be32(4),
            ack: be32(8),
            flags: TcpFlags(data[13]),
            window: be16(14),
            options: syn_options(data[13], options),
            payload: &[],
            wire_len: u32::try_from(wire_len.saturating_sub(header_len)).unwrap_or(u32::MAX),
        },
        vlans,
    })
}

/// The options of a segment with these `flags`: parsed on a SYN or SYN/ACK, empty on any
/// other segment (see [`TcpOptions`]).
fn syn_options(flags: u8, b: &[u8]) -> TcpOptions {
    if flags & TcpFlags::SYN != 0 {
        tcp_options(b)
    } else {
        TcpOptions::default()
    }
}

/// Parse the TCP options connection analysis reports. Malformed option lists stop parsing
/// at the fault and keep what came before (option 27 and other unknown kinds are skipped by
/// their length byte).
pub fn tcp_options(mut b: &[u8]) -> TcpOptions {
    let mut o = TcpOptions::default();
    while let Some(&kind) = b.first() {
        match kind {
            0 => break,
            1 => {
                b = &b[1..];
                continue;
            }
            _ => {}
        }
        let Some(&len) = b.get(1) else { break };
        let len = usize::from(len);
        if len < 2 || len > b.len() {
            break;
        }
        let v = &b[2..len];
        match (kind, v.len()) {
            (2, 2) => o.mss = Some(u16::from_be_bytes([v[0], v[1]])),
            (3, 1) => o.wscale = Some(v[0]),
            (4, 0) => o.sack_permitted = true,
            _ => {}
        }
        b = &b[len..];
    }
    o
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// Decode `frame` with and without the fast path; the two must agree exactly.
    fn both(linktype: u32, frame: &[u8], origlen: u32) -> (String, String) {
        let fast = format!("{:?}", decode(linktype, frame, origlen, 7));
        GENERAL_ONLY.with(|g| g.set(true));
        let general = format!("{:?}", decode(linktype, frame, origlen, 7));
        GENERAL_ONLY.with(|g| g.set(false));
        (fast, general)
    }

    fn ipv4_tcp(
        ihl: u8,
        total_len: u16,
        frag: u16,
        proto: u8,
        tcp_opts: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let mut ip = vec![
            0x40 | ihl,
            0,
            0,
            0,
            0x12,
            0x34,
            0,
            0,
            64,
            proto,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        ip[2..4].copy_from_slice(&total_len.to_be_bytes());
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        // IP options (NOPs) up to the header length the IHL claims.
        ip.resize(usize::from(ihl.max(5)) * 4, 1);
        let doff = (20 + tcp_opts.len()) / 4;
        let mut tcp = vec![
            0x1f,
            0x90,
            0xc3,
            0x50,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            2,
            (doff as u8) << 4,
            0x18,
            0xff,
            0xff,
            0,
            0,
            0,
            0,
        ];
        tcp.extend_from_slice(tcp_opts);
        tcp.extend_from_slice(payload);
        ip.extend_from_slice(&tcp);
        ip
    }

    #[test]
    fn fast_path_agrees_with_general_decoding() {
        let opts: [&[u8]; 3] = [
            &[],
            &[1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6],
            &[2, 4, 5, 0xb4],
        ];
        let mut cases = 0;
        for ihl in [0u8, 4, 5, 6, 15] {
            for opt in opts {
                for plen in [0usize, 1, 100] {
                    let payload = vec![b'x'; plen];
                    let natural = (usize::from(ihl.max(5)) * 4 + 20 + opt.len() + plen) as u16;
                    for total in [0, 19, 20, natural - 1, natural, natural + 1, 65535] {
                        for frag in [0u16, 0x4000, 0x2000, 0x0001, 0x8000] {
                            for proto in [6u8, 17, 51] {
                                let ip = ipv4_tcp(ihl, total, frag, proto, opt, &payload);
                                let mut eth = vec![0u8; 12];
                                eth.extend_from_slice(&[0x08, 0x00]);
                                eth.extend_from_slice(&ip);
                                // Whole, Ethernet-padded, and cut by a snaplen.
                                let mut padded = eth.clone();
                                padded.extend_from_slice(&[0; 6]);
                                let cut = &eth[..eth.len().min(54)];
                                for (lt, frame, orig) in [
                                    (1u32, &eth[..], eth.len()),
                                    (1, &padded[..], padded.len()),
                                    (1, cut, eth.len()),
                                    (101, &ip[..], ip.len()),
                                ] {
                                    let (f, g) = both(lt, frame, orig as u32);
                                    assert_eq!(
                                        f, g,
                                        "ihl {ihl} total {total} frag {frag:#x} proto {proto} opts {opt:?} payload {plen} linktype {lt}"
                                    );
                                    cases += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(cases > 5000, "{cases}");
        // The fast path really ran (on the plain cases; not everything fell back).
        let hits = FAST_HITS.with(|n| n.get());
        assert!(hits > 200, "{hits}");
    }
}
