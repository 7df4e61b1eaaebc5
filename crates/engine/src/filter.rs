//! `--filter`: the subset of tcpdump's filter language people type for TCP analysis.
//!
//! Primitives: `host A`, `net A/LEN` (or `net A mask M`), `port N`, `portrange N-M`, each
//! optionally qualified by `src`, `dst`, `src or dst`, `src and dst`; `tcp`, `ip`, `ip6`.
//! Combinators: `and`/`&&`, `or`/`||`, `not`/`!`, parentheses. As in tcpdump, a bare value
//! after `and`/`or` repeats the previous qualifiers: `host 10.0.0.1 or 10.0.0.2`.
//! Filters apply per packet, as tcpdump's do: `src host X` keeps only X's side of a
//! conversation, so use `host X` to keep whole connections.

use std::net::IpAddr;

use wirehouse_flow::Endpoint;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterExpr {
    /// Both sides must match.
    And(Box<FilterExpr>, Box<FilterExpr>),
    /// Either side.
    Or(Box<FilterExpr>, Box<FilterExpr>),
    /// Negation.
    Not(Box<FilterExpr>),
    /// A primitive test.
    Test(Dir, Test),
    /// Always true (`tcp`: every packet analysed is TCP).
    True,
    /// IP version (`ip`, `ip6`).
    Version(u8),
}

/// Which address/port of the packet a primitive looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Source.
    Src,
    /// Destination.
    Dst,
    /// Either (the default).
    Either,
    /// Both.
    Both,
}

/// What a primitive compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// Address equality.
    Host(IpAddr),
    /// Address within a prefix.
    Net(IpAddr, u8),
    /// Port range, inclusive.
    Port(u16, u16),
}

impl FilterExpr {
    /// Does a packet from `src` to `dst` match?
    pub fn matches(&self, src: &Endpoint, dst: &Endpoint) -> bool {
        match self {
            FilterExpr::And(a, b) => a.matches(src, dst) && b.matches(src, dst),
            FilterExpr::Or(a, b) => a.matches(src, dst) || b.matches(src, dst),
            FilterExpr::Not(a) => !a.matches(src, dst),
            FilterExpr::True => true,
            FilterExpr::Version(v) => src.addr.version() == *v,
            FilterExpr::Test(dir, t) => {
                let one = |e: &Endpoint| t.matches(e);
                match dir {
                    Dir::Src => one(src),
                    Dir::Dst => one(dst),
                    Dir::Either => one(src) || one(dst),
                    Dir::Both => one(src) && one(dst),
                }
            }
        }
    }
}

impl Test {
    fn matches(&self, e: &Endpoint) -> bool {
        match self {
            Test::Host(ip) => e.addr.to_ip() == *ip,
            Test::Net(net, len) => in_prefix(e.addr.to_ip(), *net, *len),
            Test::Port(lo, hi) => (*lo..=*hi).contains(&e.port),
        }
    }
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Parse a filter expression. The error names the offending word.
pub fn parse(text: &str) -> Result<FilterExpr, String> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Err("empty filter".into());
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        last: (Dir::Either, Kind::Host),
    };
    let e = p.or()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(format!("unexpected '{t}' in filter"));
    }
    Ok(e)
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' | ')' | '!' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            '&' | '|' if chars.peek() == Some(&c) => {
                chars.next();
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(if c == '&' { "and".into() } else { "or".into() });
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Host,
    Net,
    Port,
    PortRange,
}

