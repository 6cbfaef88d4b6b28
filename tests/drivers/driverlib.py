"""What the Python driver scenarios share: where the server is, checks that
say what went wrong, and the HTTP API. harness.py sets the environment."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

SERVER = os.environ.get("PGTHAW_SERVER", "")  # pgthaw | native
failures = []


def dsn(**extra):
    """A libpq conninfo string for the scenario's server and database."""
    parts = {
        "host": os.environ["PGHOST"],
        "port": os.environ["PGPORT"],
        "dbname": os.environ["PGDATABASE"],
        "user": os.environ["PGUSER"],
        "connect_timeout": "30",
    }
    parts.update(extra)
    return " ".join(f"{k}={quote(str(v))}" for k, v in parts.items())


def quote(value):
    if value and all(c.isalnum() or c in "._-/:" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check(condition, message):
    """Records a failure (the scenario goes on, to show every problem)."""
    if not condition:
        failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr, flush=True)
    return condition


def check_equal(actual, expected, what):
    return check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def finish():
    """Exits 1 if any check failed; call at the end of every scenario."""
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("ok")


def run(args, **kwargs):
    """Runs a client program (psql, pgbench, ...) and returns the result."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 60)
    return subprocess.run(args, **kwargs)


def psql(*args, **kwargs):
    """psql without ~/.psqlrc, unaligned, tuples only, to the scenario's db."""
    return run(["psql", "-X", "-q", "-A", "-t", *args], **kwargs)


def http_direct(sql, params=None):
    """POST /direct on the consumer role: (status, decoded JSON body)."""
    body = {"sql": sql, "tenant": os.environ["PGDATABASE"]}
    if params is not None:
        body["params"] = params
    req = urllib.request.Request(os.environ["PGTHAW_HTTP"] + "/direct",
                                 data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
