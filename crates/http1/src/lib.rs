//! Streaming HTTP/1.x analysis (stub while the real analyzer is written).
#![allow(missing_docs)]
pub use wirehouse_flow::{Dir, Endpoint};
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub max_header_bytes: usize,
}
pub trait HttpSink {
    fn transaction(&mut self, t: Transaction);
    fn event(&mut self, ts_ns: i64, kind: &'static str, detail: String);
}
#[derive(Clone, Debug, Default)]
pub struct Transaction {
    pub trans_depth: u32,
    pub ts: i64,
    pub request_end_ts: Option<i64>,
    pub response_ts: Option<i64>,
    pub response_end_ts: Option<i64>,
    pub ttfb_ns: Option<i64>,
    pub total_ns: Option<i64>,
    pub idle_before_ns: Option<i64>,
    pub version: Option<String>,
    pub response_version: Option<String>,
    pub method: Option<String>,
    pub uri: Option<String>,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub request_header_bytes: u64,
    pub request_body_bytes: u64,
    pub request_chunked: bool,
    pub status: Option<u16>,
    pub reason: Option<String>,
    pub response_header_bytes: Option<u64>,
    pub response_body_bytes: Option<u64>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub transfer_encoding: Option<String>,
    pub request_connection: Option<String>,
    pub response_connection: Option<String>,
    pub keep_alive: Option<String>,
    pub pipelined: bool,
    pub reused_connection: bool,
    pub after_server_close: bool,
    pub upgrade: Option<String>,
    pub proxied_client_ip: Option<std::net::IpAddr>,
    pub proxied_client_port: Option<u16>,
    pub complete: bool,
    pub missing_bytes: u64,
    pub informational: u32,
}
#[derive(Clone, Debug)]
pub struct ProxyHeader {
    pub version: u8,
    pub src: Option<Endpoint>,
    pub dst: Option<Endpoint>,
}
pub struct Http1;
impl Http1 {
    pub fn new(_c: &Config) -> Http1 {
        Http1
    }
    pub fn on_data(&mut self, _d: Dir, _t: i64, _b: &[u8], _s: &mut impl HttpSink) {}
    pub fn on_gap(&mut self, _d: Dir, _t: i64, _l: u64, _s: &mut impl HttpSink) {}
    pub fn on_fin(&mut self, _d: Dir, _t: i64, _s: &mut impl HttpSink) {}
    pub fn finish(&mut self, _t: i64, _s: &mut impl HttpSink) {}
    pub fn requests(&self) -> u32 {
        0
    }
    pub fn requests_after_server_close(&self) -> u32 {
        0
    }
    pub fn proxy(&self) -> Option<&ProxyHeader> {
        None
    }
    pub fn upgraded_to(&self) -> Option<&str> {
        None
    }
    pub fn is_http(&self) -> bool {
        false
    }
}
pub fn looks_like_request(b: &[u8]) -> bool {
    b.starts_with(b"GET ")
}
pub fn looks_like_response(b: &[u8]) -> bool {
    b.starts_with(b"HTTP/1.")
}
