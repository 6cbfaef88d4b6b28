#!/usr/bin/python3
"""SET ROLE and SET SESSION AUTHORIZATION stay with their connection.

    set_role_no_leak.py leak   while A runs as role r, B (opened while A is
                               open, and C after A closed) runs as its login
                               user
    set_role_no_leak.py kept   and A keeps its role across B's statements,
                               as a Postgres session would
"""
import sys

import psycopg2

from driverlib import check_equal, dsn, finish

check_kept = sys.argv[1:] == ["kept"]


def connect():
    conn = psycopg2.connect(dsn())
    conn.autocommit = True
    return conn


def users(conn):
    cur = conn.cursor()
    cur.execute("select current_user, session_user")
    return cur.fetchone()


b = connect()
login = users(b)  # B's users before anyone changed a role
a = connect()
a.cursor().execute("create role r")
a.cursor().execute("create role s")
a.cursor().execute("set role r")
check_equal(users(a), ("r", login[1]), "A after SET ROLE r")
for i in range(3):
    check_equal(users(b), login, f"B while A runs as r ({i})")
    if check_kept:
        check_equal(users(a), ("r", login[1]), f"A keeps role r after B ({i})")

a.cursor().execute("reset role")
a.cursor().execute("set session authorization s")
check_equal(users(a), ("s", "s"), "A after SET SESSION AUTHORIZATION s")
check_equal(users(b), login, "B while A is session user s")
if check_kept:
    check_equal(users(a), ("s", "s"), "A keeps session authorization s after B")

a.close()
c = connect()
check_equal(users(c), login, "C after A closed")
check_equal(users(b), login, "B after A closed")
finish()
