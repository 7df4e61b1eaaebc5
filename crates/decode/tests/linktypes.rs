//! Each link type against hand-assembled frames. The inner packet is written out byte by
//! byte from RFC 791 / RFC 8200 / RFC 9293 so the expected field values are independent of
//! the decoder (and of etherparse).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wirehouse_decode::{Decoded, Fate, decode};
use wirehouse_flow::{Addr, TcpOptions};

/// IPv4 10.0.0.1 -> 10.0.0.2, TCP 40000 -> 80, seq 0x01020304, ack 0x0a0b0c0d, flags
/// PSH|ACK, window 512, options MSS 1460 + NOP NOP + SACK-permitted... payload "GET /".
fn ipv4_tcp() -> Vec<u8> {
    ipv4_tcp_flags(0x18)
}

/// [`ipv4_tcp`] with other TCP flags.
fn ipv4_tcp_flags(flags: u8) -> Vec<u8> {
    let payload = b"GET /";
    let tcp_len = 20 + 8;
    let total = 20 + tcp_len + payload.len();
    let mut p = vec![
        0x45,
        0x00,
        (total >> 8) as u8,
        total as u8, // version 4, IHL 5, total length
        0x12,
        0x34,
        0x40,
        0x00, // id, DF
        64,
        6,
        0,
        0, // TTL, protocol TCP, checksum (unchecked)
        10,
        0,
        0,
        1, // source
        10,
        0,
        0,
        2, // destination
    ];
    p.extend_from_slice(&[
        0x9c, 0x40, 0x00, 0x50, // ports 40000 -> 80
        0x01, 0x02, 0x03, 0x04, // seq
        0x0a, 0x0b, 0x0c, 0x0d, // ack
        0x70, flags, 0x02, 0x00, // data offset 7 (28 bytes), flags, window 512
        0x00, 0x00, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x01, 0x01, 0x04, 0x02, // NOP NOP SACK-permitted
    ]);
    p.extend_from_slice(payload);
    p
}

fn ipv6_tcp_with_hop_by_hop() -> Vec<u8> {
    let mut tcp = vec![
        0x00, 0x50, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ]; // SYN 80 -> 40000, seq 1, header 20 bytes
    tcp.extend_from_slice(b"");
    let hbh = [6u8, 0, 1, 4, 0, 0, 0, 0]; // next header TCP, len 0 (8 bytes), PadN
    let plen = hbh.len() + tcp.len();
    let mut p = vec![
        0x60,
        0,
        0,
        0,
        (plen >> 8) as u8,
        plen as u8,
        0, /* hop-by-hop */
        64,
    ];
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&hbh);
    p.extend_from_slice(&tcp);
    p
}

fn eth(ethertype: u16, inner: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(inner);
    f
}

fn check_v4(d: Decoded<'_>) -> wirehouse_decode::TcpPacket<'_> {
    let Decoded::Tcp(t) = d else {
        panic!("expected TCP, got {d:?}")
    };
    assert_eq!(t.seg.src.addr, Addr::v4([10, 0, 0, 1]));
    assert_eq!(t.seg.dst.addr, Addr::v4([10, 0, 0, 2]));
    assert_eq!((t.seg.src.port, t.seg.dst.port), (40000, 80));
    assert_eq!(t.seg.seq, 0x01020304);
    assert_eq!(t.seg.ack, 0x0a0b0c0d);
    assert!(t.seg.flags.ack() && t.seg.flags.psh() && !t.seg.flags.syn());
    assert_eq!(t.seg.window, 512);
    // MSS and SACK-permitted mean something on a SYN only (RFC 9293 §3.7.1, RFC 2018 §2).
    assert_eq!(t.seg.options, TcpOptions::default());
    assert_eq!(t.seg.payload, b"GET /");
    assert_eq!(t.seg.wire_len, 5);
    t
}

fn len(f: &[u8]) -> u32 {
    f.len() as u32
}

#[test]
fn ethernet_plain() {
    let f = eth(0x0800, &ipv4_tcp());
    let t = check_v4(decode(1, &f, len(&f), 7));
    assert_eq!(t.seg.ts_ns, 7);
    assert_eq!(t.vlans.outer, 0);
}

#[test]
fn ethernet_qinq_tags_are_kept_outer_first() {
    let mut inner = vec![0x00, 0x64, 0x08, 0x00]; // C-tag VLAN 100, then IPv4
    inner.extend_from_slice(&ipv4_tcp());
    let mut tagged = vec![0x20, 0x0a, 0x81, 0x00]; // S-tag: PCP 1, VLAN 10, next 802.1Q
    tagged.extend_from_slice(&inner);
    let f = eth(0x88a8, &tagged);
    let t = check_v4(decode(1, &f, len(&f), 0));
    assert_eq!((t.vlans.outer, t.vlans.inner), (10, 100));
}

#[test]
fn ethernet_mpls_two_labels() {
    let mut m = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]; // label 16, label 32 bottom
    m.extend_from_slice(&ipv4_tcp());
    let f = eth(0x8847, &m);
    check_v4(decode(1, &f, len(&f), 0));
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut f = eth(0x0800, &ipv4_tcp());
    f.extend_from_slice(&[0; 6]); // Ethernet trailer/padding after the IP datagram
    check_v4(decode(1, &f, len(&f), 0));
}

