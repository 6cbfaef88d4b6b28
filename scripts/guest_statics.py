#!/usr/bin/env python3
"""Finds the linear-memory addresses of Postgres statics the host must reach.

Postgres keeps who the session authenticated as in miscinit.c's statics
AuthenticatedUserId and SessionUserId. A real backend has one client, so
these never change after login. pgthaw's shared session carries many
clients, each of its own role: for the length of a client's exchange the
host makes the authenticated user that client's session user (engine
ExecOptions::as_session_user), so SET/RESET SESSION AUTHORIZATION cannot
take it back to the superuser the instance booted as.

The statics are not exported, so their addresses come from the generated
code of the pinned artifact, each by a pattern that names it unambiguously:
  SessionUserId        the one load in GetSessionUserId(), a named function;
  AuthenticatedUserId  the argument of superuser_arg() in the function that
                       raises "permission denied to set session
                       authorization" (check_session_authorization:
                       "roleid != GetAuthenticatedUserId() &&
                       !superuser_arg(GetAuthenticatedUserId())").
The result is gen/guest_statics.h. A pattern that finds nothing, or more
than one address, stops the build: a wrong address must never be written.
"""
import os
import re

AUTH_ERROR = b"permission denied to set session authorization \"%s\"\0"


def _leb(data, pos, signed=False):
    """A LEB128 number at `pos`, and the position after it."""
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if signed and byte & 0x40:
                result -= 1 << shift
            return result, pos


def string_address(wasm_path, needle):
    """The linear-memory address of `needle` in an active data segment."""
    data = open(wasm_path, "rb").read()
    found = []
    pos = 8
    while pos < len(data):
        section, pos = data[pos], pos + 1
        size, pos = _leb(data, pos)
        end = pos + size
        if section == 11:  # data
            q = pos
            count, q = _leb(data, q)
            for _ in range(count):
                flags, q = _leb(data, q)
                offset = None
                if flags in (0, 2):
                    if flags == 2:
                        _, q = _leb(data, q)  # memory index
                    if data[q] != 0x41:  # i32.const
                        raise SystemExit("guest_statics: unexpected data segment offset")
                    offset, q = _leb(data, q + 1, signed=True)
                    if data[q] != 0x0B:
                        raise SystemExit("guest_statics: unexpected data segment offset")
                    q += 1
                length, q = _leb(data, q)
                at = data.find(needle, q, q + length)
                while offset is not None and at >= 0:
                    found.append(offset + (at - q))
                    at = data.find(needle, at + 1, q + length)
                q += length
        pos = end
    if len(found) != 1:
        raise SystemExit(f"guest_statics: {needle!r} found {len(found)} times in {wasm_path}")
    return found[0]


FUNCTION = re.compile(r"^(?:static |__attribute__\(\(visibility\(\"hidden\"\)\)\) )"
                      r"[a-z0-9]+ (w2c_[A-Za-z0-9_]+)\(Z_pglite_instance_t\* instance[^)]*\) \{$",
                      re.M)


def _functions(text):
    """(name, body) of every function defined in `text`."""
    starts = [(m.start(), m.group(1)) for m in FUNCTION.finditer(text)]
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        yield name, text[start:end]


def _one(values, what):
    values = set(values)
    if len(values) != 1:
        raise SystemExit(f"guest_statics: {what}: {len(values)} candidates {sorted(values)}")
    return values.pop()


def find(wasm_path, parts):
    error_at = f"= {string_address(wasm_path, AUTH_ERROR)}u;"
    load = r"w2c_i(\d) = (\d+)u;\n  w2c_i\1 = i32_load\(instance->Z_envZ_memory, \(u64\)\(w2c_i\1\)\);"
    superuser_of_load = re.compile(load + r"\n  w2c_i\1 = w2c_superuser_arg\(instance, w2c_i\1\);")
    session_getter = re.compile(r"\n  " + load + r"\n  FUNC_EPILOGUE;\n  return w2c_i\1;")
    authenticated, session = [], []
    for path in parts:
        text = open(path, encoding="utf-8").read()
        for name, body in _functions(text):
            if error_at in body:
                authenticated += [int(m.group(2)) for m in superuser_of_load.finditer(body)]
            if name == "w2c_GetSessionUserId":
                session += [int(m.group(2)) for m in session_getter.finditer(body)]
    return {
        "PGTHAW_GUEST_AUTHENTICATED_USER_ID": _one(authenticated, "AuthenticatedUserId"),
        "PGTHAW_GUEST_SESSION_USER_ID": _one(session, "SessionUserId"),
    }


def write(gen, wasm_path, parts):
    """gen/guest_statics.h, once per artifact (the gen directory is keyed by
    the artifact's sha256)."""
    out = os.path.join(gen, "guest_statics.h")
    if os.path.exists(out):
        return out
    addresses = find(wasm_path, parts)
    lines = ["// Generated by scripts/guest_statics.py from the pinned PGlite artifact.",
             "#pragma once"]
    lines += [f"#define {name} {value}u" for name, value in sorted(addresses.items())]
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(out + ".tmp", out)
    return out
