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
    # Timestamps must arrive as UTC timestamps, not integers.
    assert types["first_ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["last_ts"] == "TIMESTAMP WITH TIME ZONE"
    row = con.sql(
        f"""SELECT file, packets, first_ts <= last_ts AS ordered,
                   packets_tcp + packets_udp + packets_other_ip + packets_non_ip
                   + packets_truncated + packets_malformed + packets_unsupported_linktype AS fates,
                   year(first_ts) AS y, error
            FROM read_parquet('{out}/captures/*.parquet')"""
    ).fetchone()
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
