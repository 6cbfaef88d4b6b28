#!/usr/bin/python3
"""Debian's vacuumdb against the tenant (it sets search_path to '' on its
connection), then HTTP /direct queries on a table in public: they run with
the server's defaults (no 42P01), not the settings a connection left."""
import os

from driverlib import check, check_equal, finish, http_direct, psql, run

made = psql("-c", "create table items (id int primary key); insert into items values (1), (2)")
check_equal(made.returncode, 0, f"creating the table: {made.stderr}")
status, body = http_direct("select current_setting('search_path')")
check_equal(status, 200, f"HTTP search_path before vacuumdb: {body}")
default_path = body.get("rows")
for args in (["vacuumdb"], ["vacuumdb", "--analyze-only"]):
    vac = run(args + [os.environ["PGDATABASE"]])
    check_equal(vac.returncode, 0, f"{' '.join(args)}: {vac.stderr}")
    status, body = http_direct("select count(*) from items")
    check(status == 200 and body.get("rows") == [["2"]],
          f"HTTP query after {' '.join(args)}: {status} {body}")
    status, body = http_direct("select current_setting('search_path')")
    check(status == 200 and body.get("rows") == default_path,
          f"HTTP search_path after {' '.join(args)}: {status} {body}")
finish()
