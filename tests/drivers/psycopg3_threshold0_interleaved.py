#!/usr/bin/python3
"""psycopg 3 with prepare_threshold=0 over two connections, interleaved:
each prepares the same names (_pg3_0, _pg3_1, ...) for different queries, in
and out of transactions. Zero errors, each connection its own rows."""
import psycopg

from driverlib import check_equal, dsn, finish

with psycopg.connect(dsn(), autocommit=True) as setup:
    setup.execute("create table nums (n int primary key)")
    setup.execute("insert into nums select generate_series(1, 20)")

SQUARE = "select n, n * n from nums where n = %s"
HALF = "select n, n / 2 from nums where n = %s"
COUNT = "select count(*) from nums where n <= %s"

a = psycopg.connect(dsn(), prepare_threshold=0, autocommit=True)
b = psycopg.connect(dsn(), prepare_threshold=0, autocommit=True)
# Opposite orders: A's _pg3_0 is SQUARE, B's _pg3_0 is HALF.
for i in range(1, 21):
    check_equal(a.execute(SQUARE, (i,)).fetchall(), [(i, i * i)], f"A square {i}")
    check_equal(b.execute(HALF, (i,)).fetchall(), [(i, i // 2)], f"B half {i}")
    check_equal(a.execute(HALF, (i,)).fetchall(), [(i, i // 2)], f"A half {i}")
    check_equal(b.execute(SQUARE, (i,)).fetchall(), [(i, i * i)], f"B square {i}")
    # A transaction of each connection in turn, with its prepared statements.
    conn = a if i % 2 else b
    with conn.transaction():
        check_equal(conn.execute(COUNT, (i,)).fetchone(), (i,), f"count in transaction {i}")
        check_equal(conn.execute(SQUARE, (i,)).fetchone(), (i, i * i), f"square in tx {i}")
a.close()
b.close()
finish()
