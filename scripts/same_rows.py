#!/usr/bin/env python3
"""Whether two wirehouse output directories hold the same rows, table by table.

    scripts/same_rows.py OUT_A OUT_B

Compares every table's rows as multisets (DuckDB `EXCEPT ALL`, both ways), so the order of
rows and how they are split over part files do not matter. Prints each table's counts of
rows only in A and only in B; exits 1 if any table differs. Run it with the project's
virtualenv (`./scripts/pyenv.sh`, then `.venv/bin/python scripts/same_rows.py ...`).
"""

import sys

import duckdb

TABLES = ["captures", "connections", "http", "events"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    differ = False
    for t in TABLES:
        def only(x, y):
            q = (
                f"select * from read_parquet('{x}/{t}/*.parquet') except all "
                f"select * from read_parquet('{y}/{t}/*.parquet')"
            )
            return con.sql(f"select count(*) from ({q})").fetchall()[0][0]

        n = con.sql(f"select count(*) from read_parquet('{a}/{t}/*.parquet')").fetchall()[0][0]
        ab, ba = only(a, b), only(b, a)
        differ |= bool(ab or ba)
        print(f"{t}: {n} rows, {ab} only in {a}, {ba} only in {b}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
