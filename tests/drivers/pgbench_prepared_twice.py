#!/usr/bin/python3
"""pgbench -i, then `pgbench -M prepared -c 4 -j 2 -T 10` twice in a row:
both runs end with status 0 and no failed transaction (the second run's
connections prepare the same names the first run's did)."""
import os
import re
import subprocess

from driverlib import check, check_equal, finish, run

db = os.environ["PGDATABASE"]
init = run(["pgbench", "-i", "-q", db], timeout=120)
check_equal(init.returncode, 0, f"pgbench -i: {init.stderr}")
print("pgbench -i done", flush=True)
for n in (1, 2):
    print(f"pgbench run {n}: -M prepared -c 4 -j 2 -T 10", flush=True)
    try:
        r = run(["pgbench", "-M", "prepared", "-c", "4", "-j", "2", "-T", "10", db], timeout=35)
    except subprocess.TimeoutExpired:
        check(False, f"pgbench run {n} (-T 10) had not ended after 35 s")
        break
    print(r.stdout, flush=True)
    check_equal(r.returncode, 0, f"pgbench run {n} exit status ({r.stderr.strip()[-500:]})")
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    if failed:
        check_equal(failed.group(1), "0", f"pgbench run {n}: failed transactions")
    processed = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    check(processed and int(processed.group(1)) > 0, f"pgbench run {n} processed transactions")
finish()
