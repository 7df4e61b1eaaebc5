//! Plain data types shared by the pipeline stages, and the flow key that shards them.
//!
//! Everything here is `Copy` or borrows from the capture: a [`Segment`] is a view of one
//! decoded TCP packet whose payload is a slice of the memory-mapped capture. Stages
//! downstream of decode (sharding, TCP reassembly, protocol analysis) speak only these types,
//! so none of them needs to know which link type or capture format a packet came from.
//!
//! The [`FlowKey`] is direction independent: both directions of a connection produce the
//! same key and the same [`FlowKey::shard_hash`], which is what lets the engine send every
//! packet of a connection to one shard, in capture order.
#![deny(missing_docs)]

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address stored inline (IPv4 mapped into the first four bytes) so that keys are
/// `Copy`, hash fast and compare without branching on the version.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Addr {
    bytes: [u8; 16],
    v6: bool,
}

impl Addr {
    /// An IPv4 address.
    pub fn v4(octets: [u8; 4]) -> Addr {
        // Built as one 128-bit value, stored as two 8-byte words. Built byte-wise it is
        // stored as 4 + 8 + 4 bytes, and the 8-byte reads that follow at once (ordering and
        // hashing the flow key) straddle two of those stores: such a load is not forwarded
        // from the store buffer and waits for the cache, a few percent of the whole run.
        let bytes = u128::from(u32::from_le_bytes(octets)).to_le_bytes();
        Addr { bytes, v6: false }
    }

    /// An IPv4 address, usable in constants.
    pub const fn v4_const(o: [u8; 4]) -> Addr {
        Addr {
            bytes: [o[0], o[1], o[2], o[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            v6: false,
        }
    }

    /// An IPv6 address.
    pub fn v6(octets: [u8; 16]) -> Addr {
        Addr {
            bytes: octets,
            v6: true,
        }
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        if self.v6 { 6 } else { 4 }
    }

    /// The address as the standard library type.
    pub fn to_ip(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(self.bytes))
        } else {
            IpAddr::V4(Ipv4Addr::new(
                self.bytes[0],
                self.bytes[1],
                self.bytes[2],
                self.bytes[3],
            ))
        }
    }

    /// The significant bytes: 4 for IPv4, 16 for IPv6.
    pub fn octets(&self) -> &[u8] {
        if self.v6 {
            &self.bytes
        } else {
            &self.bytes[..4]
        }
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(a) => Addr::v4(a.octets()),
            IpAddr::V6(a) => Addr::v6(a.octets()),
        }
    }
}

impl Addr {
    /// The address as text, as `Display` writes it, for table rows.
    ///
    /// Every connection and HTTP row carries two addresses as text; going through
    /// `to_string` (a `Formatter`, padding support and a growing `String`) cost about 200
    /// instructions per IPv4 address more than writing the digits into a sized string.
    pub fn to_text(&self) -> String {
        if self.v6 {
            return self.to_ip().to_string();
        }
        let (buf, n) = self.v4_digits();
        std::str::from_utf8(&buf[..n]).map_or_else(|_| String::new(), str::to_owned)
    }

    /// Dotted-quad digits of an IPv4 address, and how many bytes of the buffer they fill.
    ///
    /// The standard formatter (padding and width support through a generic path) cost about
    /// a thousand instructions per IPv4 address, as much as decoding a packet; dividing each
    /// octet into digits still cost a hundred, so each octet's text is looked up.
    fn v4_digits(&self) -> ([u8; 15], usize) {
        let mut buf = [0u8; 15];
        let mut n = 0;
        for (i, &octet) in self.bytes[..4].iter().enumerate() {
            if i > 0 {
                buf[n] = b'.';
                n += 1;
            }
            // All three digit bytes are stored (a fixed-size store, where copying `len` bytes
            // is a call); those past `len` are overwritten next or lie past the end. At most
            // 12 bytes come before the last octet, so the three always fit.
            let [len, digits @ ..] = OCTET_TEXT[usize::from(octet)];
            if let Some(at) = buf.get_mut(n..n + 3) {
                at.copy_from_slice(&digits);
            }
            n += usize::from(len);
        }
        (buf, n)
    }
}

