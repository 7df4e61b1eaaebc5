//! The tables wirehouse writes. Column names are a contract with users' queries: add
//! columns freely, never rename or repurpose one.

table! {
    /// One row per input file: what was read, how every packet was accounted for, and the
    /// error that stopped reading it, if any.
    row CaptureRow, builder CapturesBuilder, name "captures" {
        /// The input path as given (or as found when a directory was expanded).
        file: Str,
        /// pcap, pcap-ns, pcap-modified or pcapng; null when the file is not a capture.
        format: OptStr,
        /// gzip or zstd when the file was compressed.
        compression: OptStr,
        /// Link types seen, comma separated (ethernet, linux-sll, raw, ...).
        linktypes: Str,
        /// Size of the file on disk.
        file_bytes: OptI64,
        /// Packet records read.
        packets: I64,
        /// Captured bytes in those records.
        bytes: I64,
        /// Timestamp of the earliest packet.
        first_ts: OptTs,
        /// Timestamp of the latest packet.
        last_ts: OptTs,
        /// Fate counts: these seven sum to `packets`.
        packets_tcp: I64,
        /// UDP packets (not analysed further).
        packets_udp: I64,
        /// IP packets of other protocols.
        packets_other_ip: I64,
        /// Non-IP frames (ARP, LLDP, encrypted 802.11, ...).
        packets_non_ip: I64,
        /// Packets cut by the snaplen before the headers we need.
        packets_truncated: I64,
        /// Packets with inconsistent headers.
        packets_malformed: I64,
        /// Packets of link types we do not decode.
        packets_unsupported_linktype: I64,
        /// TCP packets whose payload (not headers) was cut by the snaplen.
        tcp_payload_truncated: I64,
        /// IP fragments seen (counted in the fate of their protocol too).
        ip_fragments: I64,
        /// Datagrams rebuilt from fragments.
        ip_datagrams_reassembled: I64,
        /// Datagrams whose fragments never all arrived.
        ip_datagrams_abandoned: I64,
        /// pcapng blocks skipped (statistics, name resolution, custom, ...).
        pcapng_other_blocks: I64,
        /// TCP connections found.
        connections: I64,
        /// Connections retired early because the live-connection cap was reached.
        connections_evicted: I64,
        /// Times a connection's out-of-order buffer cap was hit.
        ooo_cap_hits: I64,
        /// Why reading stopped early, with the byte offset; null when the file was read
        /// to its end without fault.
        error: OptStr,
        /// Byte offset of the fault (in the decompressed stream for compressed files).
        error_offset: OptI64,
    }
}