#[test]
fn linux_sll_v1_and_v2() {
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ipv4_tcp());
    check_v4(decode(113, &sll, len(&sll), 0));
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&ipv4_tcp());
    check_v4(decode(276, &sll2, len(&sll2), 0));
}

#[test]
fn raw_ip_link_types() {
    let p = ipv4_tcp();
    for lt in [12, 14, 101, 228] {
        check_v4(decode(lt, &p, len(&p), 0));
    }
}

#[test]
fn bsd_null_both_byte_orders_and_loop() {
    for family in [[2u8, 0, 0, 0], [0, 0, 0, 2]] {
        let mut f = family.to_vec();
        f.extend_from_slice(&ipv4_tcp());
        check_v4(decode(0, &f, len(&f), 0));
    }
    let mut f = vec![0, 0, 0, 2];
    f.extend_from_slice(&ipv4_tcp());
    check_v4(decode(108, &f, len(&f), 0));
    // AF_INET6 as macOS writes it (30, little-endian).
    let mut f6 = vec![30, 0, 0, 0];
    f6.extend_from_slice(&ipv6_tcp_with_hop_by_hop());
    assert_eq!(decode(0, &f6, len(&f6), 0).fate(), Fate::Tcp);
}

#[test]
fn ppp_and_pppoe() {
    let mut f = vec![0xff, 0x03, 0x00, 0x21];
    f.extend_from_slice(&ipv4_tcp());
    check_v4(decode(9, &f, len(&f), 0));
    let mut s = vec![0x11, 0x00, 0x00, 0x01, 0x00, 0x30, 0x00, 0x21];
    s.extend_from_slice(&ipv4_tcp());
    let f = eth(0x8864, &s);
    check_v4(decode(1, &f, len(&f), 0));
}

#[test]
fn nflog_payload_tlv() {
    let ip = ipv4_tcp();
    let mut f = vec![2, 0, 0, 0]; // AF_INET, version 0, resource id 0
    f.extend_from_slice(&[8, 0, 1, 0, 0x08, 0x00, 3, 0]); // NFULA_PACKET_HDR (type 1), 8 bytes
    let tlv_len = (4 + ip.len()) as u16;
    f.extend_from_slice(&tlv_len.to_le_bytes());
    f.extend_from_slice(&9u16.to_le_bytes());
    f.extend_from_slice(&ip);
    check_v4(decode(239, &f, len(&f), 0));
}

#[test]
fn wifi_data_frame_with_radiotap() {
    let mut wifi = vec![0x08, 0x01, 0, 0]; // data frame, to-DS
    wifi.extend_from_slice(&[0; 20]); // duration, 3 addresses, sequence control: 24 bytes total
    wifi.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
    wifi.extend_from_slice(&ipv4_tcp());
    check_v4(decode(105, &wifi, len(&wifi), 0));
    let mut rt = vec![0, 0, 8, 0, 0, 0, 0, 0]; // radiotap v0, length 8, no fields
    rt.extend_from_slice(&wifi);
    check_v4(decode(127, &rt, len(&rt), 0));
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let p = ipv6_tcp_with_hop_by_hop();
    let Decoded::Tcp(t) = decode(229, &p, len(&p), 0) else {
        panic!()
    };
    assert_eq!(t.seg.src.port, 80);
    assert!(t.seg.flags.syn());
    assert_eq!(t.seg.src.addr.version(), 6);
}

#[test]
fn fates_for_non_tcp() {
    let arp = eth(0x0806, &[0; 28]);
    assert_eq!(decode(1, &arp, len(&arp), 0).fate(), Fate::NonIp);
    let mut udp = ipv4_tcp();
    udp[9] = 17;
    let f = eth(0x0800, &udp);
    assert_eq!(decode(1, &f, len(&f), 0).fate(), Fate::Udp);
    let mut icmp = ipv4_tcp();
    icmp[9] = 1;
    assert_eq!(decode(101, &icmp, len(&icmp), 0).fate(), Fate::OtherIp);
    assert_eq!(
        decode(147, &icmp, len(&icmp), 0).fate(),
        Fate::UnsupportedLinktype
    );
}