/// Each octet's decimal text: its length, then up to three digits.
const OCTET_TEXT: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut v = 0;
    while v < 256 {
        let (h, d, u) = ((v / 100) as u8, (v / 10 % 10) as u8, (v % 10) as u8);
        t[v] = if v >= 100 {
            [3, b'0' + h, b'0' + d, b'0' + u]
        } else if v >= 10 {
            [2, b'0' + d, b'0' + u, 0]
        } else {
            [1, b'0' + u, 0, 0]
        };
        v += 1;
    }
    t
};

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v6 {
            return self.to_ip().fmt(f);
        }
        let (buf, n) = self.v4_digits();
        // The bytes are ASCII digits and dots.
        f.pad(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_ip().fmt(f)
    }
}

/// One side of a connection.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Endpoint {
    /// IP address.
    pub addr: Addr,
    /// TCP or UDP port.
    pub port: u16,
}

impl Endpoint {
    /// An endpoint from its parts.
    pub fn new(addr: Addr, port: u16) -> Endpoint {
        Endpoint { addr, port }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.addr.v6 {
            write!(f, "[{}]:{}", self.addr, self.port)
        } else {
            write!(f, "{}:{}", self.addr, self.port)
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// VLAN tags of a packet, outermost first; 0 means untagged. Part of the flow key because the
/// same address pair on two VLANs is two different conversations (Zeek does the same).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Vlans {
    /// Outer tag (802.1Q, or the 802.1ad service tag).
    pub outer: u16,
    /// Inner tag of a QinQ packet.
    pub inner: u16,
}

/// Direction-independent identity of a transport conversation.
///
/// The two endpoints are stored in a canonical order (the smaller first), so a packet and its
/// reply produce equal keys.
#[derive(Clone, Copy, Eq, PartialOrd, Ord, Debug)]
pub struct FlowKey {
    /// The smaller endpoint.
    pub lo: Endpoint,
    /// The larger endpoint.
    pub hi: Endpoint,
    /// VLAN tags.
    pub vlans: Vlans,
}

/// Seeds for the shard hash. Fixed, so that a flow's shard does not change between runs (the
/// row set would not change either way, but fixed placement makes profiles reproducible).
const SHARD_SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Hashed as three words (each address as one `u128`, ports, VLANs and versions packed in a
/// `u64`) rather than field by field: the key is hashed twice per packet (shard choice and the
/// shard's connection map), and the derived impl's dozen small writes cost more than the
/// lookups themselves.
impl Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_ne_bytes(self.lo.addr.bytes));
        state.write_u128(u128::from_ne_bytes(self.hi.addr.bytes));
        state.write_u64(
            (self.lo.port as u64)
                | (self.hi.port as u64) << 16
                | (self.vlans.outer as u64) << 32
                | ((self.vlans.inner & 0x3fff) as u64) << 46
                | (self.lo.addr.v6 as u64) << 62
                | (self.hi.addr.v6 as u64) << 63,
        );
    }
}

/// Compared as the hash reads it (each address as one `u128`, then ports and VLANs as one
/// `u64`), equal exactly when every field is. The derived comparison went field by field:
/// ten compares and branches in the connection lookup every packet makes, about 1 % of a run.
impl PartialEq for FlowKey {
    #[inline]
    fn eq(&self, other: &FlowKey) -> bool {
        let words = |k: &FlowKey| {
            (
                u128::from_ne_bytes(k.lo.addr.bytes),
                u128::from_ne_bytes(k.hi.addr.bytes),
                (k.lo.port as u64)
                    | (k.hi.port as u64) << 16
                    | (k.vlans.outer as u64) << 32
                    | (k.vlans.inner as u64) << 48,
                (k.lo.addr.v6 as u8) | (k.hi.addr.v6 as u8) << 1,
            )
        };
        words(self) == words(other)
    }
}