table! {
    /// One row per TCP connection.
    row ConnectionRow, builder ConnectionsBuilder, name "connections" {
        /// Stable id, derived from the file and the offset of the connection's first packet.
        conn_id: I64,
        /// Capture file of the first packet.
        file: Str,
        /// First packet.
        first_ts: Ts,
        /// Last packet.
        last_ts: Ts,
        /// `last_ts - first_ts`.
        duration_us: I64,
        /// Client (SYN sender) address.
        client_ip: Str,
        /// Client port.
        client_port: U16,
        /// Server address.
        server_ip: Str,
        /// Server port.
        server_port: U16,
        /// 4 or 6.
        ip_version: U8,
        /// Outer VLAN id, null when untagged.
        vlan: OptU16,
        /// Inner VLAN id of QinQ frames.
        inner_vlan: OptU16,
        /// complete, syn_only, refused, no_final_ack or midstream.
        handshake: Str,
        /// The connection was picked up without seeing its SYN.
        midstream: Bool,
        /// First SYN.
        syn_ts: OptTs,
        /// SYN/ACK.
        syn_ack_ts: OptTs,
        /// The client's ACK completing the handshake.
        ack_ts: OptTs,
        /// Retransmitted SYNs.
        syn_retries: U32,
        /// SYN -> first SYN/ACK: the network and server's share of the handshake. Measured
        /// from the latest SYN before that SYN/ACK, so a retried SYN does not count its
        /// retransmission timeout (`syn_ts` keeps the first SYN).
        server_rtt_us: OptI64,
        /// Latest SYN/ACK -> the client's handshake ACK: the client's share.
        client_rtt_us: OptI64,
        /// Latest SYN -> the first ACK without SYN from either side: Wireshark's
        /// `tcp.analysis.initial_rtt`, which a retried SYN restarts too.
        handshake_rtt_us: OptI64,
        /// MSS option of the client's SYN.
        mss_client: OptU16,
        /// MSS option of the server's SYN/ACK.
        mss_server: OptU16,
        /// Window scale of the client.
        wscale_client: OptU8,
        /// Window scale of the server.
        wscale_server: OptU8,
        /// Both sides offered SACK.
        sack_permitted: Bool,
        /// Packets from the client.
        client_pkts: I64,
        /// Packets from the server.
        server_pkts: I64,
        /// Payload bytes from the client (sequence-space progress, as Zeek's orig_bytes).
        client_bytes: I64,
        /// Payload bytes from the server.
        server_bytes: I64,
        /// Client bytes never seen in the capture.
        client_missing_bytes: I64,
        /// Server bytes never seen in the capture.
        server_missing_bytes: I64,
        /// Both directions' missing bytes.
        missing_bytes: I64,
        /// Segments whose payload had all been seen before.
        retransmitted_pkts: I64,
        /// Segments that filled a hole.
        out_of_order_pkts: I64,
        /// Segments advertising a zero window.
        zero_window_events: I64,
        /// Retransmissions whose bytes differed from the first copy.
        overlap_conflicts: I64,
        /// Times the out-of-order buffer cap was hit.
        ooo_cap_hits: I64,
        /// client or server: who sent the first FIN or RST.
        close_initiator: OptStr,
        /// fin, rst, idle_timeout, end_of_capture or evicted.
        close_kind: Str,
        /// One side closed and the other never did (CLOSE_WAIT left behind).
        half_closed: Bool,
        /// Zeek's history letters.
        history: Str,
        /// Zeek's conn_state.
        conn_state: Str,
        /// Application protocol detected (http, tls, ssh, http2, ...), null if unknown.
        app_protocol: OptStr,
        /// HTTP requests on this connection.
        requests: I64,
        /// Requests sent after the server closed or announced `Connection: close`.
        requests_after_server_close: I64,
        /// Client address announced by a PROXY protocol header.
        proxied_client_ip: OptStr,
        /// Client port from the PROXY header.
        proxied_client_port: OptU16,
        /// Server address from the PROXY header.
        proxied_server_ip: OptStr,
        /// Server port from the PROXY header.
        proxied_server_port: OptU16,
    }
}

