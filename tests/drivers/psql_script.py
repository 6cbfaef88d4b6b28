#!/usr/bin/python3
"""Runs a psql script of sql/ (the regression-suite findings of issue 9)
and checks what Postgres does with it: every statement after an error still
runs, and the script prints what its comments say.

    psql_script.py NAME   runs sql/NAME.sql, checks it as below
"""
import io
import os
import sys

import psycopg2

from driverlib import check, check_equal, dsn, finish, psql

name = sys.argv[1]
script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql", name + ".sql")
r = psql("-v", "ON_ERROR_STOP=0", "-f", script, timeout=30)
out = r.stdout.splitlines()
err = r.stderr
print(r.stdout, r.stderr, sep="\n----- stderr -----\n")

if name == "copy_generated_column":
    check('column "b" is a generated column' in err, "the COPY's generated-column error")
    check_equal(out, ["after the refused copy", "7|14"],
                "what follows the refused COPY ran (the marker; the second COPY's row)")
    check_equal(err.count("ERROR"), 1, "errors (only the refused COPY's)")

    # The same COPY from psycopg2: the error must come before the driver is
    # asked for any data (the server never answered CopyInResponse).
    class Data(io.StringIO):
        reads = 0

        def read(self, *args):
            Data.reads += 1
            return super().read(*args)

    conn = psycopg2.connect(dsn())
    conn.autocommit = True
    code = None
    try:
        conn.cursor().copy_expert("copy g (a, b) from stdin", Data("1\t2\n"))
    except psycopg2.Error as e:
        code = e.pgcode
    check_equal(code, "42P10", "psycopg2: SQLSTATE of COPY into a generated column")
    check_equal(Data.reads, 0, "psycopg2: reads of the COPY data before the error")
    conn.close()
elif name == "copy_from_stdout":
    check_equal(out, ["1|one", "2|two", "engine still answers"], "rows copied FROM STDOUT")
    check_equal(err, "", "psql's stderr")
elif name == "set_transaction_modes":
    check_equal(out, ["repeatable read", "on", "0"], "modes and the table written read-write")
    check_equal(err, "", "psql's stderr")
else:
    sys.exit(f"unknown script {name}")
check_equal(r.returncode, 0, "psql's exit status")
finish()
