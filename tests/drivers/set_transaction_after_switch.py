#!/usr/bin/python3
"""BEGIN; SET TRANSACTION READ ONLY; SET TRANSACTION READ WRITE works on a
connection with settings of its own (startup options, SET) when another
connection ran just before: whatever the server does to give it its
settings back must not run inside its transaction."""
import psycopg2

from driverlib import check, check_equal, dsn, finish


def connect(options):
    conn = psycopg2.connect(dsn(options=options, application_name="switch test"))
    conn.autocommit = True
    return conn


a = connect("-c work_mem=8MB -c TimeZone=Asia/Tokyo")
b = connect("-c TimeZone=UTC")
a.cursor().execute("set statement_timeout = '20s'")
a.cursor().execute("create table t (x int)")
for i in range(3):
    b.cursor().execute("select 1")  # the session passes to B and back
    cur = a.cursor()
    try:
        cur.execute("begin")
        cur.execute("set transaction read only")
        cur.execute("set transaction read write")
        cur.execute("insert into t values (%s)", (i,))
        cur.execute("show transaction_read_only")
        check_equal(cur.fetchone()[0], "off", f"read-write after the second SET TRANSACTION ({i})")
        cur.execute("commit")
    except psycopg2.Error as e:
        check(False, f"round {i}: {e.pgcode} {str(e).strip()}")
        cur.execute("rollback")
    b.cursor().execute("select 1")
    cur.execute("begin isolation level serializable")
    try:
        cur.execute("set transaction read only")
        cur.execute("show transaction_isolation")
        check_equal(cur.fetchone()[0], "serializable", f"isolation of A's transaction ({i})")
    except psycopg2.Error as e:
        check(False, f"round {i}, serializable: {e.pgcode} {str(e).strip()}")
    cur.execute("rollback")
cur = a.cursor()
cur.execute("select count(*) from t")
check_equal(cur.fetchone()[0], 3, "rows A wrote")
finish()
