#!/usr/bin/python3
"""Runs one driver scenario against a server of its own.

    harness.py --pgthaw BIN [--template DIR] [--timeout S] -- COMMAND ARGS...
    harness.py --native BINDIR [--timeout S] -- COMMAND ARGS...
    harness.py --pgthaw BIN --make-template DIR

With --pgthaw, starts `BIN serve --role all` over a new temporary data
directory, every listener on a loopback port the kernel picks (read back from
the banner). With --native, starts Debian's PostgreSQL (initdb + postgres from
BINDIR, as `nobody` when run as root) on a loopback port: the same scenario
against real Postgres shows the scenario itself is right.

COMMAND runs with PGHOST, PGPORT, PGDATABASE (the tenant), PGUSER and
PGTHAW_SERVER (pgthaw | native) set, and PGTHAW_HTTP (the consumer's base
URL) with --pgthaw. The harness fails when COMMAND exits non-zero, runs past
--timeout, or when the server dies before it is stopped; it then prints the
end of the server's log.

--make-template DIR starts pgthaw once over DIR/data so that it builds its
templates, and stops it: --template DIR then copies them into each new data
directory, so each scenario does not build them again (if they do not fit
the binary, pgthaw simply builds its own).
"""
import argparse
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TENANT = "drivers"
START_TIMEOUT_S = 120


def fail(message):
    print(f"harness: {message}", file=sys.stderr)
    sys.exit(1)


def tail(path, lines=60):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class PgthawServer:
    def __init__(self, binary, work_dir, template=None):
        self.binary = binary
        self.data_dir = os.path.join(work_dir, "data")
        self.out_path = os.path.join(work_dir, "serve.out")
        self.err_path = os.path.join(work_dir, "serve.err")
        self.proc = None
        os.makedirs(self.data_dir, exist_ok=True)
        if template:
            copy_templates(os.path.join(template, "data"), self.data_dir)

    def start(self):
        # A short drain: a server that does not stop is a failure, found quickly.
        args = [self.binary, "serve", "--role", "all", "--data-dir", self.data_dir,
                "--shutdown-timeout", "10"]
        for flag in ("--factory-listen", "--consumer-listen", "--warm-proxy-listen", "--pg-listen"):
            args += [flag, "127.0.0.1:0"]
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + START_TIMEOUT_S
        banner = ""
        while "stop with" not in banner:  # the banner's last line
            if self.proc.poll() is not None:
                fail(f"pgthaw serve exited during start ({self.proc.returncode})\n"
                     + tail(self.err_path))
            if time.monotonic() > deadline:
                fail("pgthaw serve printed no banner in time\n" + tail(self.err_path))
            time.sleep(0.02)
            with open(self.out_path) as f:
                banner = f.read()
        self.consumer = re.search(r"consumer\s+(http://[0-9.]+:\d+)/", banner).group(1)
        factory = re.search(r"factory\s+(http://[0-9.]+:\d+)/", banner).group(1)
        self.pg_port = re.search(r"postgres\s+psql \"host=[0-9.]+ port=(\d+)", banner).group(1)
        while True:
            try:
                with urllib.request.urlopen(factory + "/ping", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                fail("/ping never answered\n" + tail(self.err_path))
            time.sleep(0.02)

    def env(self):
        return {"PGHOST": "127.0.0.1", "PGPORT": self.pg_port, "PGDATABASE": TENANT,
                "PGUSER": "tester", "PGTHAW_SERVER": "pgthaw", "PGTHAW_HTTP": self.consumer}

    def died(self):
        return self.proc.poll() is not None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "did not stop within 25 s of SIGTERM"
        if self.proc.returncode != 0:
            return f"exited with status {self.proc.returncode} after SIGTERM"
        return None

    def log(self):
        return tail(self.err_path)


def copy_templates(source_data, target_data):
    """Copies every template-* directory (also the factory's) of a data dir."""
    for sub in ("", "factory"):
        src = os.path.join(source_data, sub)
        if not os.path.isdir(src):
            continue
        for name in os.listdir(src):
            if name.startswith("template-"):
                dst = os.path.join(target_data, sub)
                os.makedirs(dst, exist_ok=True)
                shutil.copytree(os.path.join(src, name), os.path.join(dst, name), symlinks=True)


class NativeServer:
    """Debian's PostgreSQL on loopback TCP (as `nobody` when root); its unix
    socket goes to a private directory."""

    def __init__(self, bindir, work_dir):
        self.bindir = bindir
        self.dir = os.path.join(work_dir, "native")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.proc = None
        self.wrap = []
        os.makedirs(self.dir)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.wrap = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                         "--clear-groups", "--"]
            os.chmod(work_dir, 0o755)
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)

    def start(self):
        init = subprocess.run(self.wrap + [os.path.join(self.bindir, "initdb"), "-D", self.data_dir,
                                           "-U", "postgres", "--auth=trust", "--no-sync",
                                           "--encoding=UTF8", "--locale=C.UTF-8"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if init.returncode != 0:
            fail("initdb failed:\n" + init.stdout)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = str(s.getsockname()[1])
        log = open(self.log_path, "w")
        if self.wrap:
            os.chown(self.log_path, int(self.wrap[1].split("=")[1]), int(self.wrap[2].split("=")[1]))
        self.proc = subprocess.Popen(
            self.wrap + [os.path.join(self.bindir, "postgres"), "-D", self.data_dir, "-p", self.port,
                         "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                         "-c", "fsync=off"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run([os.path.join(self.bindir, "pg_isready"), "-q", "-h", "127.0.0.1",
                              "-p", self.port]).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail("postgres did not start\n" + tail(self.log_path))
            time.sleep(0.05)

    def env(self):
        return {"PGHOST": "127.0.0.1", "PGPORT": self.port, "PGDATABASE": "postgres",
                "PGUSER": "postgres", "PGTHAW_SERVER": "native"}

    def died(self):
        return self.proc.poll() is not None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return None

    def log(self):
        return tail(self.log_path)


def run_scenario(server, command, timeout):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(server.env())
    env["PGCONNECT_TIMEOUT"] = "30"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return f"the scenario ran past {timeout} s and was killed"
    print(f"harness: scenario took {time.monotonic() - started:.2f} s")
    if rc != 0:
        return f"the scenario exited with status {rc}"
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pgthaw")
    p.add_argument("--native")
    p.add_argument("--template")
    p.add_argument("--make-template")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("command", nargs="*")
    a = p.parse_args()
    if bool(a.pgthaw) == bool(a.native):
        fail("give exactly one of --pgthaw BIN and --native BINDIR")

    if a.make_template:
        shutil.rmtree(a.make_template, ignore_errors=True)
        os.makedirs(a.make_template)
        server = PgthawServer(a.pgthaw, a.make_template)
        try:
            server.start()
        finally:
            problem = server.stop()
        if problem:
            fail("template server " + problem + "\n" + server.log())
        print(f"harness: templates built in {a.make_template}")
        return
    if not a.command:
        fail("no scenario command given")

    with tempfile.TemporaryDirectory(prefix="pgthaw-drivers-") as work_dir:
        if a.pgthaw:
            server = PgthawServer(a.pgthaw, work_dir, a.template)
        else:
            server = NativeServer(a.native, work_dir)
        try:
            server.start()
            problem = run_scenario(server, a.command, a.timeout)
            if not problem and server.died():
                problem = "the server died during the scenario"
        finally:
            stopped = server.stop()
        problem = problem or (stopped and "the server " + stopped)
        if problem:
            print(f"harness: FAILED: {problem}\n----- server log (end) -----\n{server.log()}",
                  file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