impl Endpoint {
    /// `Endpoint`'s derived order as one comparable value (the address bytes compared
    /// lexicographically are the big-endian integer); a byte-wise slice comparison per packet
    /// showed up in profiles.
    #[inline]
    fn order_key(&self) -> (u128, bool, u16) {
        (
            u128::from_be_bytes(self.addr.bytes),
            self.addr.v6,
            self.port,
        )
    }
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`.
    #[inline]
    pub fn new(src: Endpoint, dst: Endpoint, vlans: Vlans) -> FlowKey {
        FlowKey::oriented(src, dst, vlans).0
    }

    /// The key of a packet from `src` to `dst`, and whether `src` is its [`FlowKey::lo`]: the
    /// two endpoints are then [`FlowKey::src`] and [`FlowKey::dst`] of that flag, so a packet
    /// waiting in a queue can carry its canonical key instead of both endpoints and the
    /// key is not ordered a second time where it is looked up.
    #[inline]
    pub fn oriented(src: Endpoint, dst: Endpoint, vlans: Vlans) -> (FlowKey, bool) {
        let src_is_lo = src.order_key() <= dst.order_key();
        let (lo, hi) = if src_is_lo { (src, dst) } else { (dst, src) };
        (FlowKey { lo, hi, vlans }, src_is_lo)
    }

    /// The sender of a packet whose [`FlowKey::oriented`] flag is `src_is_lo`.
    #[inline]
    pub fn src(&self, src_is_lo: bool) -> Endpoint {
        if src_is_lo { self.lo } else { self.hi }
    }

    /// The receiver of a packet whose [`FlowKey::oriented`] flag is `src_is_lo`.
    #[inline]
    pub fn dst(&self, src_is_lo: bool) -> Endpoint {
        if src_is_lo { self.hi } else { self.lo }
    }

    /// A hash equal for both directions, used to pick the shard and, mixed once more, by the
    /// shard's connection table, so a packet's key is hashed once. Fixed seeds keep placement
    /// reproducible from run to run.
    pub fn shard_hash(&self) -> u64 {
        let state = ahash::RandomState::with_seeds(
            SHARD_SEEDS[0],
            SHARD_SEEDS[1],
            SHARD_SEEDS[2],
            SHARD_SEEDS[3],
        );
        state.hash_one(self)
    }

    /// The shard (of `shards`) that owns this flow.
    pub fn shard(&self, shards: usize) -> usize {
        shard_index(self.shard_hash(), shards)
    }
}

/// The shard (of `shards`) owning the flow whose [`FlowKey::shard_hash`] is `flow_hash`.
#[inline]
pub fn shard_index(flow_hash: u64, shards: usize) -> usize {
    // Multiply-shift instead of modulo: uniform for any shard count, and cheap. It takes the
    // hash's top bits, which a table keyed by the same hash must not rely on.
    ((u128::from(flow_hash) * shards as u128) >> 64) as usize
}

/// The TCP flags that matter to connection tracking.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN: the sender has no more data.
    pub const FIN: u8 = 0x01;
    /// SYN: synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// RST: reset the connection.
    pub const RST: u8 = 0x04;
    /// PSH: push.
    pub const PSH: u8 = 0x08;
    /// ACK: the acknowledgment number is valid.
    pub const ACK: u8 = 0x10;
    /// URG: the urgent pointer is valid.
    pub const URG: u8 = 0x20;
    /// ECE: ECN echo.
    pub const ECE: u8 = 0x40;
    /// CWR: congestion window reduced.
    pub const CWR: u8 = 0x80;

    /// FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// PSH is set.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    /// ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    /// URG is set.
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u8, char); 8] = [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::ACK, '.'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
        ];
        for (bit, c) in NAMES {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// The TCP options a SYN or SYN/ACK negotiates, the ones connection analysis reports.
///
/// Decode parses them only on segments with SYN set: these options mean nothing elsewhere
/// (RFC 9293 §3.7.1, RFC 7323 §2.2, RFC 2018 §2), and the options of every other segment
/// (timestamps, SACK blocks) were parsed for nobody, about 40 instructions a packet.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct TcpOptions {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window scale shift count.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
}

/// One decoded TCP packet, as the TCP state machine consumes it.
///
/// `payload` borrows the capture. When the packet was cut by the capture's snaplen,
/// `payload.len() < wire_len`; the state machine advances sequence space by `wire_len` and
/// reports the uncaptured bytes as missing.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch (UTC).
    pub ts_ns: i64,
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when the ACK flag is set).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Advertised window, unscaled.
    pub window: u16,
    /// Parsed options.
    pub options: TcpOptions,
    /// The captured part of the payload.
    pub payload: &'a [u8],
    /// Payload length on the wire, from the IP length fields.
    pub wire_len: u32,
}

impl Segment<'_> {
    /// Sequence space this segment occupies: payload plus one for SYN and one for FIN.
    pub fn seq_len(&self) -> u32 {
        self.wire_len + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

/// Which way bytes travel on a connection. The client is the side that sent the SYN (or, for
/// a connection picked up mid-stream, the side the heuristics chose); Zeek calls it the
/// originator.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Dir {
    /// Client to server (Zeek's "orig").
    ToServer,
    /// Server to client (Zeek's "resp").
    ToClient,
}

impl Dir {
    /// The other direction.
    pub fn flip(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }

    /// 0 for client to server, 1 for server to client: an index for per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }
}

/// Stable 64-bit identifier for a connection, derived from the capture file name and the byte
/// offset of the connection's first packet. Stable across runs, thread counts and machines,
/// which `ahash` is not (its output depends on CPU features), hence FNV-1a plus a final mix.
pub fn content_id(file: &str, offset: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in file.bytes().chain(offset.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finaliser: spreads the low-entropy offset over all bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    // Keep it positive as an Int64 column: DuckDB and pandas users join on it.
    h & (i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint::new(Addr::v4(a), port)
    }

    #[test]
    fn ipv4_text_matches_the_standard_library() {
        // Every value of one octet in every position, and widths/alignment as `{:>16}`.
        for v in 0..=255u8 {
            for pos in 0..4 {
                let mut o = [1, 20, 255, 0];
                o[pos] = v;
                let ours = Addr::v4(o);
                let std_ip = std::net::Ipv4Addr::from(o);
                assert_eq!(ours.to_string(), std_ip.to_string());
                assert_eq!(ours.to_text(), std_ip.to_string());
                assert_eq!(
                    format!("{ours:>16}|{ours:<16}|"),
                    format!("{std_ip:>16}|{std_ip:<16}|")
                );
            }
        }
        let v6 = Addr::v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(v6.to_string(), "2001:db8::1");
        assert_eq!(v6.to_text(), "2001:db8::1");
    }

    #[test]
    fn key_orders_endpoints_as_their_derived_order() {
        // The fast comparison in `FlowKey::new` must pick the same `lo` as `Ord` would.
        let addrs = [
            Addr::v4([10, 0, 0, 1]),
            Addr::v4([10, 0, 0, 2]),
            Addr::v4([9, 255, 255, 255]),
            Addr::v4([200, 0, 0, 1]),
            Addr::v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Addr::v6([0; 16]),
            Addr::v6([10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for a in addrs {
            for b in addrs {
                for (pa, pb) in [(80, 80), (80, 40000), (40000, 80), (1, 65535)] {
                    let (x, y) = (Endpoint::new(a, pa), Endpoint::new(b, pb));
                    let k = FlowKey::new(x, y, Vlans::default());
                    assert_eq!(k.lo, x.min(y), "{x} {y}");
                    assert_eq!(k.hi, x.max(y), "{x} {y}");
                }
            }
        }
    }

    /// Keys are equal exactly when every field is: each field changed alone, including the
    /// address family of otherwise equal bytes and every bit of both VLAN tags, makes a
    /// different key; the two directions of a packet make the same one.
    #[test]
    fn flow_keys_are_equal_only_when_every_field_is() {
        let (a, b) = (ep([10, 0, 0, 1], 40000), ep([10, 0, 0, 2], 80));
        let vl = Vlans {
            outer: 100,
            inner: 0xc123,
        };
        let base = FlowKey::new(a, b, vl);
        assert_eq!(base, FlowKey::new(b, a, vl));
        let (key, a_is_lo) = FlowKey::oriented(b, a, vl);
        assert_eq!(key, base);
        assert!(!a_is_lo);
        assert_eq!((key.src(a_is_lo), key.dst(a_is_lo)), (b, a));
        let mut v6_bytes = [0u8; 16];
        v6_bytes[..4].copy_from_slice(&[10, 0, 0, 1]);
        let v6 = Endpoint::new(Addr::v6(v6_bytes), 40000);
        let others = [
            FlowKey::new(v6, b, vl),
            FlowKey::new(ep([10, 0, 0, 3], 40000), b, vl),
            FlowKey::new(ep([10, 0, 0, 1], 40001), b, vl),
            FlowKey::new(a, ep([10, 0, 0, 2], 81), vl),
            FlowKey::new(a, b, Vlans { outer: 101, ..vl }),
            FlowKey::new(
                a,
                b,
                Vlans {
                    inner: 0x4123,
                    ..vl
                },
            ),
            FlowKey::new(
                a,
                b,
                Vlans {
                    inner: 0xc122,
                    ..vl
                },
            ),
        ];
        for (i, k) in others.iter().enumerate() {
            assert_ne!(*k, base, "{i}");
            assert_eq!(*k, *k);
        }
    }

    #[test]
    fn shard_hash_spreads_flows_evenly() {
        // 64k client ports to one server over 64 shards: each gets about 1024.
        let s = ep([10, 0, 0, 2], 80);
        let mut counts = [0u32; 64];
        for port in 0..=u16::MAX {
            counts[FlowKey::new(ep([10, 0, 0, 1], port), s, Vlans::default()).shard(64)] += 1;
        }
        let min = counts.iter().fold(u32::MAX, |m, &c| m.min(c));
        let max = counts.iter().fold(0, |m, &c| m.max(c));
        assert!(min > 850 && max < 1200, "{min}..{max}");
    }

    #[test]
    fn key_is_direction_independent() {
        let c = ep([10, 0, 0, 1], 40000);
        let s = ep([10, 0, 0, 2], 80);
        let k1 = FlowKey::new(c, s, Vlans::default());
        let k2 = FlowKey::new(s, c, Vlans::default());
        assert_eq!(k1, k2);
        assert_eq!(k1.shard_hash(), k2.shard_hash());
        assert_eq!(k1.shard(256), k2.shard(256));
    }

    #[test]
    fn vlan_separates_flows() {
        let c = ep([10, 0, 0, 1], 40000);
        let s = ep([10, 0, 0, 2], 80);
        let k1 = FlowKey::new(
            c,
            s,
            Vlans {
                outer: 10,
                inner: 0,
            },
        );
        let k2 = FlowKey::new(
            c,
            s,
            Vlans {
                outer: 20,
                inner: 0,
            },
        );
        assert_ne!(k1, k2);
    }

    #[test]
    fn shards_spread() {
        let s = ep([10, 0, 0, 2], 80);
        let mut counts = [0usize; 16];
        for port in 1024..(1024 + 16 * 1000) {
            let k = FlowKey::new(ep([10, 0, 0, 1], port), s, Vlans::default());
            counts[k.shard(16)] += 1;
        }
        // Each shard should get close to 1000 of 16000 flows.
        for c in counts {
            assert!((700..1300).contains(&c), "uneven shard spread: {counts:?}");
        }
    }

    #[test]
    fn content_id_is_stable_and_distinct() {
        // Pinned value: conn_id must not change between releases or machines.
        assert_eq!(content_id("a.pcap", 24), content_id("a.pcap", 24));
        assert_ne!(content_id("a.pcap", 24), content_id("a.pcap", 25));
        assert_ne!(content_id("a.pcap", 24), content_id("b.pcap", 24));
        assert!(content_id("x", u64::MAX) <= i64::MAX as u64);
    }

    #[test]
    fn seq_len_counts_syn_and_fin() {
        let seg = Segment {
            ts_ns: 0,
            src: ep([1, 1, 1, 1], 1),
            dst: ep([2, 2, 2, 2], 2),
            seq: 0,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN | TcpFlags::FIN),
            window: 0,
            options: TcpOptions::default(),
            payload: b"abc",
            wire_len: 5,
        };
        assert_eq!(seg.seq_len(), 7);
    }
}
