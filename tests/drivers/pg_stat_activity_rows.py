#!/usr/bin/python3
"""pg_stat_activity has one row per connection; pg_stat_database counts them.

A (application_name app-a) and B (app-b) ran a statement each and are
idle, C reads. C finds exactly A, B and C among the database's client
backends, by the pids their BackendKeyData gave, each with its own
application_name, state, query, address and start time, and its own row
active with its own query. pg_stat_database counts the sessions as they
open (sessions, numbackends). Inside a transaction, B's row says so; on
pgthaw, A's statement waits for B's transaction meanwhile, and B sees it
waiting. When A leaves, its row goes.
"""
import threading
import time

import psycopg2

from driverlib import SERVER, check, check_equal, dsn, finish

ROWS = """select pid, application_name, state, query, client_addr::text, backend_start,
                 xact_start is not null, backend_type
            from pg_stat_activity
           where datname = current_database() and backend_type = 'client backend'
           order by backend_start"""
SESSIONS = """select sessions, numbackends from pg_stat_database
               where datname = current_database()"""


def connect(name):
    conn = psycopg2.connect(dsn(application_name=name))
    conn.autocommit = True
    return conn


def query(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall()


def poll(conn, sql, done, seconds=10):
    """Postgres' statistics lag a little behind its backends: ask again
    until `done(rows)` or time runs out (the last rows either way)."""
    deadline = time.monotonic() + seconds
    while True:
        conn.cursor().execute("select pg_stat_clear_snapshot()")
        rows = query(conn, sql)
        if done(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


c = connect("app-c")
sessions_before = query(c, SESSIONS)[0][0]
a = connect("app-a")
query(a, "select 'from a'")
b = connect("app-b")
query(b, "select 'from b'")

pids = {a.get_backend_pid(): "app-a", b.get_backend_pid(): "app-b", c.get_backend_pid(): "app-c"}
check_equal(len(pids), 3, "three different backend pids")
rows = poll(c, ROWS, lambda rows: len(rows) == 3 and rows[-1][3] == "select 'from b'")
check_equal({r[0]: r[1] for r in rows}, pids, "pg_stat_activity's pids and application names")
by_name = {r[1]: r for r in rows}
if check(set(by_name) == {"app-a", "app-b", "app-c"}, f"a row per connection: {rows!r}"):
    check_equal(by_name["app-a"][2:4], ("idle", "select 'from a'"), "A: state, query")
    check_equal(by_name["app-b"][2:4], ("idle", "select 'from b'"), "B: state, query")
    check_equal(by_name["app-a"][6], False, "A has no transaction start")
    check_equal(by_name["app-c"][2], "active", "C, the reader: state")
    check_equal(by_name["app-c"][6], True, "C, the reader, is in its transaction")
    check("pg_stat_activity" in by_name["app-c"][3], f"C's query is its own: {by_name['app-c']!r}")
    for name, row in by_name.items():
        check_equal(row[4], "127.0.0.1/32", f"{name}: client_addr")
    check(by_name["app-c"][5] < by_name["app-a"][5] < by_name["app-b"][5],
          "backend_start in the order the connections opened")

sessions, numbackends = poll(c, SESSIONS, lambda r: r[0][0] >= sessions_before + 2)[0]
check(sessions >= sessions_before + 2, f"sessions counts A and B: {sessions_before} -> {sessions}")
check(numbackends >= 3, f"numbackends counts the three connections: {numbackends}")

# B inside a transaction: its own row says so. On pgthaw, A's statement
# meanwhile waits for B's transaction (one session per tenant), and B sees
# it waiting with its text.
b.autocommit = False
query(b, "select 'in b'")
mine = query(b, "select state, xact_start is not null from pg_stat_activity"
                " where pid = pg_backend_pid()" if SERVER == "native" else
                f"select state, xact_start is not null from pg_stat_activity"
                f" where pid = {b.get_backend_pid()}")
check_equal(mine, [("active", True)], "B's own row inside its transaction")
if SERVER == "pgthaw":
    waiting = threading.Thread(target=query, args=(a, "select 'a waits'"))
    waiting.start()
    row = poll(b, f"select state, wait_event_type, wait_event, query from pg_stat_activity"
                  f" where pid = {a.get_backend_pid()}",
               lambda rows: rows and rows[0][3] == "select 'a waits'", seconds=5)
    check_equal(row, [("active", "Extension", "TenantTurn", "select 'a waits'")],
                "A's statement waits for B's transaction")
b.commit()
if SERVER == "pgthaw":
    waiting.join(10)
    check(not waiting.is_alive(), "A's statement ran once B committed")

a_pid = a.get_backend_pid()
a.close()
rows = poll(c, ROWS, lambda rows: a_pid not in {r[0] for r in rows})
check(a_pid not in {r[0] for r in rows}, f"A's row goes with A: {rows!r}")
check_equal(len(rows), 2, "B and C remain")
b.close()
c.close()
finish()
