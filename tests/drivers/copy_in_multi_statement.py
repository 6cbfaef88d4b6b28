#!/usr/bin/python3
"""COPY t FROM STDIN as the second statement of a simple query: through
psql -c (data from psql's stdin) and psycopg2's copy_expert."""
import io

import psycopg2

from driverlib import check_equal, dsn, finish, psql

made = psql("-c", "create table t (a int, b text)")
check_equal(made.returncode, 0, f"create table: {made.stderr}")

r = psql("-c", "select 1; copy t from stdin", input="1\tone\n2\ttwo\n\\.\n")
check_equal(r.returncode, 0, f"psql -c 'select 1; copy t from stdin' exit status ({r.stderr})")

conn = psycopg2.connect(dsn())
conn.autocommit = True
cur = conn.cursor()
try:
    cur.copy_expert("select 1; copy t from stdin", io.StringIO("3\tthree\n4\tfour\n"))
except psycopg2.Error as e:
    check_equal(f"{e.pgcode} {e}".strip(), "", "psycopg2 copy_expert('select 1; copy t from stdin')")
cur.execute("select a, b from t order by a")
check_equal(cur.fetchall(), [(1, "one"), (2, "two"), (3, "three"), (4, "four")], "rows of t")
cur.execute("select 'still here'")
check_equal(cur.fetchone(), ("still here",), "the connection after the copies")
finish()
