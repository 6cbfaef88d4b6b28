#!/usr/bin/python3
"""SQL-level PREPARE / EXECUTE / DEALLOCATE act on the connection's own
statements: `PREPARE p AS select 1` on A and `PREPARE p AS select 2` on B
both work and each EXECUTE p gets its own; A's DEALLOCATE (of p, or of the
_pg3_0 psycopg 3 prepared on the protocol level) and DEALLOCATE ALL leave
B's statements alone."""
import psycopg

from driverlib import check, check_equal, dsn, finish


def connect():
    return psycopg.connect(dsn(), autocommit=True, prepare_threshold=None)


def attempt(what, fn):
    try:
        return fn()
    except psycopg.Error as e:
        check(False, f"{what}: {e.sqlstate} {e}")
        return None


a, b = connect(), connect()
attempt("PREPARE p on A", lambda: a.execute("prepare p as select 1"))
attempt("PREPARE p on B", lambda: b.execute("prepare p as select 2"))
for i in range(2):
    check_equal(attempt("EXECUTE p on A", lambda: a.execute("execute p").fetchall()), [(1,)],
                f"A's p ({i})")
    check_equal(attempt("EXECUTE p on B", lambda: b.execute("execute p").fetchall()), [(2,)],
                f"B's p ({i})")
attempt("DEALLOCATE p on A", lambda: a.execute("deallocate p"))
check_equal(attempt("EXECUTE p on B", lambda: b.execute("execute p").fetchall()), [(2,)],
            "B's p after A's DEALLOCATE p")
attempt("PREPARE q on A", lambda: a.execute("prepare q as select 'a'"))
attempt("DEALLOCATE ALL on B", lambda: b.execute("deallocate all"))
check_equal(attempt("EXECUTE q on A", lambda: a.execute("execute q").fetchall()), [("a",)],
            "A's q after B's DEALLOCATE ALL")

# psycopg 3's protocol-level _pg3_0, deallocated by SQL on its connection.
c, d = connect(), connect()
c.prepare_threshold = d.prepare_threshold = 0
check_equal(c.execute("select %s::int * 10", (1,)).fetchall(), [(10,)], "C's _pg3_0")
check_equal(d.execute("select %s::text", ("d",)).fetchall(), [("d",)], "D's _pg3_0")
attempt("DEALLOCATE _pg3_0 on C", lambda: c.execute("deallocate _pg3_0", prepare=False))
check_equal(attempt("D's _pg3_0 after C's DEALLOCATE", lambda: d.execute(
    "select %s::text", ("d2",)).fetchall()), [("d2",)], "D's _pg3_0 after C's DEALLOCATE _pg3_0")
for conn in (a, b, c, d):
    conn.close()
finish()
