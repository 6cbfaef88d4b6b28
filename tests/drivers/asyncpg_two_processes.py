#!/usr/bin/python3
"""Two asyncpg processes at once (a multi-worker app), each with a pool,
run prepared queries with parameters many times: every asyncpg connection
names its statements __asyncpg_stmt_N__, so the names meet in one tenant.
Zero errors, right rows."""
import asyncio
import os
import subprocess
import sys

import asyncpg

from driverlib import check_equal, finish

ROUNDS = 150


def connect_args():
    return dict(host=os.environ["PGHOST"], port=int(os.environ["PGPORT"]),
                user=os.environ["PGUSER"], database=os.environ["PGDATABASE"], timeout=30)


async def worker(n):
    pool = await asyncpg.create_pool(min_size=2, max_size=4, **connect_args())
    errors = 0

    async def one(i):
        nonlocal errors
        try:
            rows = await pool.fetch("select id, label, $1::int as i from items "
                                    "where id = $2 order by id", i, i % 10)
            ok = [tuple(r) for r in rows] == [(i % 10, f"item {i % 10}", i)]
            scalar = await pool.fetchval("select $1::text || ':' || $2::int", f"w{n}", i)
            ok = ok and scalar == f"w{n}:{i}"
            if not ok:
                errors += 1
                print(f"worker {n}: wrong rows for {i}: {rows} {scalar}", file=sys.stderr)
        except Exception as e:  # every driver error counts
            errors += 1
            print(f"worker {n}: {type(e).__name__}: {e}", file=sys.stderr)

    for start in range(0, ROUNDS, 10):
        await asyncio.gather(*(one(i) for i in range(start, start + 10)))
    await pool.close()
    return errors


async def create_table():
    conn = await asyncpg.connect(**connect_args())
    await conn.execute("create table items (id int primary key, label text)")
    await conn.execute("insert into items select g, 'item ' || g from generate_series(0, 9) g")
    await conn.close()


if len(sys.argv) == 3 and sys.argv[1] == "--worker":
    errors = asyncio.run(worker(int(sys.argv[2])))
    print(f"worker {sys.argv[2]}: {errors} errors")
    sys.exit(1 if errors else 0)

asyncio.run(create_table())
workers = [subprocess.Popen([sys.executable, __file__, "--worker", str(n)]) for n in (1, 2)]
for n, w in enumerate(workers, 1):
    check_equal(w.wait(timeout=60), 0, f"exit status of asyncpg process {n}")
finish()
