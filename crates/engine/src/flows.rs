//! `wirehouse flows`: each direction's reassembled bytes written to a file named as tcpflow
//! names them (`172.017.012.012.53284-010.011.012.234.00080`), or printed (`-c`).
//!
//! Bytes are written at their stream offsets, so bytes the capture missed become holes
//! (zeros), and a missing tail leaves the file short, as with tcpflow. Writes are batched per
//! direction so thousands of concurrent connections do not need thousands of open files.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use wirehouse_flow::{Dir, Endpoint};

/// Where `flows` output goes.
#[derive(Debug)]
pub enum FlowsOut {
    /// One file per direction in this directory.
    Dir(PathBuf),
    /// Printed to standard output, tcpflow -c style (engine runs with one thread then).
    Console(Mutex<std::io::Stdout>),
}

/// tcpflow's name for one direction: zero-padded IPv4 octets and ports; IPv6 in its usual
/// text form; a `c<N>` suffix for the N-th reuse of the same address/port pair.
pub(crate) fn flow_name(src: Endpoint, dst: Endpoint, reuse: u32, vlan: u16) -> String {
    let ep = |e: Endpoint| {
        let ip = match e.addr.to_ip() {
            std::net::IpAddr::V4(a) => {
                let o = a.octets();
                format!("{:03}.{:03}.{:03}.{:03}", o[0], o[1], o[2], o[3])
            }
            std::net::IpAddr::V6(a) => a.to_string(),
        };
        format!("{ip}.{:05}", e.port)
    };
    let mut name = format!("{}-{}", ep(src), ep(dst));
    if vlan != 0 {
        name.push_str(&format!("--{vlan}"));
    }
    if reuse > 0 {
        name.push_str(&format!("c{reuse}"));
    }
    name
}

const FLUSH_AT: usize = 1 << 20;

#[derive(Debug, Default)]
struct DirFile {
    name: String,
    /// Stream offset of `buf[0]`.
    buf_at: u64,
    buf: Vec<u8>,
    /// Next stream offset.
    pos: u64,
    wrote: bool,
}

/// The two directions of one connection.
#[derive(Debug)]
pub(crate) struct FlowWriter {
    files: [DirFile; 2],
    reuse: u32,
    vlan: u16,
}

impl FlowWriter {
    /// A writer for the `reuse`-th connection of its address/port pair. File names are
    /// fixed at each direction's first bytes, from the sender and receiver as known then
    /// (the client/server roles can still flip during the handshake).
    pub(crate) fn new(reuse: u32, vlan: u16) -> FlowWriter {
        FlowWriter {
            files: [DirFile::default(), DirFile::default()],
            reuse,
            vlan,
        }
    }

    fn file(&mut self, dir: Dir, client: Endpoint, server: Endpoint) -> &mut DirFile {
        let (reuse, vlan) = (self.reuse, self.vlan);
        let f = &mut self.files[dir.index()];
        if f.name.is_empty() {
            f.name = match dir {
                Dir::ToServer => flow_name(client, server, reuse, vlan),
                Dir::ToClient => flow_name(server, client, reuse, vlan),
            };
        }
        f
    }

    pub(crate) fn data(
        &mut self,
        out: &FlowsOut,
        dir: Dir,
        ends: (Endpoint, Endpoint),
        data: &[u8],
    ) {
        let f = self.file(dir, ends.0, ends.1);
        if let FlowsOut::Console(stdout) = out {
            let mut o = stdout.lock().unwrap_or_else(|p| p.into_inner());
            let _ = write!(o, "{}: ", f.name);
            let _ = o.write_all(data);
            let _ = writeln!(o);
            return;
        }
        if f.buf.is_empty() {
            f.buf_at = f.pos;
        }
        f.buf.extend_from_slice(data);
        f.pos += data.len() as u64;
        if f.buf.len() >= FLUSH_AT {
            flush(out, f);
        }
    }

    /// `len` bytes the capture missed. Before the first captured byte of a sender whose SYN
    /// was not seen (a connection picked up mid-stream), there is nothing to place them
    /// after: the file starts at the first captured byte, as tcpflow's does.
    pub(crate) fn gap(
        &mut self,
        out: &FlowsOut,
        dir: Dir,
        ends: (Endpoint, Endpoint),
        len: u64,
        syn_seen: bool,
    ) {
        let f = self.file(dir, ends.0, ends.1);
        if !syn_seen && f.pos == 0 && f.buf.is_empty() && !f.wrote {
            return;
        }
        flush(out, f);
        f.pos += len;
    }

    pub(crate) fn finish(&mut self, out: &FlowsOut) {
        for f in &mut self.files {
            flush(out, f);
        }
    }
}

fn flush(out: &FlowsOut, f: &mut DirFile) {
    let FlowsOut::Dir(dir) = out else { return };
    if f.buf.is_empty() {
        return;
    }
    if let Err(e) = write_at(&dir.join(&f.name), f.buf_at, &f.buf, !f.wrote) {
        eprintln!("warning: {}: {e}", dir.join(&f.name).display());
    }
    f.wrote = true;
    f.buf.clear();
}

fn write_at(path: &Path, at: u64, data: &[u8], create: bool) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(create)
        .open(path)?;
    file.seek(SeekFrom::Start(at))?;
    file.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirehouse_flow::Addr;

    #[test]
    fn names_like_tcpflow() {
        let a = Endpoint::new(Addr::v4([172, 17, 12, 12]), 53284);
        let b = Endpoint::new(Addr::v4([10, 11, 12, 234]), 80);
        assert_eq!(
            flow_name(a, b, 0, 0),
            "172.017.012.012.53284-010.011.012.234.00080"
        );
        assert_eq!(
            flow_name(b, a, 2, 0),
            "010.011.012.234.00080-172.017.012.012.53284c2"
        );
        let v6 = Endpoint::new(
            Addr::v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            18080,
        );
        assert_eq!(flow_name(v6, v6, 0, 0), "::1.18080-::1.18080");
    }
}
