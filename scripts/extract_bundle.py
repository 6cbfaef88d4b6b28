#!/usr/bin/env python3
"""Unpacks PGlite's data bundle (pglite.data) into a directory tree.

pglite.data is a plain concatenation of files; the manifest that names them
(path, start, end) lives in the Emscripten glue dist/pglite.js as an object
literal, and the directories come from its createPath calls. We read both with
regular expressions instead of evaluating JavaScript.

usage: extract_bundle.py PACKAGE_DIST_DIR OUT_DIR
"""
import os
import re
import sys


def main() -> int:
    dist, out = sys.argv[1], sys.argv[2]
    glue = open(os.path.join(dist, "pglite.js"), encoding="utf-8").read()
    data = open(os.path.join(dist, "pglite.data"), "rb").read()

    files = re.findall(r'filename:"([^"]+)",start:(\d+),end:(\d+)', glue)
    dirs = re.findall(r'FS_createPath"\]\("([^"]*)","([^"]+)",', glue)
    size = re.search(r"remote_package_size:(\d+)", glue)
    if not files or not size or int(size.group(1)) != len(data):
        print("extract_bundle: manifest not found or size mismatch", file=sys.stderr)
        return 1

    tmp = out + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    for parent, name in dirs:
        os.makedirs(os.path.join(tmp, parent.lstrip("/"), name), exist_ok=True)
    for path, start, end in files:
        dest = os.path.join(tmp, path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data[int(start):int(end)])
    # The placeholders Postgres looks for when it finds its own executable.
    for exe in ("pglite/bin/postgres", "pglite/bin/initdb", "pglite/bin/pg_dump"):
        os.chmod(os.path.join(tmp, exe), 0o555)
    os.chmod(os.path.join(tmp, "home/postgres/.pgpass"), 0o600)
    os.rename(tmp, out)
    print(f"extract_bundle: {len(files)} files, {len(dirs)} directories", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
