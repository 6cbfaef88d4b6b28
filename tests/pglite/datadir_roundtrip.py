#!/usr/bin/python3
"""PGlite data directories in and out of pgthaw, with the real PGlite 0.5.16
in Node (tests/pglite, installed by install.sh):

- a database made in PGlite and dumpDataDir()'d (.tar.gz and .tar) is
  imported with `pgthaw tenant import`, then served and queried over psql:
  the same rows; its owner role owns what PGlite's postgres made;
- a pgthaw tenant exported with `pgthaw tenant export` is opened by
  PGlite's loadDataDir() with the rows pgthaw added;
- hostile archives (../ members, symlinks, absolute paths, a 10 GB sparse
  member, a huge declared size) are refused and leave no tenant behind.

    datadir_roundtrip.py --pgthaw BIN [unittest args]
"""
import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PGTHAW = None


def run(cmd, env=None, timeout=120):
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def node(*args):
    r = run(["node", os.path.join(HERE, "pglite_datadir.mjs"), *args], timeout=180)
    if r.returncode != 0:
        raise AssertionError(f"node {' '.join(args)}: {r.returncode}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def tenant(data, *args):
    return run([PGTHAW, "tenant", "--data-dir", data, *args], timeout=300)


class Serve:
    """`pgthaw serve` on loopback over `data` (trust mode unless `extra`
    gives an auth file)."""

    def __init__(self, work, data, extra=()):
        self.out = os.path.join(work, "serve.out")
        args = [PGTHAW, "serve", "--data-dir", data, "--shutdown-timeout", "10", *extra]
        for flag in ("--factory-listen", "--consumer-listen", "--warm-proxy-listen", "--pg-listen"):
            args += [flag, "127.0.0.1:0"]
        with open(self.out, "w") as out, open(os.path.join(work, "serve.err"), "w") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err)
        deadline = time.monotonic() + 120
        banner = ""
        while "stop with" not in banner:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("serve did not start")
            time.sleep(0.05)
            with open(self.out) as f:
                banner = f.read()
        self.port = re.search(r"port=(\d+)", banner).group(1)
        self.consumer = re.search(r"consumer\s+(http://[0-9.]+:\d+)/", banner).group(1)

    def psql(self, tenant_id, sql, user="postgres", password=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"PGHOST": "127.0.0.1", "PGPORT": self.port, "PGDATABASE": tenant_id,
                    "PGUSER": user, "PGSSLMODE": "disable"})
        if password is not None:
            env["PGPASSWORD"] = password
        r = run(["psql", "-X", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], env=env)
        if r.returncode != 0:
            raise AssertionError(f"psql {sql}: {r.stderr}")
        return r.stdout.strip()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


SUMMARY = "select count(*) || ' ' || md5(string_agg(body, ',' order by id)) from notes"


