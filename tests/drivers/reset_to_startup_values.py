#!/usr/bin/python3
"""Settings of the startup packet are the connection's reset values, as in
Postgres: RESET TimeZone (and RESET ALL) go back to them, not to the server
default; also after another connection has run in between."""
import os

import psycopg2

from driverlib import check_equal, dsn, finish, psql

# psql, with PGTZ (libpq sends it in the startup packet as TimeZone).
r = psql("-c", "set timezone = 'UTC'", "-c", "reset timezone", "-c", "show timezone",
         env={**os.environ, "PGTZ": "Asia/Tokyo"})
check_equal((r.returncode, r.stdout.strip(), r.stderr), (0, "Asia/Tokyo", ""),
            "psql with PGTZ=Asia/Tokyo: RESET TimeZone")


def connect(options):
    conn = psycopg2.connect(dsn(options=options))
    conn.autocommit = True
    return conn


def show(conn, setting):
    cur = conn.cursor()
    cur.execute(f"show {setting}")
    return cur.fetchone()[0]


a = connect("-c TimeZone=America/New_York -c work_mem=8MB")
b = connect("-c TimeZone=Europe/Paris")
for round_ in range(2):
    a.cursor().execute("set timezone = 'UTC'")
    a.cursor().execute("set work_mem = '16MB'")
    check_equal(show(b, "timezone"), "Europe/Paris", f"B's TimeZone ({round_})")
    a.cursor().execute("reset timezone")
    check_equal(show(a, "timezone"), "America/New_York", f"A after RESET TimeZone ({round_})")
    a.cursor().execute("set timezone = 'UTC'")
    check_equal(show(b, "timezone"), "Europe/Paris", f"B's TimeZone again ({round_})")
    a.cursor().execute("reset all")
    check_equal((show(a, "timezone"), show(a, "work_mem")), ("America/New_York", "8MB"),
                f"A after RESET ALL ({round_})")
a.close()
b.close()
finish()
