#!/usr/bin/env python3
"""Renames imports of a wasm binary: rename(src, dst, {(module, name): new_name}).

wasm2c names an import's C symbol after its module and name only, and the
host defines one C function per symbol. Two modules that import the same
name with different signatures (pg_dump.wasm's `_localtime_js` returns
nothing, pglite.wasm's an int) would clash; renaming one import gives it a
symbol of its own. Only the import section changes: every other byte is
copied as it is.
"""
import os
import sys

IMPORT_SECTION = 2


def read_leb(data, at, signed=False):
    """A LEB128 number at `at`, and the position after it."""
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if signed and byte & 0x40:
                value -= 1 << shift
            return value, at


def leb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_name(data, at):
    n, at = read_leb(data, at)
    return data[at:at + n].decode("utf-8"), at + n


def name_bytes(s):
    b = s.encode("utf-8")
    return leb(len(b)) + b


def skip_limits(data, at):
    flags = data[at]
    _, at = read_leb(data, at + 1)
    if flags & 1:
        _, at = read_leb(data, at)
    return at


def skip_desc(data, at, kind):
    if kind == 0:  # function: type index
        _, at = read_leb(data, at)
        return at
    if kind == 1:  # table: reftype, limits
        return skip_limits(data, at + 1)
    if kind == 2:  # memory: limits
        return skip_limits(data, at)
    if kind == 3:  # global: valtype, mutability
        return at + 2
    if kind == 4:  # tag: attribute, type index
        _, at = read_leb(data, at + 1)
        return at
    raise SystemExit(f"wasm_imports: unknown import kind {kind}")


def rename_section(payload, renames, found):
    count, at = read_leb(payload, 0)
    out = bytearray(leb(count))
    for _ in range(count):
        module, at = read_name(payload, at)
        name, at = read_name(payload, at)
        kind = payload[at]
        end = skip_desc(payload, at + 1, kind)
        new = renames.get((module, name))
        if new is not None:
            found.add((module, name))
            name = new
        out += name_bytes(module) + name_bytes(name) + payload[at:end]
        at = end
    return bytes(out)


def rename(src, dst, renames, strict=True):
    """Writes `src` with `renames` applied to `dst`. strict: every import
    named must exist."""
    data = open(src, "rb").read()
    if data[:8] != b"\0asm\1\0\0\0":
        raise SystemExit(f"wasm_imports: {src} is not a wasm module")
    out, at, found = bytearray(data[:8]), 8, set()
    while at < len(data):
        section = data[at]
        size, body = read_leb(data, at + 1)
        payload = data[body:body + size]
        if section == IMPORT_SECTION:
            payload = rename_section(payload, renames, found)
        out += bytes([section]) + leb(len(payload)) + payload
        at = body + size
    missing = set(renames) - found
    if missing and strict:
        raise SystemExit(f"wasm_imports: {src} does not import {sorted(missing)}")
    with open(dst + ".tmp", "wb") as f:
        f.write(out)
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: wasm_imports.py SRC DST MODULE.NAME NEW_NAME")
    module, name = sys.argv[3].split(".", 1)
    rename(sys.argv[1], sys.argv[2], {(module, name): sys.argv[4]})
