#!/usr/bin/python3
"""Who may reach a tenant, end to end: a real `pgthaw serve` with an auth
file and TLS, real psql, libpq (psycopg), pgbench and HTTP clients.

    auth_test.py --pgthaw BIN [unittest args]

Tenants, roles and tokens are made by `pgthaw tenant` on the data directory
before the server starts, and by the admin HTTP API while it runs. The test
CA and the server's certificate (localhost, 127.0.0.1) are made with the
openssl command for each run.
"""
import argparse
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

PGTHAW = None
START_TIMEOUT_S = 120
# HTTPS to the server under test: trusts the test CA (set in setUpClass).
TLS_CONTEXT = None


def run(cmd, env=None, input=None, timeout=60):
    return subprocess.run(cmd, env=env, input=input, capture_output=True, text=True,
                          timeout=timeout)


def tenant_cli(data_dir, *args, input=None):
    r = run([PGTHAW, "tenant", "--data-dir", data_dir, *args], input=input)
    if r.returncode != 0:
        raise AssertionError(f"pgthaw tenant {' '.join(args)}: {r.returncode}\n{r.stderr}")
    return json.loads(r.stdout) if r.stdout.strip().startswith(("{", "[")) else r.stdout


def make_certificates(d):
    """A CA and a server certificate for localhost/127.0.0.1 signed by it."""
    def openssl(*args):
        r = run(["openssl", *args])
        if r.returncode != 0:
            raise AssertionError("openssl " + " ".join(args) + "\n" + r.stderr)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
            "-days", "2", "-subj", "/CN=pgthaw test CA")
    for name in ("server", "server2"):
        key, csr, crt = (os.path.join(d, f"{name}.{e}") for e in ("key", "csr", "crt"))
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                "-subj", f"/CN=localhost-{name}")
        ext = os.path.join(d, "san.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt


class Server:
    def __init__(self, work, data_dir, extra):
        self.data_dir = data_dir
        self.out = os.path.join(work, "serve.out")
        self.err = os.path.join(work, "serve.err")
        args = [PGTHAW, "serve", "--role", "all", "--data-dir", data_dir,
                "--shutdown-timeout", "10"] + extra
        for flag in ("--factory-listen", "--consumer-listen", "--warm-proxy-listen", "--pg-listen"):
            if flag not in extra:
                args += [flag, "127.0.0.1:0"]
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + START_TIMEOUT_S
        banner = ""
        while "stop with" not in banner:
            if self.proc.poll() is not None:
                raise AssertionError("serve exited during start\n" + self.log())
            if time.monotonic() > deadline:
                raise AssertionError("serve printed no banner\n" + self.log())
            time.sleep(0.05)
            with open(self.out) as f:
                banner = f.read()
        self.consumer = re.search(r"consumer\s+(https?://[0-9.]+:\d+)/", banner).group(1)
        self.pg_port = re.search(r"postgres\s+psql \"host=[0-9a-f.:]+ port=(\d+)", banner).group(1)

    def log(self):
        with open(self.err, errors="replace") as f:
            return f.read()[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def http(method, url, body=None, token=None, headers=None, context=None):
    """(status, headers, parsed JSON or text)."""
    data = None
    h = dict(headers or {})
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60, context=context or TLS_CONTEXT) as r:
            status, hdrs, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, hdrs, text = e.code, e.headers, e.read().decode()
    try:
        return status, hdrs, json.loads(text) if text else None
    except ValueError:
        return status, hdrs, text


class AuthAndTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="pgthaw-auth-")
        cls.ca = make_certificates(cls.work)
        global TLS_CONTEXT
        TLS_CONTEXT = ssl.create_default_context(cafile=cls.ca)
        cls.data = os.path.join(cls.work, "data")
        os.makedirs(cls.data)
        created = tenant_cli(cls.data, "create", "acme", "--role", "app", "--password", "s3cret")
        assert created["tenant"] == "acme", created
        tenant_cli(cls.data, "create", "globex", "--role", "bob", "--password", "pw-globex")
        cls.admin = tenant_cli(cls.data, "token", "issue", "--admin", "--label", "test")["token"]
        cls.acme_token = tenant_cli(cls.data, "token", "issue", "--tenant", "acme")["token"]
        cls.acme_ro = tenant_cli(cls.data, "token", "issue", "--tenant", "acme",
                                 "--read-only")["token"]
        # The server's certificate files are copies, so a test can replace
        # them and send SIGHUP.
        cls.cert = os.path.join(cls.work, "live.crt")
        cls.key = os.path.join(cls.work, "live.key")
        shutil.copy(os.path.join(cls.work, "server.crt"), cls.cert)
        shutil.copy(os.path.join(cls.work, "server.key"), cls.key)
        cls.server = Server(cls.work, cls.data,
                            ["--auth-file", os.path.join(cls.data, "credentials.json"),
                             "--tls-cert", cls.cert, "--tls-key", cls.key, "--require-tls"])

    @classmethod
    def tearDownClass(cls):
        if cls.server.proc.poll() is not None:
            print("pgthaw serve died:\n" + cls.server.log(), file=sys.stderr)
        cls.server.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def libpq_env(self, user, password=None, tenant="acme", sslmode="verify-full", **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"PGHOST": "localhost", "PGPORT": self.server.pg_port, "PGDATABASE": tenant,
                    "PGUSER": user, "PGSSLMODE": sslmode, "PGSSLROOTCERT": self.ca,
                    "PGCONNECT_TIMEOUT": "20"})
        if password is not None:
            env["PGPASSWORD"] = password
        env.update(extra)
        return env

    def psql(self, sql, user="app", password="s3cret", **kw):
        """`sql`: one query, or a list of them run one after the other."""
        commands = []
        for one in [sql] if isinstance(sql, str) else sql:
            commands += ["-c", one]
        return run(["psql", "-X", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v",
                    "VERBOSITY=verbose", *commands], env=self.libpq_env(user, password, **kw))

    # --- Postgres wire -------------------------------------------------------

    def test_right_password_is_the_role(self):
        r = self.psql("select current_user, session_user, current_setting('is_superuser')")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "app|app|off")

    def test_wrong_or_no_password_fails(self):
        r = self.psql("select 1", password="wrong")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('password authentication failed for user "app"', r.stderr)
        r = self.psql("select 1", password=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no password supplied", r.stderr)

    def test_unknown_role_and_tenant(self):
        r = self.psql("select 1", user="nobody", password="x")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('role "nobody" does not exist', r.stderr)
        r = self.psql("select 1", tenant="nosuch", password="x")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('database "nosuch" does not exist', r.stderr)
        # A role of another tenant is not a role of this one.
        r = self.psql("select 1", user="bob", password="pw-globex")
        self.assertIn('role "bob" does not exist', r.stderr)

    def test_sqlstates_through_libpq(self):
        import psycopg
        def fails(**kw):
            with self.assertRaises(psycopg.OperationalError) as caught:
                psycopg.connect(**kw).close()
            return str(caught.exception)
        base = dict(host="localhost", port=self.server.pg_port, dbname="acme",
                    sslmode="verify-full", sslrootcert=self.ca, connect_timeout=20)
        self.assertIn("password authentication failed", fails(user="app", password="no", **base))
        with psycopg.connect(user="app", password="s3cret", **base) as c:
            self.assertEqual(c.execute("select current_user").fetchone()[0], "app")
            self.assertEqual(c.info.parameter_status("is_superuser"), "off")
            self.assertEqual(c.info.parameter_status("session_authorization"), "app")

    def test_tls_required_verify_full_and_channel_binding(self):
        r = self.psql("select 1", sslmode="disable")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no encryption", r.stderr)
        r = self.psql("select 1", sslmode="require", PGCHANNELBINDING="require")
        self.assertEqual(r.returncode, 0, r.stderr)
        # verify-full checks the name against the certificate: 127.0.0.1 is
        # in it too, a foreign CA is not trusted.
        r = self.psql("select 1", PGHOST="127.0.0.1")
        self.assertEqual(r.returncode, 0, r.stderr)
        other_ca = os.path.join(self.work, "other-ca.crt")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             os.path.join(self.work, "other-ca.key"), "-out", other_ca, "-days", "1",
             "-subj", "/CN=other"])
        r = self.psql("select 1", PGSSLROOTCERT=other_ca)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("certificate verify failed", r.stderr)

    def test_the_role_has_no_superuser_powers(self):
        for sql in ("ALTER SYSTEM SET work_mem = '1MB'",
                    "select pg_catalog.pg_read_file('PG_VERSION')",
                    "SET SESSION AUTHORIZATION postgres",
                    "SET ROLE postgres",
                    "COPY (select 1) TO '/tmp/x'"):
            r = self.psql(sql)
            self.assertNotEqual(r.returncode, 0, sql)
            self.assertIn("42501", r.stderr, sql)
        r = self.psql(["RESET SESSION AUTHORIZATION", "DISCARD ALL", "select current_user"])
        self.assertEqual(r.stdout.strip().splitlines()[-1], "app", r.stderr)
        # A startup option may not choose the identity either.
        r = self.psql("select current_user", PGOPTIONS="-c session_authorization=postgres")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("permission denied", r.stderr)
        r = self.psql("select current_user", PGOPTIONS="-c role=postgres")
        self.assertNotEqual(r.returncode, 0)
        # The owner role owns its database: it can build in it.
        r = self.psql("create table if not exists owned (x int); insert into owned values (1); "
                      "select count(*) > 0 from owned")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_trusted_extensions_are_the_roles_others_the_admins(self):
        # pgvector is marked trusted (pglite.lock.json): the role creates it.
        r = self.psql(["create extension if not exists vector",
                       "select '[1,2,3]'::vector <-> '[1,2,4]'"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1], "1")
        # AGE needs a superuser, as in Postgres: the role is refused, the
        # admin token creates it, then the role uses the extension's types.
        r = self.psql("create extension age")
        self.assertIn("42501", r.stderr)
        status, _, out = self.query(self.admin, "create extension if not exists age")
        self.assertEqual(status, 200, out)
        r = self.psql("select extname from pg_extension where extname = 'age'")
        self.assertEqual(r.stdout.strip(), "age", r.stderr)

    def test_pgbench_with_scram_and_tls(self):
        env = self.libpq_env("app", "s3cret", sslmode="require")
        r = run(["pgbench", "-i", "-q", "-s", "1"], env=env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run(["pgbench", "-c", "4", "-t", "25", "-C", "-S"], env=env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("number of failed transactions: 0", r.stdout)

    def test_sighup_reloads_the_certificate_and_keeps_connections(self):
        import psycopg
        base = dict(host="localhost", port=self.server.pg_port, dbname="acme", user="app",
                    password="s3cret", sslmode="verify-full", sslrootcert=self.ca)
        with psycopg.connect(**base) as before:
            shutil.copy(os.path.join(self.work, "server2.crt"), self.cert)
            shutil.copy(os.path.join(self.work, "server2.key"), self.key)
            self.server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while "reloaded" not in self.server.log() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn("reloaded", self.server.log())
            r = run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.server.pg_port}",
                     "-starttls", "postgres", "-CAfile", self.ca], input="", timeout=30)
            self.assertIn("localhost-server2", r.stdout + r.stderr)
            self.assertEqual(before.execute("select 2").fetchone()[0], 2)

    # --- HTTP ------------------------------------------------------------------

    def query(self, token, sql, tenant="acme", **kw):
        return http("POST", self.server.consumer + "/direct", {"sql": sql, "tenant": tenant},
                    token=token, **kw)

    def test_http_is_https(self):
        self.assertTrue(self.server.consumer.startswith("https://"), self.server.consumer)
        plain = "http://" + self.server.consumer[len("https://"):]
        with self.assertRaises(OSError):
            urllib.request.urlopen(plain + "/ping", timeout=10).read()
        status, _, _ = http("GET", self.server.consumer + "/")
        self.assertEqual(status, 200)

    def test_http_tokens(self):
        status, headers, _ = self.query(None, "select 1")
        self.assertEqual(status, 401)
        self.assertIn("Bearer", headers.get("WWW-Authenticate", ""))
        status, headers, _ = self.query("pgt_0000000000000000_bad", "select 1")
        self.assertEqual(status, 401)
        status, _, _ = self.query(self.acme_token, "select 1", tenant="globex")
        self.assertEqual(status, 403)
        status, _, body = self.query(self.acme_token, "select current_user as u")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["rows"][0]["u"] if isinstance(body["rows"][0], dict)
                         else body["rows"][0][0], "app")
        status, _, body = self.query(self.admin, "select 1 as one", tenant="globex")
        self.assertEqual(status, 200, body)

    def test_read_only_token_cannot_write(self):
        self.query(self.acme_token, "create table if not exists ro_t (x int)")
        status, _, body = self.query(self.acme_ro, "insert into ro_t values (1)")
        self.assertIn("25006", json.dumps(body))
        status, _, body = self.query(self.acme_ro, "select count(*) as n from ro_t")
        self.assertEqual(status, 200, body)

    def test_browser_protections(self):
        url = self.server.consumer + "/direct"
        body = json.dumps({"sql": "create table from_browser (x int)", "tenant": "acme"})
        status, _, _ = http("POST", url, body, token=self.admin,
                            headers={"Content-Type": "text/plain"})
        self.assertEqual(status, 415)
        status, headers, _ = http("POST", url, body, token=self.admin,
                                  headers={"Origin": "https://evil.example"})
        self.assertEqual(status, 403)
        self.assertIsNone(headers.get("Access-Control-Allow-Origin"))
        status, _, _ = http("POST", url, body, token=self.admin,
                            headers={"Host": "evil.example:80"})
        self.assertEqual(status, 403)
        status, _, out = self.query(self.admin, "select to_regclass('from_browser') is null as gone")
        self.assertEqual(status, 200, out)
        self.assertIn("true", json.dumps(out))

    # --- The tenant API ----------------------------------------------------------

    def test_tenant_api_lifecycle(self):
        api = self.server.consumer + "/admin"
        status, _, _ = http("GET", api + "/tenants", token=self.acme_token)
        self.assertEqual(status, 403)
        status, _, made = http("POST", api + "/tenants", {"tenant": "initech", "role": "peter"},
                               token=self.admin)
        self.assertEqual(status, 201, made)
        password = made["password"]
        r = self.psql("select current_user", user="peter", password=password, tenant="initech")
        self.assertEqual(r.stdout.strip(), "peter", r.stderr)
        status, _, listed = http("GET", api + "/tenants", token=self.admin)
        self.assertIn("initech", json.dumps(listed))
        status, _, rotated = http("POST", api + "/tenants/initech/roles/peter/rotate", {},
                                  token=self.admin)
        self.assertEqual(status, 200, rotated)
        r = self.psql("select 1", user="peter", password=password, tenant="initech")
        self.assertIn("password authentication failed", r.stderr)
        r = self.psql("select 1", user="peter", password=rotated["password"], tenant="initech")
        self.assertEqual(r.returncode, 0, r.stderr)
        status, _, token = http("POST", api + "/tokens",
                                {"scope": {"tenant": "initech"}, "label": "ci"}, token=self.admin)
        self.assertEqual(status, 201, token)
        self.assertEqual(self.query(token["token"], "select 1", tenant="initech")[0], 200)
        status, _, _ = http("DELETE", api + "/tokens/" + token["id"], token=self.admin)
        self.assertEqual(status, 200)
        self.assertEqual(self.query(token["token"], "select 1", tenant="initech")[0], 401)
        status, _, out = http("DELETE", api + "/tenants/initech", token=self.admin)
        self.assertEqual(status, 200, out)
        r = self.psql("select 1", user="peter", password=rotated["password"], tenant="initech")
        self.assertIn('database "initech" does not exist', r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.data, "tenants", "initech")))


    def test_failed_logins_are_counted(self):
        self.psql("select 1", password="wrong")
        self.psql("select 1", user="nobody", password="x")
        self.query(None, "select 1")
        status, _, text = http("GET", self.server.consumer + "/metrics", token=self.admin)
        self.assertEqual(status, 200)
        self.assertIn('listener="pg",tenant="acme",reason="password"', text)
        self.assertIn('listener="pg",tenant="acme",reason="unknown_role"', text)
        self.assertIn('listener="http",tenant="acme",reason="missing"', text)


