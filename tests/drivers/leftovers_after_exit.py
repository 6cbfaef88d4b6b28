#!/usr/bin/python3
"""A process's session state ends with it: a first process (psycopg2)
creates a temp table, takes pg_advisory_lock(1), LISTENs and PREPAREs, then
exits (once closing its connection, once dying without a goodbye); a second
process afterwards finds none of it, and can do it all again (no 42P07)."""
import os
import subprocess
import sys

import psycopg2

from driverlib import check_equal, dsn, finish


def first_process(close_politely):
    conn = psycopg2.connect(dsn())
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("create temp table leftover (x int)")
    cur.execute("insert into leftover values (1)")
    cur.execute("select pg_advisory_lock(1)")
    cur.execute("listen leftover_channel")
    cur.execute("prepare leftover_stmt as select 1")
    if close_politely:
        conn.close()  # Terminate, then the socket closes
        sys.exit(0)
    os._exit(0)  # no Terminate: the kernel closes the socket


def second_process_finds_nothing(round_name):
    conn = psycopg2.connect(dsn())
    conn.autocommit = True
    cur = conn.cursor()

    def one(sql):
        cur.execute(sql)
        return cur.fetchone()[0]

    check_equal(one("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                    " where c.relname = 'leftover' and n.nspname like 'pg_temp%'"), 0,
                f"{round_name}: temp tables named leftover")
    check_equal(one("select count(*) from pg_locks where locktype = 'advisory'"), 0,
                f"{round_name}: advisory locks in pg_locks")
    check_equal(one("select count(*) from pg_listening_channels()"), 0,
                f"{round_name}: pg_listening_channels()")
    check_equal(one("select count(*) from pg_prepared_statements"), 0,
                f"{round_name}: pg_prepared_statements")
    # What the first process did works again (psycopg2's next run got 42P07).
    cur.execute("create temp table leftover (x int)")
    check_equal(one("select pg_try_advisory_lock(1)"), True, f"{round_name}: advisory lock 1 free")
    cur.execute("prepare leftover_stmt as select 1")
    conn.close()


if len(sys.argv) == 2:
    first_process(sys.argv[1] == "close")

for how in ("close", "exit"):
    rc = subprocess.run([sys.executable, __file__, how], timeout=60).returncode
    check_equal(rc, 0, f"first process ({how}) exit status")
    second_process_finds_nothing(f"after a first process that did {how}")
finish()
