#!/usr/bin/python3
"""psycopg2 LISTEN on connection A receives a NOTIFY sent from connection B
while A is idle (waiting in select()), with B's backend pid; B, which does
not listen, receives none."""
import select

import psycopg2

from driverlib import check, check_equal, dsn, finish

WAIT_S = 3  # a bound for a notification that never comes, not a speed check


def connect():
    conn = psycopg2.connect(dsn())
    conn.autocommit = True
    return conn


a, b = connect(), connect()
a.cursor().execute("listen news")
b_pid = b.get_backend_pid()
check(b_pid != a.get_backend_pid(), "A and B have different backend pids")

for n in range(3):
    b.cursor().execute("select pg_notify('news', %s)", (f"payload {n}",))
    ready, _, _ = select.select([a], [], [], WAIT_S)  # A is idle: no query runs on it
    check(ready == [a], f"A's socket became readable for notification {n}")
    got = []
    while ready:
        a.poll()
        got += a.notifies
        a.notifies.clear()
        ready = [a] if len(got) < 1 and select.select([a], [], [], WAIT_S)[0] else []
    check_equal([(x.channel, x.payload, x.pid) for x in got], [("news", f"payload {n}", b_pid)],
                f"A's notifications after B's NOTIFY {n}")

b.cursor().execute("select 1")  # gives B every chance to receive one
b.poll()
check_equal(b.notifies, [], "notifications B received (it never listened)")
a.cursor().execute("select 1")
a.poll()
check_equal(a.notifies, [], "A received nothing more")
finish()