class Durability(unittest.TestCase):
    def test_tenant_api_changes_survive_kill_9(self):
        with tempfile.TemporaryDirectory() as work:
            data = os.path.join(work, "data")
            os.makedirs(data)
            admin = tenant_cli(data, "token", "issue", "--admin")["token"]
            auth = ["--auth-file", os.path.join(data, "credentials.json")]
            server = Server(work, data, auth)
            try:
                api = server.consumer + "/admin"
                status, _, made = http("POST", api + "/tenants",
                                       {"tenant": "kept", "role": "k", "password": "pw-kept"},
                                       token=admin)
                self.assertEqual(status, 201, made)
                status, _, token = http("POST", api + "/tokens", {"scope": {"tenant": "kept"}},
                                        token=admin)
                self.assertEqual(status, 201, token)
                server.proc.kill()  # SIGKILL right after the answers
                server.proc.wait()
            finally:
                server.stop()
            server = Server(work, data, auth)
            try:
                env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
                env.update({"PGHOST": "127.0.0.1", "PGPORT": server.pg_port, "PGDATABASE": "kept",
                            "PGUSER": "k", "PGPASSWORD": "pw-kept", "PGSSLMODE": "disable"})
                r = run(["psql", "-X", "-w", "-A", "-t", "-c", "select current_user"], env=env)
                self.assertEqual(r.stdout.strip(), "k", r.stderr)
                status, _, _ = http("POST", server.consumer + "/direct",
                                    {"sql": "select 1", "tenant": "kept"}, token=token["token"])
                self.assertEqual(status, 200)
            finally:
                server.stop()


