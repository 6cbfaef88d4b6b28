#!/usr/bin/python3
"""psycopg 3's cursor.copy("COPY t FROM STDIN") and pipeline mode.

psycopg 3.1 refuses COPY inside conn.pipeline() on the client side (before
anything is sent): NotSupportedError "COPY cannot be used in pipeline mode".
So the scenario records that refusal, then runs the copy outside the
pipeline, and a copy right after pipelined statements on the same
connection (the pipeline's Syncs and the copy meet in the server)."""
import psycopg

from driverlib import check, check_equal, dsn, finish

conn = psycopg.connect(dsn(), autocommit=True)
conn.execute("create table t (a int, b text)")

# 1. Inside the pipeline: psycopg's own refusal.
refusal = None
try:
    with conn.pipeline():
        conn.execute("insert into t values (%s, %s)", (0, "zero"))
        with conn.cursor().copy("COPY t FROM STDIN") as copy:
            copy.write_row((-1, "never"))
except psycopg.NotSupportedError as e:
    refusal = str(e)
check_equal(refusal, "COPY cannot be used in pipeline mode", "psycopg 3.1's refusal of COPY in a pipeline")

# 2. Outside the pipeline.
with conn.cursor().copy("COPY t FROM STDIN") as copy:
    copy.write_row((1, "one"))
    copy.write_row((2, "two"))

# 3. Right after pipelined statements (and a pipelined copy-free batch again).
for n in (3, 5):
    with conn.pipeline():
        for i in range(3):
            conn.execute("insert into t values (%s, %s)", (100 + n * 10 + i, "pipelined"))
        cur = conn.execute("select count(*) from t where b = %s", ("pipelined",))
    check(cur.fetchone()[0] >= 3, "the pipeline's own count")
    with conn.cursor().copy("COPY t FROM STDIN") as copy:
        copy.write_row((n, f"copy {n}"))

rows = conn.execute("select a, b from t where b <> 'pipelined' order by a").fetchall()
check_equal(rows, [(0, "zero"), (1, "one"), (2, "two"), (3, "copy 3"), (5, "copy 5")],
            "rows of t that were not pipelined inserts")
check_equal(conn.execute("select count(*) from t where b = 'pipelined'").fetchone(), (6,),
            "pipelined inserts")
conn.close()
finish()