#[test]
fn options_are_read_on_syn_segments_only() {
    for (flags, parsed) in [(0x02, true), (0x12, true), (0x10, false), (0x11, false)] {
        let f = eth(0x0800, &ipv4_tcp_flags(flags));
        let Decoded::Tcp(t) = decode(1, &f, len(&f), 0) else {
            panic!("flags {flags:#x}: not TCP")
        };
        let want = if parsed {
            TcpOptions {
                mss: Some(1460),
                wscale: None,
                sack_permitted: true,
            }
        } else {
            TcpOptions::default()
        };
        assert_eq!(t.seg.options, want, "flags {flags:#x}");
    }
}

#[test]
fn snaplen_cuts_are_truncated_and_short_frames_malformed() {
    let f = eth(0x0800, &ipv4_tcp_flags(0x12));
    // Cut inside the IP header.
    assert_eq!(decode(1, &f[..24], len(&f), 0).fate(), Fate::Truncated);
    // Cut inside the TCP options: the fixed header is whole, so it is still a segment,
    // with the options that fit (MSS, the first four option bytes).
    let Decoded::Tcp(t) = decode(1, &f[..14 + 20 + 24], len(&f), 0) else {
        panic!()
    };
    assert_eq!(t.seg.seq, 0x01020304);
    assert_eq!(t.seg.options.mss, Some(1460));
    assert!(!t.seg.options.sack_permitted);
    assert_eq!(t.seg.wire_len, 5);
    // Cut inside the fixed TCP header.
    assert_eq!(
        decode(1, &f[..14 + 20 + 12], len(&f), 0).fate(),
        Fate::Truncated
    );
    // The same bytes with origlen == caplen: the packet itself is short, not cut.
    let short = &f[..14 + 20 + 24];
    assert_eq!(decode(1, short, len(short), 0).fate(), Fate::Malformed);
    // Cut inside the payload: still TCP, with the wire length preserved.
    let cut = &f[..f.len() - 2];
    let Decoded::Tcp(t) = decode(1, cut, len(&f), 0) else {
        panic!()
    };
    assert_eq!(t.seg.payload, b"GET");
    assert_eq!(t.seg.wire_len, 5);
    // A bad IHL is malformed.
    let mut bad = ipv4_tcp();
    bad[0] = 0x43;
    assert_eq!(decode(101, &bad, len(&bad), 0).fate(), Fate::Malformed);
    // Ethernet header itself cut short.
    assert_eq!(decode(1, &f[..10], len(&f), 0).fate(), Fate::Truncated);
}

#[test]
fn tso_frames_with_zero_ip_length_keep_their_payload() {
    let mut p = ipv4_tcp();
    p[2] = 0;
    p[3] = 0; // total length 0, as captured on the sending host with TSO
    p.extend_from_slice(&[b'x'; 60000]);
    let Decoded::Tcp(t) = decode(101, &p, len(&p), 0) else {
        panic!()
    };
    assert_eq!(t.seg.payload.len(), 5 + 60000);
    assert_eq!(t.seg.wire_len, 5 + 60000);
}

#[test]
fn ipv4_fragments_are_reported_for_reassembly() {
    let mut p = ipv4_tcp();
    p[6] = 0x20; // MF set, offset 0
    let Decoded::Fragment(fr) = decode(101, &p, len(&p), 0) else {
        panic!()
    };
    assert_eq!((fr.id, fr.proto, fr.offset, fr.more), (0x1234, 6, 0, true));
    assert_eq!(fr.data.len(), 28 + 5);
    assert_eq!(fr.fate(), Fate::Tcp);
    p[6] = 0x00;
    p[7] = 0x03; // offset 3 * 8 = 24, last fragment
    let Decoded::Fragment(fr) = decode(101, &p, len(&p), 0) else {
        panic!()
    };
    assert_eq!((fr.offset, fr.more), (24, false));
}

#[test]
fn garbage_never_panics() {
    let mut seed = 1u64;
    for n in 0..20_000 {
        let len = n % 200;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (seed >> 56) as u8
            })
            .collect();
        for lt in [0, 1, 9, 101, 105, 108, 113, 127, 239, 276] {
            let _ = decode(lt, &bytes, bytes.len() as u32 + (n as u32 % 3), 0).fate();
        }
    }
}
