#!/usr/bin/python3
"""psycopg 3's wrong-rows sequence (issue 9): connection A caches its
prepared `_pg3_0` over t1; connection B's DEALLOCATE ALL (psycopg sends it
by itself after a DROP or ROLLBACK, or B runs it) must not remove it; C
prepares its own `_pg3_0` over t2 (same result shape); A runs its statement
again and must get t1's rows, not t2's."""
import psycopg

from driverlib import check_equal, dsn, finish

QUERY_T1 = "select id, label from t1 where id >= %s order by id"
QUERY_T2 = "select id, label from t2 where id >= %s order by id"
T1_ROWS = [(1, "t1 first"), (2, "t1 second")]
T2_ROWS = [(1, "t2 first"), (2, "t2 second")]

with psycopg.connect(dsn(), autocommit=True) as setup:
    for table in ("t1", "t2"):
        setup.execute(f"create table {table} (id int primary key, label text)")
        setup.execute(f"insert into {table} values (1, '{table} first'), (2, '{table} second')")


def round_trip(a_threshold, deallocate_all_on_b):
    a = psycopg.connect(dsn(), autocommit=True)
    if a_threshold is None:
        a_threshold = a.prepare_threshold  # psycopg's default (5)
    else:
        a.prepare_threshold = a_threshold
    # Past the threshold the statement is prepared as _pg3_0 (threshold 0:
    # at once; the default 5: at the sixth run).
    for _ in range(a_threshold + 2):
        check_equal(a.execute(QUERY_T1, (1,)).fetchall(), T1_ROWS, "A before, t1 rows")

    b = psycopg.connect(dsn(), autocommit=True)
    if deallocate_all_on_b:
        b.execute("deallocate all")
    else:
        # psycopg's own DEALLOCATE ALL: B has a prepared statement, then a
        # DROP makes psycopg discard its cache and deallocate everything.
        b.prepare_threshold = 0
        b.execute("select 1 where 1 = %s", (1,))
        b.execute("create table scratch_b (x int)")
        b.execute("drop table scratch_b")
        b.execute("select 2")  # the maintenance DEALLOCATE ALL goes out here at the latest

    c = psycopg.connect(dsn(), autocommit=True)
    c.prepare_threshold = 0
    check_equal(c.execute(QUERY_T2, (1,)).fetchall(), T2_ROWS, "C, its own _pg3_0 over t2")

    for _ in range(3):
        check_equal(a.execute(QUERY_T1, (1,)).fetchall(), T1_ROWS, "A after B and C, t1 rows")
        check_equal(c.execute(QUERY_T2, (1,)).fetchall(), T2_ROWS, "C after A, t2 rows")
    for conn in (a, b, c):
        conn.close()


round_trip(a_threshold=0, deallocate_all_on_b=False)
round_trip(a_threshold=None, deallocate_all_on_b=True)
finish()
