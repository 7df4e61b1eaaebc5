"""The captures table read by DuckDB and pandas, as users will read it."""
from pathlib import Path

import duckdb
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "datasets" / "loopback" / "http-loopback.pcap"


def test_duckdb_reads_captures_with_utc_timestamps(analyze):
    out = analyze(SAMPLE)
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{out}/captures/*.parquet')")
    types = dict(zip(rel.columns, map(str, rel.types)))
    # Timestamps must arrive as time-zone-aware timestamps, not integers (DuckDB names the
    # nanosecond variant TIMESTAMPTZ_NS, older versions TIMESTAMP WITH TIME ZONE).
    for col in ("first_ts", "last_ts"):
        assert types[col].startswith("TIMESTAMP"), types[col]
        assert "TZ" in types[col] or "TIME ZONE" in types[col], types[col]
    row = con.sql(
        f"""SELECT file, packets, first_ts <= last_ts AS ordered,
                   packets_tcp + packets_udp + packets_other_ip + packets_non_ip
                   + packets_truncated + packets_malformed + packets_unsupported_linktype AS fates,
                   year(first_ts) AS y, error
            FROM read_parquet('{out}/captures/*.parquet')"""
    ).fetchall()[0]
    file, packets, ordered, fates, year, error = row
    assert file.endswith("http-loopback.pcap")
    assert packets > 0 and fates == packets and ordered
    assert year >= 2025  # recorded by this project, so a recent UTC date
    assert error is None


def test_pandas_reads_table_directories(analyze):
    out = analyze(SAMPLE)
    df = pd.read_parquet(out / "captures")
    assert str(df["first_ts"].dtype) == "datetime64[ns, UTC]"
    for table in ("connections", "http", "events"):
        # Every table directory is readable even when it has no rows.
        pd.read_parquet(out / table)


def test_duckdb_query_of_the_readme(analyze):
    """The README's example: requests per connection and TTFB by client->server pair."""
    out = analyze(SAMPLE)
    con = duckdb.connect()
    rows = con.sql(
        f"""SELECT c.client_ip, c.server_port, count(DISTINCT c.conn_id) AS conns,
                   count(*) AS reqs, median(h.ttfb_us) AS ttfb_p50_us
            FROM read_parquet('{out}/http/*.parquet') h
            JOIN read_parquet('{out}/connections/*.parquet') c USING (conn_id)
            GROUP BY ALL ORDER BY reqs DESC"""
    ).fetchall()
    assert rows, "the join of http and connections returned nothing"
    total = sum(r[3] for r in rows)
    # 35 requests logged by the clients of the recording plus ab's 20 (datasets/loopback).
    assert total == 55
    ts_type = con.sql(f"SELECT ts FROM read_parquet('{out}/http/*.parquet') LIMIT 1").types[0]
    assert str(ts_type).startswith("TIMESTAMP")


def test_pandas_reads_http_with_utc_times(analyze):
    out = analyze(SAMPLE)
    df = pd.read_parquet(out / "http")
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert (df["response_end_ts"].dropna() >= df["ts"].min()).all()