class DataDirRoundTrip(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="pgthaw-datadir-")
        self.data = os.path.join(self.work, "data")
        os.makedirs(self.data)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def test_pglite_to_pgthaw_and_back(self):
        made = {}
        for name in ("from_gz", "from_tar"):
            archive = os.path.join(self.work, name + (".tar.gz" if name == "from_gz" else ".tar"))
            made[name] = node("make", archive)
            r = tenant(self.data, "import", name, archive, "--role", "app",
                       "--password", "pw-" + name)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["role"], "app")
        server = Serve(self.work, self.data)
        try:
            for name in ("from_gz", "from_tar"):
                count, md5 = server.psql(name, SUMMARY).split()
                self.assertEqual(int(count), made[name]["n"])
                self.assertEqual(md5, made[name]["h"])
                # The owner role owns what PGlite's postgres made.
                self.assertEqual(server.psql(
                    name, "select relowner::regrole from pg_class where relname = 'notes'"), "app")
                self.assertEqual(server.psql(
                    name, "select rolsuper from pg_roles where rolname = 'app'"), "f")
                # pg_stat_activity is pgthaw's (one row per connection).
                self.assertEqual(server.psql(
                    name, "select count(*) from pg_stat_activity where backend_type = "
                          "'client backend'"), "1")
            server.psql("from_gz", "insert into notes (body) select 'pgthaw ' || g "
                                   "from generate_series(1, 234) g")
            expected = server.psql("from_gz", SUMMARY)
        finally:
            server.stop()
        for gzip in (True, False):
            out = os.path.join(self.work, "out.tar" + (".gz" if gzip else ""))
            r = tenant(self.data, "export", "from_gz", out, *(["--gzip"] if gzip else []))
            self.assertEqual(r.returncode, 0, r.stderr)
            seen = node("check", out)
            self.assertEqual(f"{seen['n']} {seen['h']}", expected)

    def test_the_admin_api_imports_and_exports(self):
        admin = json.loads(tenant(self.data, "token", "issue", "--admin").stdout)["token"]
        archive = os.path.join(self.work, "api.tar.gz")
        made = node("make", archive)
        server = Serve(self.work, self.data,
                       ["--auth-file", os.path.join(self.data, "credentials.json")])
        try:
            url = server.consumer + "/admin/tenants/api/import?role=owner"
            with open(archive, "rb") as f:
                body = f.read()

            def post(headers, data=body):
                req = urllib.request.Request(url, data=data, method="POST", headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=120) as r:
                        return r.status, json.loads(r.read())
                except urllib.error.HTTPError as e:
                    return e.code, json.loads(e.read() or b"{}")
            # No token: refused before the body is taken; not an archive: 415.
            # (A short body: a refused upload is drained only so far.)
            self.assertEqual(post({"Content-Type": "application/gzip"}, body[:1000])[0], 401)
            status, _ = post({"Content-Type": "text/plain", "Authorization": "Bearer " + admin},
                             body[:1000])
            self.assertEqual(status, 415)
            status, out = post({"Content-Type": "application/gzip",
                                "Authorization": "Bearer " + admin})
            self.assertEqual(status, 201, out)
            self.assertEqual(out["role"], "owner")
            count, md5 = server.psql("api", SUMMARY, user="owner",
                                     password=out["password"]).split()
            self.assertEqual((int(count), md5), (made["n"], made["h"]))
            req = urllib.request.Request(server.consumer + "/admin/tenants/api/export?gzip=1",
                                         headers={"Authorization": "Bearer " + admin})
            with urllib.request.urlopen(req, timeout=120) as r:
                self.assertEqual(r.headers["Content-Type"], "application/gzip")
                exported = os.path.join(self.work, "exported.tar.gz")
                with open(exported, "wb") as f:
                    f.write(r.read())
            seen = node("check", exported)
            self.assertEqual((seen["n"], seen["h"]), (made["n"], made["h"]))
            self.assertEqual(os.listdir(os.path.join(self.data, "uploads")), [])
        finally:
            server.stop()

    def test_hostile_archives_are_refused_and_leave_nothing(self):
        good = os.path.join(self.work, "good.tar")
        node("make", good)
        with tarfile.open(good) as t:
            members = [(m, t.extractfile(m).read() if m.isfile() else None)
                       for m in t.getmembers()]

        def archive(path, extra):
            with tarfile.open(path, "w") as t:
                for m, data in members:
                    t.addfile(m, io.BytesIO(data) if data is not None else None)
                extra(t)

        def file_member(name, data=b"x"):
            def add(t):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            return add

        def link_member(name, target, hard=False):
            def add(t):
                info = tarfile.TarInfo(name)
                info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
                info.linkname = target
                t.addfile(info)
            return add

        cases = {
            "dotdot": file_member("base/../../escaped"),
            "symlink": link_member("base/evil", "/etc/passwd"),
            "hardlink": link_member("base/evil", "/etc/passwd", hard=True),
            "absolute": file_member("/etc/cron.d/evil"),
        }
        for name, extra in cases.items():
            path = os.path.join(self.work, name + ".tar")
            archive(path, extra)
            r = tenant(self.data, "import", "evil_" + name, path)
            self.assertEqual(r.returncode, 1, name + ": " + r.stdout + r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.data, "tenants", "evil_" + name)))
        # A 10 GB sparse file, as GNU tar stores it.
        sparse_dir = os.path.join(self.work, "sparse")
        os.makedirs(os.path.join(sparse_dir, "base"))
        with open(os.path.join(sparse_dir, "PG_VERSION"), "w") as f:
            f.write("18\n")
        with open(os.path.join(sparse_dir, "base", "huge"), "wb") as f:
            f.truncate(10 << 30)
        sparse = os.path.join(self.work, "sparse.tar")
        r = run(["tar", "--sparse", "-C", sparse_dir, "-cf", sparse, "PG_VERSION", "base"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(os.path.getsize(sparse), 1 << 20)
        r = tenant(self.data, "import", "evil_sparse", sparse)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("sparse", r.stderr)
        # A member that says it holds 10 GB (and does not).
        huge = os.path.join(self.work, "huge.tar")
        with open(huge, "wb") as f:
            info = tarfile.TarInfo("base/huge")
            info.size = 10 << 30
            f.write(info.tobuf(format=tarfile.GNU_FORMAT))
            f.write(b"\0" * 4096)
        r = tenant(self.data, "import", "evil_huge", huge)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.data, "tenants", "evil_huge")))
        r = tenant(self.data, "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("evil", r.stdout)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--pgthaw", required=True)
    args, rest = ap.parse_known_args()
    PGTHAW = os.path.abspath(args.pgthaw)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