class Modes(unittest.TestCase):
    def test_non_loopback_without_auth_refuses_to_start(self):
        with tempfile.TemporaryDirectory() as d:
            r = run([PGTHAW, "serve", "--data-dir", d, "--pg-listen", "0.0.0.0:0"], timeout=60)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--auth-file", r.stderr)
            self.assertIn("--tls-cert", r.stderr)
            self.assertIn("--insecure", r.stderr)

    def test_non_loopback_with_auth_and_tls_starts_and_requires_tls(self):
        with tempfile.TemporaryDirectory() as d:
            ca = make_certificates(d)
            data = os.path.join(d, "data")
            os.makedirs(data)
            tenant_cli(data, "create", "net", "--role", "app", "--password", "pw-net")
            args = [PGTHAW, "serve", "--data-dir", data, "--pg-listen", "0.0.0.0:0",
                    "--auth-file", os.path.join(data, "credentials.json")]
            # The Postgres listener's own certificate only: the HTTP roles
            # (loopback here) need none, a non-loopback one would.
            r = run(args + ["--consumer-listen", "0.0.0.0:0", "--pg-tls-cert",
                            os.path.join(d, "server.crt"), "--pg-tls-key",
                            os.path.join(d, "server.key")], timeout=60)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--consumer-listen", r.stderr)
            server = Server(d, data, ["--auth-file", os.path.join(data, "credentials.json"),
                                      "--pg-tls-cert", os.path.join(d, "server.crt"),
                                      "--pg-tls-key", os.path.join(d, "server.key"),
                                      "--pg-listen", "0.0.0.0:0"])
            try:
                self.assertTrue(server.consumer.startswith("http://"))
                env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
                env.update({"PGHOST": "localhost", "PGPORT": server.pg_port, "PGDATABASE": "net",
                            "PGUSER": "app", "PGPASSWORD": "pw-net", "PGSSLROOTCERT": ca})
                q = ["psql", "-X", "-w", "-A", "-t", "-c", "select current_user"]
                r = run(q, env=dict(env, PGSSLMODE="disable"))
                self.assertIn("no encryption", r.stderr)
                r = run(q, env=dict(env, PGSSLMODE="verify-full"))
                self.assertEqual(r.stdout.strip(), "app", r.stderr)
            finally:
                server.stop()

    def test_toml_auth_and_tls_tables(self):
        with tempfile.TemporaryDirectory() as d:
            ca = make_certificates(d)
            data = os.path.join(d, "data")
            os.makedirs(data)
            tenant_cli(data, "create", "conf", "--role", "app", "--password", "pw-conf")
            config = os.path.join(d, "pgthaw.toml")
            with open(config, "w") as f:
                f.write(f'''[auth]
file = "{data}/credentials.json"
allowed-hosts = ["db.example.test"]

[tls]
cert = "{d}/server.crt"
key = "{d}/server.key"
require = true
''')
            server = Server(d, data, ["--config", config])
            try:
                self.assertIn("TLS required", server.log())
                env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
                env.update({"PGHOST": "localhost", "PGPORT": server.pg_port, "PGDATABASE": "conf",
                            "PGUSER": "app", "PGPASSWORD": "pw-conf", "PGSSLROOTCERT": ca})
                q = ["psql", "-X", "-w", "-A", "-t", "-c", "select current_user"]
                self.assertIn("no encryption", run(q, env=dict(env, PGSSLMODE="disable")).stderr)
                r = run(q, env=dict(env, PGSSLMODE="verify-full"))
                self.assertEqual(r.stdout.strip(), "app", r.stderr)
                status, _, _ = http("GET", server.consumer + "/",
                                    headers={"Host": "db.example.test:1"},
                                    context=ssl.create_default_context(cafile=ca))
                self.assertEqual(status, 200)
            finally:
                server.stop()
            with open(config, "a") as f:
                f.write("nonsense = 1\n")
            r = run([PGTHAW, "serve", "--config", config], timeout=60)
            self.assertEqual(r.returncode, 2)
            self.assertIn("nonsense: unknown setting", r.stderr)

    def test_loopback_without_auth_is_trust_mode(self):
        with tempfile.TemporaryDirectory() as d:
            server = Server(d, os.path.join(d, "data"), [])
            try:
                self.assertIn("trust mode", server.log())
                env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
                env.update({"PGHOST": "127.0.0.1", "PGPORT": server.pg_port,
                            "PGDATABASE": "anyone", "PGUSER": "whoever", "PGSSLMODE": "disable"})
                r = run(["psql", "-X", "-w", "-A", "-t", "-c", "select current_user"], env=env)
                self.assertEqual(r.stdout.strip(), "postgres", r.stderr)
            finally:
                server.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--pgthaw", required=True)
    args, rest = ap.parse_known_args()
    PGTHAW = os.path.abspath(args.pgthaw)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
