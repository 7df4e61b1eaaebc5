//! Writing Ethernet/IPv4/IPv6/TCP packets into a classic pcap file.

use std::io::{self, Write};

/// One endpoint: MAC, IP (4 or 16 bytes), port.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Host {
    pub(crate) mac: [u8; 6],
    pub(crate) ip: [u8; 16],
    pub(crate) v6: bool,
    pub(crate) port: u16,
}

impl Host {
    pub(crate) fn ip_string(&self) -> String {
        if self.v6 {
            std::net::Ipv6Addr::from(self.ip).to_string()
        } else {
            std::net::Ipv4Addr::new(self.ip[0], self.ip[1], self.ip[2], self.ip[3]).to_string()
        }
    }
}

pub(crate) const SYN: u8 = 0x02;
pub(crate) const ACK: u8 = 0x10;
pub(crate) const FIN: u8 = 0x01;
pub(crate) const RST: u8 = 0x04;
pub(crate) const PSH: u8 = 0x08;

/// TCP options of a handshake packet: MSS 1460, SACK-permitted, timestamps, window scale 7.
const SYN_OPTIONS: [u8; 20] = [
    2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
];

pub(crate) struct PcapWriter<W: Write> {
    out: W,
    nanos: bool,
    /// Bytes written so far.
    pub(crate) bytes: u64,
    pub(crate) packets: u64,
    scratch: Vec<u8>,
}

impl<W: Write> PcapWriter<W> {
    pub(crate) fn new(mut out: W, nanos: bool) -> io::Result<PcapWriter<W>> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&magic.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            nanos,
            bytes: 24,
            packets: 0,
            scratch: Vec::with_capacity(70_000),
        })
    }

    /// Write one TCP packet. `payload` is (head bytes, filler length): the filler is a fixed
    /// pattern, so bodies cost no random generation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tcp(
        &mut self,
        ts_ns: i64,
        src: &Host,
        dst: &Host,
        seq: u32,
        ack: u32,
        flags: u8,
        head: &[u8],
        filler: usize,
    ) -> io::Result<()> {
        const FILL: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/";
        let opts: &[u8] = if flags & SYN != 0 { &SYN_OPTIONS } else { &[] };
        let tcp_len = 20 + opts.len();
        let payload_len = head.len() + filler;
        let b = &mut self.scratch;
        b.clear();
        b.extend_from_slice(&dst.mac);
        b.extend_from_slice(&src.mac);
        if src.v6 {
            b.extend_from_slice(&[0x86, 0xdd]);
            let plen = (tcp_len + payload_len) as u16;
            b.extend_from_slice(&[0x60, 0, 0, 0]);
            b.extend_from_slice(&plen.to_be_bytes());
            b.extend_from_slice(&[6, 64]);
            b.extend_from_slice(&src.ip);
            b.extend_from_slice(&dst.ip);
        } else {
            b.extend_from_slice(&[0x08, 0x00]);
            let total = (20 + tcp_len + payload_len) as u16;
            let start = b.len();
            b.extend_from_slice(&[0x45, 0]);
            b.extend_from_slice(&total.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
            b.extend_from_slice(&src.ip[..4]);
            b.extend_from_slice(&dst.ip[..4]);
            let sum = ipv4_checksum(&b[start..start + 20]);
            b[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
        }
        b.extend_from_slice(&src.port.to_be_bytes());
        b.extend_from_slice(&dst.port.to_be_bytes());
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        b.push(((tcp_len / 4) as u8) << 4);
        b.push(flags);
        b.extend_from_slice(&65_000u16.to_be_bytes());
        // Checksum left 0: captures taken on the sending host carry unchecked checksums
        // (offload), and no analyzer here verifies them.
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(opts);
        b.extend_from_slice(head);
        let mut left = filler;
        while left > 0 {
            let n = left.min(FILL.len());
            b.extend_from_slice(&FILL[..n]);
            left -= n;
        }
        let len = b.len() as u32;
        let sec = ts_ns.div_euclid(1_000_000_000) as u32;
        let sub = ts_ns.rem_euclid(1_000_000_000) as u32;
        let frac = if self.nanos { sub } else { sub / 1000 };
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&sec.to_le_bytes());
        rec[4..8].copy_from_slice(&frac.to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(b)?;
        self.bytes += 16 + u64::from(len);
        self.packets += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// RFC 791 header checksum.
pub(crate) fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    #[test]
    fn checksum_of_rfc1071_example_header() {
        // A well-known IPv4 header whose checksum is 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(super::ipv4_checksum(&h), 0xb861);
    }
}
