#!/usr/bin/env python3
"""Clang's thread-safety analysis over our own sources (ctest: thread_safety_analysis).

GCC builds pgthaw; this runs `clang++ -fsyntax-only -Wthread-safety` over the
runtime's, the server's and common's sources with the include directories
and defines of build/compile_commands.json, so the locks' annotations
(src/common/thread_annotations.h) are checked without a second build: no
object is written and the generated engine C is not compiled again.
"""

import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

# The directories whose sources are checked (tests left out: they are not
# what holds the locks in production, and they triple the time).
CHECKED_DIRS = ("src/common/", "src/runtime/", "src/server/", "src/fleet/")

# What clang is told on top of the build's defines and include paths. The
# analysis' own warnings are errors; clang's other warnings are not ours to
# fix here (GCC's -Wall -Werror build is the one that gates them).
CLANG_FLAGS = [
    "-fsyntax-only",
    "-std=c++20",
    "-Wno-everything",
    "-Wthread-safety",
    "-Werror=thread-safety",
    # Boost 1.74's Asio looks for co_await support on clang in libc++'s
    # <experimental/coroutine> only; clang 14 has C++20 coroutines, and
    # libstdc++'s <coroutine> (which Asio then uses) works with it.
    "-DBOOST_ASIO_HAS_CO_AWAIT=1",
]


def build_flags(entry):
    """The include paths and defines of one compile command; GCC's own
    options (warnings, optimisation, -o/-c) are dropped."""
    args = entry.get("arguments") or shlex.split(entry["command"])
    kept = []
    i = 1  # args[0] is the compiler
    while i < len(args):
        arg = args[i]
        if arg in ("-I", "-D", "-isystem", "-iquote", "-include"):
            kept += [arg, args[i + 1]]
            i += 2
            continue
        if arg.startswith(("-I", "-D", "-isystem", "-iquote")):
            kept.append(arg)
        i += 1
    return kept


def check(clang, source_root, entry):
    source = entry["file"]
    cmd = [clang] + CLANG_FLAGS + build_flags(entry) + [source]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=entry.get("directory", source_root), capture_output=True,
                          text=True)
    return source, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile-commands", required=True)
    parser.add_argument("--source-root", required=True)
    parser.add_argument("--clang", default="clang++")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("files", nargs="*", help="only these sources (default: all checked)")
    args = parser.parse_args()

    root = os.path.realpath(args.source_root) + "/"
    with open(args.compile_commands) as f:
        entries = json.load(f)
    wanted = {os.path.realpath(p) for p in args.files}
    chosen = {}
    for entry in entries:
        path = os.path.realpath(os.path.join(entry.get("directory", ""), entry["file"]))
        rel = path[len(root):] if path.startswith(root) else None
        if rel is None or not rel.startswith(CHECKED_DIRS) or rel.endswith("_test.cc"):
            continue
        if wanted and path not in wanted:
            continue
        chosen.setdefault(path, dict(entry, file=path))  # one check per source
    if not chosen:
        print("thread-safety: no sources found in " + args.compile_commands, file=sys.stderr)
        return 1

    if shutil.which(args.clang) is None:
        print(f"thread-safety: {args.clang} not found (scripts/install-deps.sh installs clang)",
              file=sys.stderr)
        return 1
    started = time.monotonic()
    failed = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        jobs = [pool.submit(check, args.clang, root, e) for e in chosen.values()]
        for job in concurrent.futures.as_completed(jobs):
            source, rc, output, _ = job.result()
            if rc != 0:
                failed.append(source)
                sys.stdout.write(output)
    elapsed = time.monotonic() - started
    checked = len(chosen)
    print(f"thread-safety: {checked - len(failed)} passed, {len(failed)} failed "
          f"({checked} sources, {elapsed:.0f} s)")
    for source in sorted(failed):
        print("  failed: " + source[len(root):])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
