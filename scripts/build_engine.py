#!/usr/bin/env python3
"""Builds PGlite's engine as native code, once per artifact.

  npm pack @electric-sql/pglite@VERSION  -> sha256 checked against the pin
  npm pack each extension package of the lock file, checked the same way,
  its bundle unpacked into the share tree like the main package's contrib
  unpack; pglite.data -> share/ (the read-only tree every instance sees)
  npm pack the client tools of the lock file (pglite-tools: pg_dump.wasm),
  checked the same way; their conflicting import names renamed
  wasm2c pglite.wasm, initdb.wasm, the tools and every side module (*.so)
  split pglite.c so both cores compile it
  generate the host glue (invoke_* trampolines, side-module linking tables)
  find the Postgres statics the host writes (guest_statics.py)
  ninja -> lib/libpglite_modules.a

Everything lands in CACHE/pglite-VERSION-SHA/ (default ~/.cache/pgthaw): a
second run with the same artifact compiles nothing. Prints the directory.

usage: build_engine.py [--cache DIR] [--jobs N]
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_host_glue  # noqa: E402
import guest_statics  # noqa: E402
import wasm_imports  # noqa: E402

PIN = json.load(open(os.path.join(REPO, "pglite.lock.json")))
# Parts of pglite.c compiled separately; more parts than cores keeps both
# cores busy to the end.
PARTS = 8
SIDE_PARTS = 4
SPLIT_ABOVE_BYTES = 8 << 20
# -fstack-clash-protection: a frame bigger than the guest stack's guard probes
# its pages in order, so it faults in the guard (a trap) instead of skipping it.
MODULE_CFLAGS = ["-O2", "-w", "-fno-strict-aliasing", "-fstack-clash-protection"]


def log(msg):
    print(f"build_engine: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def npm_pack(spec, sha256, dest):
    """npm pack `spec` to `dest` (once) and check it against the pin."""
    if not os.path.exists(dest):
        tmp = dest + ".npm-pack"
        os.makedirs(tmp, exist_ok=True)
        log(f"npm pack {spec}")
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        got = sha256_of(os.path.join(tmp, out))
        if got != sha256:
            sys.exit(f"build_engine: {out} has sha256 {got}, pinned {sha256}")
        os.rename(os.path.join(tmp, out), dest)
        shutil.rmtree(tmp)
    if sha256_of(dest) != sha256:
        sys.exit(f"build_engine: cached {dest} does not match the pinned sha256")
    return dest


def fetch(root):
    """npm pack the pinned version into root and verify it."""
    return npm_pack(f"{PIN['package']}@{PIN['version']}", PIN["sha256"],
                    os.path.join(root, "pglite.tgz"))


def add_extensions(root, share):
    """The separately packaged extensions of pglite.lock.json: each package
    npm-packed and verified, its bundle (share/ and lib/ for /pglite/, as the
    contrib tarballs) unpacked into the share tree, so module_list() finds
    their .so files. Once per package version (a marker in share/)."""
    for ext in PIN.get("extensions", []):
        name = ext["package"].split("/")[-1]
        marker = os.path.join(share, f".{name}-{ext['version']}-{ext['sha256'][:16]}.ok")
        if os.path.exists(marker):
            continue
        tgz = npm_pack(f"{ext['package']}@{ext['version']}", ext["sha256"],
                       os.path.join(root, "extensions", f"{name}-{ext['version']}.tgz"))
        tmp = os.path.join(root, "extensions", name + ".unpack")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        run(["tar", "xzf", tgz, "-C", tmp, "package/" + ext["bundle"]])
        run(["tar", "xzf", os.path.join(tmp, "package", ext["bundle"]), "-C",
             os.path.join(share, "pglite")])
        shutil.rmtree(tmp)
        open(marker, "w").close()
        log(f"extension {ext['package']}@{ext['version']} added")
    mark_trusted(share)


def mark_trusted(share):
    """The extensions the lock file marks "trusted" get `trusted = true` in
    their control files: a tenant's own role (not a superuser) may then
    create them, their scripts running as the superuser, as PostgreSQL's
    trusted contrib modules do. Only extensions that add types, operators
    and pure functions are so marked. Idempotent."""
    ext_dir = os.path.join(share, "pglite", "share", "postgresql", "extension")
    for ext in PIN.get("extensions", []):
        if not ext.get("trusted"):
            continue
        # The bundle's name is the extension's: vector.tar.gz, vector.control.
        name = os.path.basename(ext["bundle"])[: -len(".tar.gz")]
        path = os.path.join(ext_dir, name + ".control")
        text = open(path).read()
        if re.search(r"^\s*trusted\s*=", text, re.M):
            continue
        with open(path, "a") as out:
            out.write("\n# pgthaw (pglite.lock.json): tenants' roles may create it\n"
                      "trusted = true\n")
        log(f"{name}.control: trusted")


def unpack(root, tgz):
    pkg = os.path.join(root, "package")
    if not os.path.isdir(pkg):
        run(["tar", "xzf", tgz, "-C", root])
    share = os.path.join(root, "share")
    if not os.path.isdir(share):
        run([sys.executable, os.path.join(HERE, "extract_bundle.py"),
             os.path.join(pkg, "dist"), share])
    # Contrib extensions ship as tarballs of share/ and lib/ for /pglite/;
    # unpacked next to the bundle, their .so files are translated like the
    # bundle's and loaded only when a tenant first uses them.
    contrib_ok = os.path.join(share, ".contrib.ok")
    if not os.path.exists(contrib_ok):
        dist = os.path.join(pkg, "dist")
        for f in sorted(os.listdir(dist)):
            if f.endswith(".tar.gz"):
                run(["tar", "xzf", os.path.join(dist, f), "-C", os.path.join(share, "pglite")])
        open(contrib_ok, "w").close()
    return pkg, share


# Imports of a tool that the host already provides under the same name with
# another signature: the tool's gets a name of its own (wasm_imports.py).
TOOL_IMPORT_RENAMES = {("env", "_localtime_js"): "_localtime_js_void"}


def add_tools(root):
    """The client programs of pglite.lock.json's "tools" (pg_dump.wasm): each
    package npm-packed and verified, the program taken out of it and its
    clashing imports renamed. Returns [(name, wasm path)]."""
    tools = []
    for tool in PIN.get("tools", []):
        pkg_name = tool["package"].split("/")[-1]
        wasm = os.path.join(root, "tools", f"{tool['name']}.wasm")
        if not os.path.exists(wasm):
            tgz = npm_pack(f"{tool['package']}@{tool['version']}", tool["sha256"],
                           os.path.join(root, "extensions", f"{pkg_name}-{tool['version']}.tgz"))
            tmp = os.path.join(root, "tools", tool["name"] + ".unpack")
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            run(["tar", "xzf", tgz, "-C", tmp, "package/" + tool["program"]])
            program = os.path.join(tmp, "package", tool["program"])
            wasm_imports.rename(program, wasm, TOOL_IMPORT_RENAMES, strict=False)
            shutil.rmtree(tmp)
            log(f"tool {tool['package']}@{tool['version']}: {tool['name']}")
        tools.append((tool["name"], wasm))
    return tools


def module_list(pkg, share, tools):
    """(name, wasm path, vfs path or None) for every module we translate."""
    mods = [("pglite", os.path.join(pkg, "dist", "pglite.wasm"), None),
            ("initdb", os.path.join(pkg, "dist", "initdb.wasm"), None)]
    mods += [(name, wasm, None) for name, wasm in tools]
    libdir = os.path.join(share, "pglite", "lib", "postgresql")
    for f in sorted(os.listdir(libdir)):
        if f.endswith(".so"):
            # wasm2c module names become C identifiers: uuid-ossp -> uuid_ossp.
            name = re.sub(r"[^A-Za-z0-9_]", "_", f[:-3])
            mods.append((name, os.path.join(libdir, f), "/pglite/lib/postgresql/" + f))
    return mods


def dylink_info(wasm):
    out = subprocess.run(["wasm-objdump", "-x", "-j", "dylink.0", wasm], check=True,
                         capture_output=True, text=True).stdout
    info = {}
    for key in ("mem_size", "mem_p2align", "table_size"):
        m = re.search(rf"{key}\s*:\s*(\d+)", out)
        info[key] = int(m.group(1)) if m else 0
    return info


def translate(gen, mods):
    for name, wasm, _ in mods:
        if os.path.exists(os.path.join(gen, f"{name}.h")) and (
                os.path.exists(os.path.join(gen, f"{name}.c")) or
                os.path.exists(os.path.join(gen, f"{name}.split.v2.ok"))):
            continue
        log(f"wasm2c {name}")
        # wasm2c names the header after the output and includes it by that
        # name, so translate under the final name in a scratch directory.
        tmp = os.path.join(gen, "tmp")
        os.makedirs(tmp, exist_ok=True)
        run(["wasm2c", "-n", name, wasm, "-o", os.path.join(tmp, f"{name}.c")])
        os.rename(os.path.join(tmp, f"{name}.c"), os.path.join(gen, f"{name}.c"))
        os.rename(os.path.join(tmp, f"{name}.h"), os.path.join(gen, f"{name}.h"))


RESTORE_MARK = "/* pgthaw: instantiate_without_memory */"


def add_restore_entry(c_path, name):
    """Appends Z_<name>_instantiate_without_memory: the module's instantiate
    minus what writes linear memory (data segments, the start function that
    zeroes BSS), for restoring a snapshot whose memory image already holds
    all of it. Idempotent."""
    text = open(c_path, encoding="utf-8").read()
    if RESTORE_MARK in text:
        return
    m = re.search(rf"\nvoid Z_{name}_instantiate\((.*?)\) \{{\n(.*?)\n\}}\n", text, re.S)
    if not m:
        sys.exit(f"build_engine: no instantiate function in {c_path}")
    body = [l for l in m.group(2).split("\n")
            if "init_memories(" not in l and not re.match(r"\s*w2c_\w+\(instance\);$", l)]
    with open(c_path, "a", encoding="utf-8") as f:
        f.write(f"\n{RESTORE_MARK}\nvoid Z_{name}_instantiate_without_memory({m.group(1)}) {{\n")
        f.write("\n".join(body) + "\n}\n")


def split_main(gen, name, parts):
    """Splits NAME.c into NAME.part0.c (data, tables, exports) and function
    parts. wasm2c makes every function static; in the split they become
    hidden-visibility externs, and partial linking localises them again."""
    src = os.path.join(gen, f"{name}.c")
    done = os.path.join(gen, f"{name}.split.v2.ok")
    outs = [os.path.join(gen, f"{name}.part{i}.c") for i in range(parts + 1)]
    if os.path.exists(done):
        return outs
    if not os.path.exists(src):
        sys.exit(f"build_engine: {src} is gone; delete {gen} to translate again")
    add_restore_entry(src, name)
    log(f"splitting {name}.c into {parts} function parts")
    lines = open(src, encoding="utf-8").read().split("\n")

    def find(pred, start=0):
        for i in range(start, len(lines)):
            if pred(lines[i]):
                return i
        sys.exit(f"build_engine: unexpected layout of {src}")

    first_static = find(lambda l: l.startswith("static bool s_module_initialized"))
    first_decl = find(lambda l: re.match(r"static \w+ w2c_\w+\(.*\);$", l) is not None)
    globals_at = find(lambda l: l.startswith("static void init_globals("), first_decl)
    first_def = find(lambda l: re.match(r"static \w+ w2c_\w+\(.*\) \{$", l) is not None, globals_at)
    tail_at = find(lambda l: l.startswith("/* export: "), first_def)

    fn_re = re.compile(r"^static (\w+ w2c_\w+\()")
    hidden = "__attribute__((visibility(\"hidden\"))) \\1"
    prelude = lines[:first_static]
    decls = [fn_re.sub(hidden, l) for l in lines[first_decl:globals_at]]
    types_block = lines[first_static:first_decl]
    types_block = [l.replace("static u32 func_types[", "__attribute__((visibility(\"hidden\"))) u32 func_types[")
                   for l in types_block]
    types_size = re.search(r"func_types\[(\d+)\]", "\n".join(types_block)).group(1)
    extern_types = [f"extern __attribute__((visibility(\"hidden\"))) u32 func_types[{types_size}];"]

    body = lines[first_def:tail_at]
    # Cut the body at function boundaries into parts of similar size.
    starts = [i for i, l in enumerate(body) if fn_re.match(l) and l.endswith("{")]
    target = len(body) / parts
    cuts, next_cut = [0], target
    for s in starts:
        if s >= next_cut:
            cuts.append(s)
            next_cut += target
    cuts = cuts[:parts] + [len(body)]

    def write(path, chunks):
        text = "".join("\n".join(c) + "\n" for c in chunks)
        # Unchanged parts keep their mtime, so ninja does not recompile them.
        if os.path.exists(path) and open(path, encoding="utf-8").read() == text:
            return
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    write(outs[0], [prelude, types_block, decls, lines[globals_at:first_def], lines[tail_at:]])
    for i in range(parts):
        chunk = [fn_re.sub(hidden, l) for l in body[cuts[i]:cuts[i + 1]]]
        write(outs[i + 1], [prelude, extern_types, decls, chunk])
    os.remove(src)  # 110 MB; the parts hold all of it
    open(done, "w").close()
    return outs


INTERRUPT_MARK = "/* pgthaw: interrupt hook */"


def add_interrupt_hook(parts):
    """Wraps pglite's ProcessInterrupts so the host runs first on the guest
    thread: it delivers due timers and cancel requests there, as a signal
    handler would (host/signals.cc). CHECK_FOR_INTERRUPTS() reaches it once a
    watchdog has raised InterruptPending. The hook is a weak symbol, so a
    binary without it links and runs Postgres' own code unchanged.
    Idempotent; touches only the part that defines the function."""
    define = re.compile(r"^(__attribute__\(\(visibility\(\"hidden\"\)\)\) void) "
                        r"w2c_ProcessInterrupts\(Z_pglite_instance_t\* instance\) \{$", re.M)
    for path in parts[1:]:
        text = open(path, encoding="utf-8").read()
        if INTERRUPT_MARK in text:
            return
        if not define.search(text):
            continue
        text = define.sub(r"\1 w2c_ProcessInterrupts_postgres(Z_pglite_instance_t* instance) {",
                          text, count=1)
        text += f"""
{INTERRUPT_MARK}
extern void pgthaw_before_process_interrupts(void* env) __attribute__((weak));
__attribute__((visibility("hidden"))) void w2c_ProcessInterrupts(Z_pglite_instance_t* instance) {{
  if (pgthaw_before_process_interrupts) pgthaw_before_process_interrupts(instance->Z_env_instance);
  w2c_ProcessInterrupts_postgres(instance);
}}
"""
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
        log(f"interrupt hook added to {os.path.basename(path)}")
        return
    sys.exit("build_engine: ProcessInterrupts not found in the pglite parts")


def write_ninja(root, gen, objs_by_module, cc):
    lib = os.path.join(root, "lib", "libpglite_modules.a")
    lines = [
        f"cc = {cc}",
        f"cflags = {' '.join(MODULE_CFLAGS)}",
        "rule cc",
        "  command = $cc $cflags -c $in -o $out",
        "  description = CC $out",
        "rule relink",
        "  command = ld -r $in -o $out.tmp && objcopy --localize-hidden $out.tmp $out && rm $out.tmp",
        "  description = LD -r $out",
        "rule ar",
        "  command = rm -f $out && ar rcs $out $in",
        "  description = AR $out",
    ]
    module_objs = []
    for name, sources in objs_by_module.items():
        objs = []
        for s in sources:
            o = os.path.join(root, "obj", os.path.basename(s)[:-2] + ".o")
            lines.append(f"build {o}: cc {s}")
            objs.append(o)
        mo = os.path.join(root, "obj", f"{name}.module.o")
        lines.append(f"build {mo}: relink {' '.join(objs)}")
        module_objs.append(mo)
    lines.append(f"build {lib}: ar {' '.join(module_objs)}")
    lines.append(f"default {lib}")
    os.makedirs(os.path.join(root, "obj"), exist_ok=True)
    os.makedirs(os.path.join(root, "lib"), exist_ok=True)
    path = os.path.join(root, "build.ninja")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.environ.get(
        "PGTHAW_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "pgthaw")))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    args = ap.parse_args()

    root = os.path.join(args.cache, f"pglite-{PIN['version']}-{PIN['sha256'][:16]}")
    gen = os.path.join(root, "gen")
    os.makedirs(gen, exist_ok=True)
    tgz = fetch(root)
    pkg, share = unpack(root, tgz)
    os.makedirs(os.path.join(root, "extensions"), exist_ok=True)
    add_extensions(root, share)
    os.makedirs(os.path.join(root, "tools"), exist_ok=True)
    tools = add_tools(root)
    mods = module_list(pkg, share, tools)
    translate(gen, mods)
    sources = {"pglite": split_main(gen, "pglite", PARTS)}
    add_interrupt_hook(sources["pglite"])
    guest_statics.write(gen, mods[0][1], sources["pglite"])
    for name, _, _ in mods[1:]:
        c_path = os.path.join(gen, f"{name}.c")
        if os.path.exists(os.path.join(gen, f"{name}.split.v2.ok")) or \
                os.path.getsize(c_path) > SPLIT_ABOVE_BYTES:
            # Big side modules (pgcrypto: ~40 MB of C) are split too, so no
            # single file holds up the build.
            sources[name] = split_main(gen, name, SIDE_PARTS)
        else:
            add_restore_entry(c_path, name)
            sources[name] = [c_path]

    side = [{"name": n, "vfs_path": p, **dylink_info(w)} for n, w, p in mods if p]
    programs = [{"name": n, "vfs_path": None, **dylink_info(w)} for n, w in tools]
    gen_host_glue.generate(gen, [m[0] for m in mods], side, os.path.join(gen, "host_glue.c"),
                           programs)

    ninja = write_ninja(root, gen, sources, args.cc)
    run(["ninja", "-f", ninja, "-j", str(args.jobs)], cwd=root, stdout=sys.stderr)
    print(root)


if __name__ == "__main__":
    main()