table! {
    /// One row per HTTP request (with its response when seen).
    row HttpRow, builder HttpBuilder, name "http" {
        /// The connection (joins `connections.conn_id`).
        conn_id: I64,
        /// Capture file.
        file: Str,
        /// 1 for the first request on the connection (as Zeek counts).
        trans_depth: U32,
        /// First byte of the request.
        ts: Ts,
        /// Last byte of the request.
        request_end_ts: OptTs,
        /// First byte of the response.
        response_ts: OptTs,
        /// Last byte of the response.
        response_end_ts: OptTs,
        /// Request end -> first response byte.
        ttfb_us: OptI64,
        /// Request start -> response end.
        total_us: OptI64,
        /// Previous response end -> this request (idle time on a reused connection).
        idle_before_us: OptI64,
        /// Client address.
        client_ip: Str,
        /// Client port.
        client_port: U16,
        /// Server address.
        server_ip: Str,
        /// Server port.
        server_port: U16,
        /// Request HTTP version (1.1, 1.0, 0.9).
        version: OptStr,
        /// Response HTTP version.
        response_version: OptStr,
        /// Method.
        method: OptStr,
        /// Request target.
        uri: OptStr,
        /// Host header.
        host: OptStr,
        /// User-Agent header.
        user_agent: OptStr,
        /// Referer header.
        referrer: OptStr,
        /// Request line and headers.
        request_header_bytes: I64,
        /// Request entity bytes (after de-chunking).
        request_body_bytes: I64,
        /// The request body was chunked.
        request_chunked: Bool,
        /// Status code.
        status: OptU16,
        /// Reason phrase.
        reason: OptStr,
        /// Status line and headers.
        response_header_bytes: OptI64,
        /// Response entity bytes (after de-chunking).
        response_body_bytes: OptI64,
        /// Content-Type of the response.
        content_type: OptStr,
        /// Content-Encoding of the response.
        content_encoding: OptStr,
        /// Transfer-Encoding of the response.
        transfer_encoding: OptStr,
        /// Connection header of the request.
        request_connection: OptStr,
        /// Connection header of the response.
        response_connection: OptStr,
        /// Keep-Alive header of the response.
        keep_alive: OptStr,
        /// Sent before the previous response had completed.
        pipelined: Bool,
        /// Not the first request on its connection.
        reused_connection: Bool,
        /// Sent after the server's FIN or a `Connection: close` response.
        after_server_close: Bool,
        /// Upgrade requested and accepted (websocket, h2c, ...).
        upgrade: OptStr,
        /// Interim (1xx) responses before the final one.
        informational: U32,
        /// Client address from a PROXY protocol header.
        proxied_client_ip: OptStr,
        /// Client port from a PROXY protocol header.
        proxied_client_port: OptU16,
        /// The response was seen to its end.
        complete: Bool,
        /// Bytes of this transaction lost in the capture.
        missing_bytes: I64,
        /// HTTP/2 stream id; null for HTTP/1.
        stream_id: OptU32,
    }
}

table! {
    /// Anomalies: protocol violations, conflicting overlaps, gaps, caps hit, file errors.
    row EventRow, builder EventsBuilder, name "events" {
        /// When (capture time).
        ts: OptTs,
        /// The connection, when the event belongs to one.
        conn_id: OptI64,
        /// Capture file.
        file: Str,
        /// Short name (Zeek's weird name where one exists).
        kind: Str,
        /// Human-readable detail.
        detail: Str,
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampNanosecondType};
    use arrow_array::{Array, RecordBatch};

    use super::*;

    fn event(i: i64, detail: &str) -> EventRow {
        EventRow {
            ts: (i % 3 != 0).then_some(i * 1000),
            conn_id: (i % 2 == 0).then_some(i),
            file: format!("f{i}.pcap"),
            kind: "k".into(),
            detail: detail.into(),
        }
    }

    fn rows(b: &RecordBatch) -> Vec<EventRow> {
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        let id = b.column(1).as_primitive::<Int64Type>();
        let s = |c: usize, i: usize| b.column(c).as_string::<i32>().value(i).to_string();
        (0..b.num_rows())
            .map(|i| EventRow {
                ts: ts.is_valid(i).then(|| ts.value(i)),
                conn_id: id.is_valid(i).then(|| id.value(i)),
                file: s(2, i),
                kind: s(3, i),
                detail: s(4, i),
            })
            .collect()
    }

    /// `finish` hands the builders' buffers to the batch and starts them again: each batch
    /// must hold exactly its own rows (values, nulls, the UTC zone), whether it is longer or
    /// shorter than the last.
    #[test]
    fn each_batch_holds_its_own_rows_after_a_restart() {
        let mut b = EventsBuilder::default();
        for (n, detail) in [
            (1000, "a longer detail text"),
            (3000, "b"),
            (10, ""),
            (0, ""),
        ] {
            let want: Vec<EventRow> = (0..n).map(|i| event(i, detail)).collect();
            want.iter().for_each(|r| b.append(r));
            assert_eq!(b.len(), n as usize);
            let batch = b.finish();
            assert!(b.is_empty());
            assert_eq!(batch.schema(), EventsBuilder::schema());
            assert_eq!(rows(&batch), want);
        }
    }
}