struct Parser {
    tokens: Vec<String>,
    pos: usize,
    /// Qualifiers of the last primitive, for tcpdump's `host a or b` shorthand.
    last: (Dir, Kind),
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<FilterExpr, String> {
        let mut e = self.and()?;
        while self.peek() == Some("or") {
            self.pos += 1;
            e = FilterExpr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<FilterExpr, String> {
        let mut e = self.unary()?;
        while self.peek() == Some("and") {
            self.pos += 1;
            e = FilterExpr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<FilterExpr, String> {
        match self.peek() {
            Some("not") | Some("!") => {
                self.pos += 1;
                Ok(FilterExpr::Not(Box::new(self.unary()?)))
            }
            Some("(") => {
                self.pos += 1;
                let e = self.or()?;
                if self.next().as_deref() != Some(")") {
                    return Err("missing ')' in filter".into());
                }
                Ok(e)
            }
            Some(_) => self.primitive(),
            None => Err("filter ends where a test was expected".into()),
        }
    }

    fn primitive(&mut self) -> Result<FilterExpr, String> {
        match self.peek() {
            Some("tcp") => {
                self.pos += 1;
                return Ok(FilterExpr::True);
            }
            Some("ip") => {
                self.pos += 1;
                return Ok(FilterExpr::Version(4));
            }
            Some("ip6") => {
                self.pos += 1;
                return Ok(FilterExpr::Version(6));
            }
            _ => {}
        }
        let mut dir = None;
        if let Some(d @ ("src" | "dst")) = self.peek() {
            let first = if d == "src" { Dir::Src } else { Dir::Dst };
            self.pos += 1;
            // "src or dst" / "src and dst" are single qualifiers in tcpdump.
            let combined = match (
                self.peek(),
                self.tokens.get(self.pos + 1).map(String::as_str),
            ) {
                (Some("or"), Some("src" | "dst")) => Some(Dir::Either),
                (Some("and"), Some("src" | "dst")) => Some(Dir::Both),
                _ => None,
            };
            if let Some(c) = combined {
                self.pos += 2;
                dir = Some(c);
            } else {
                dir = Some(first);
            }
        }
        let kind = match self.peek() {
            Some("host") => Some(Kind::Host),
            Some("net") => Some(Kind::Net),
            Some("port") => Some(Kind::Port),
            Some("portrange") => Some(Kind::PortRange),
            _ => None,
        };
        if kind.is_some() {
            self.pos += 1;
        }
        let (dir, kind) = match (dir, kind) {
            (None, None) => self.last, // bare value: repeat the previous qualifiers
            (d, k) => (d.unwrap_or(Dir::Either), k.unwrap_or(Kind::Host)),
        };
        let value = self
            .next()
            .ok_or_else(|| "filter ends where a value was expected".to_string())?;
        self.last = (dir, kind);
        let test = match kind {
            Kind::Host => Test::Host(
                value
                    .parse()
                    .map_err(|_| format!("'{value}' is not an IP address"))?,
            ),
            Kind::Net => self.net(&value)?,
            Kind::Port => {
                let p = port(&value)?;
                Test::Port(p, p)
            }
            Kind::PortRange => {
                let (a, b) = value
                    .split_once('-')
                    .ok_or_else(|| format!("'{value}' is not a port range (like 8000-8080)"))?;
                Test::Port(port(a)?, port(b)?)
            }
        };
        Ok(FilterExpr::Test(dir, test))
    }

    fn net(&mut self, value: &str) -> Result<Test, String> {
        let bad = || format!("'{value}' is not a network (like 10.0.0.0/8)");
        if let Some((a, l)) = value.split_once('/') {
            let ip: IpAddr = a.parse().map_err(|_| bad())?;
            let len: u8 = l.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if len > max {
                return Err(bad());
            }
            return Ok(Test::Net(ip, len));
        }
        let ip: IpAddr = value.parse().map_err(|_| bad())?;
        if self.peek() == Some("mask") {
            self.pos += 1;
            let m = self.next().ok_or_else(bad)?;
            let mask: std::net::Ipv4Addr = m.parse().map_err(|_| bad())?;
            return Ok(Test::Net(ip, u32::from(mask).count_ones() as u8));
        }
        Ok(Test::Net(ip, if ip.is_ipv4() { 32 } else { 128 }))
    }
}

fn port(s: &str) -> Result<u16, String> {
    match s {
        "http" => Ok(80),
        "https" => Ok(443),
        "http-alt" => Ok(8080),
        "ssh" => Ok(22),
        "smtp" => Ok(25),
        "domain" => Ok(53),
        _ => s.parse().map_err(|_| format!("'{s}' is not a port number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirehouse_flow::Addr;

    fn ep(a: [u8; 4], p: u16) -> Endpoint {
        Endpoint::new(Addr::v4(a), p)
    }

    fn m(f: &str, src: Endpoint, dst: Endpoint) -> bool {
        parse(f).unwrap().matches(&src, &dst)
    }

    #[test]
    fn tcpdump_semantics() {
        let c = ep([10, 0, 0, 1], 40000);
        let s = ep([192, 168, 1, 5], 80);
        assert!(m("host 10.0.0.1", c, s));
        assert!(m("host 10.0.0.1", s, c));
        assert!(m("src host 10.0.0.1", c, s));
        assert!(!m("src host 10.0.0.1", s, c));
        assert!(m("port 80", c, s));
        assert!(m("dst port http", c, s));
        assert!(!m("dst port 80", s, c));
        assert!(m("net 192.168.0.0/16 and port 80", c, s));
        assert!(m("net 192.168.1.0 mask 255.255.255.0", c, s));
        assert!(!m("net 192.168.2.0/24", c, s));
        assert!(m("not port 22 and (host 1.2.3.4 or host 10.0.0.1)", c, s));
        assert!(
            m("host 1.2.3.4 or 10.0.0.1", c, s),
            "bare value repeats 'host'"
        );
        assert!(m("port 22 || 80", c, s), "bare value repeats 'port'");
        assert!(m("portrange 70-90", c, s));
        assert!(m("tcp and ip", c, s));
        assert!(!m("ip6", c, s));
        assert!(!m("!tcp", c, s));
        assert!(m("src or dst port 80", c, s));
        assert!(!m("src and dst port 80", c, s));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse("host nope").unwrap_err().contains("nope"));
        assert!(parse("port").unwrap_err().contains("value"));
        assert!(parse("(port 80").unwrap_err().contains(")"));
        assert!(parse("port 80 port 81").unwrap_err().contains("unexpected"));
        assert!(parse("").is_err());
    }
}
