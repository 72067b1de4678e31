# finirace audit: at the start of interpreter finalization (threading._shutdown
# runs first in Py_FinalizeEx), record every live thread: name, daemon flag,
# native id, Python stack; the process's memory map (to name native frames
# from the libraries' own symbol tables); optionally every thread's native
# stack via gdb.  Written to $FINIRACE_AUDIT_FILE as JSON.  Python 3.6+.
#
# gdb writes its output to a file, never to a pipe read by this process:
# gdb stops every thread of the process while it prints, the reader of a pipe
# included, and with many threads the output fills the pipe, so gdb and the
# stopped reader would wait on each other for ever.
import os
import sys


def _finirace_audit_install():
    import threading

    path = os.environ["FINIRACE_AUDIT_FILE"]
    try:  # "the hook ran": tells a program that never finalized from one that is not Python 3
        with open(path + ".started", "w") as f:
            f.write("%d %s\n" % (os.getpid(), ".".join(map(str, sys.version_info[:3]))))
    except OSError:
        pass
    original = threading._shutdown

    def _shutdown():
        try:
            _finirace_audit_record(threading)
        except Exception as exc:
            sys.stderr.write("finirace audit: could not record threads: %r\n" % (exc,))
        return original()

    threading._shutdown = _shutdown


def _finirace_audit_spawn_gdb(argv, out, env):
    """Start gdb and wait for it, all without releasing the GIL; its output goes to ``out``. False if ctypes cannot.

    Through ctypes.PyDLL (which keeps the GIL across the call): subprocess
    would release it (opening files, reading its error pipe, waiting), and a
    daemon thread would run Python or the garbage collector while gdb looks.
    The snapshot must show the threads as finalization finds them: waiting
    for the GIL, or in C without it.
    """
    import ctypes

    libc = ctypes.PyDLL(None)
    actions = ctypes.create_string_buffer(512)  # posix_spawn_file_actions_t is 80 bytes on glibc
    if libc.posix_spawn_file_actions_init(actions) != 0:
        return False
    devnull = b"/dev/null"
    libc.posix_spawn_file_actions_addopen(actions, 0, devnull, os.O_RDONLY, 0)
    libc.posix_spawn_file_actions_addopen(actions, 1, out.encode(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    libc.posix_spawn_file_actions_addopen(actions, 2, devnull, os.O_WRONLY, 0)
    args = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    pairs = ["%s=%s" % kv for kv in env.items()]
    envp = (ctypes.c_char_p * (len(pairs) + 1))(*[e.encode("utf-8", "surrogateescape") for e in pairs], None)
    pid = ctypes.c_int(0)
    status = ctypes.c_int(0)
    if libc.posix_spawnp(ctypes.byref(pid), argv[0].encode(), actions, None, args, envp) == 0:
        # one blocking call: between two calls the eval loop would hand the GIL to a thread asking
        # for it (the switch interval); gdb -batch ends by itself, the audit's time limit bounds it
        libc.waitpid(pid.value, ctypes.byref(status), 0)
        spawned = True
    else:
        spawned = False
    libc.posix_spawn_file_actions_destroy(actions)
    return spawned


def _finirace_audit_gdb(path):
    import subprocess

    out = path + ".gdb"
    env = dict(os.environ)  # gdb itself gets no preloaded crash shim
    env["LD_PRELOAD"] = " ".join(p for p in env.get("LD_PRELOAD", "").replace(":", " ").split() if "finirace-shim" not in p)
    argv = ["gdb", "-nx", "-batch", "-p", str(os.getpid()), "-ex", "set pagination off", "-ex", "thread apply all bt"]
    try:
        spawned = _finirace_audit_spawn_gdb(argv, out, env)
    except Exception:
        spawned = False
    if not spawned:
        try:
            with open(out, "wb") as sink:
                subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.DEVNULL, env=env,
                               timeout=120)
        except Exception:
            pass
    try:
        with open(out, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


_SYSTEM = ("/libc.so", "/libc-", "/ld-linux", "/libpthread", "/libstdc++", "/libgcc_s", "/libm.so", "/libdl",
           "/libpython", "finirace-shim-")


def _finirace_audit_locks(maps, tids):
    """pthread mutexes in libraries' data (.data, .bss) owned by one of ``tids``: [(address, tid, library)].

    glibc's pthread_mutex_t: int lock (1 or 2 when held), unsigned count,
    int owner (the holder's thread id), unsigned nusers, int kind.  The
    interpreter's and the C library's own locks are left out: finalization
    is the model's business there.
    """
    import ctypes
    import struct

    found = []
    regions = []
    previous = None  # the region the line before added: its .bss is the anonymous mapping right after it
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        path = parts[5].strip() if len(parts) > 5 else ""
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        added = None
        if parts[1].startswith("rw"):
            if path.startswith("/") and not any(s in path for s in _SYSTEM):
                added = (lo, hi, path)
            elif not path and previous is not None and previous[1] == lo:
                added = (lo, hi, previous[2])
        if added:
            regions.append(added)
        previous = added if path else None  # one .bss after a library's data, never a chain of anonymous maps
    exe = os.path.realpath(sys.executable)
    for lo, hi, path in regions:
        if os.path.realpath(path) == exe or hi - lo > (64 << 20):
            continue
        try:
            data = ctypes.string_at(lo, hi - lo)
        except Exception:
            continue
        for tid in tids:
            needle = struct.pack("=i", tid)
            at = data.find(needle)
            while at >= 0:
                start = at - 8
                if start >= 0 and start % 8 == 0 and at + 12 <= len(data):
                    lock, _count = struct.unpack_from("=iI", data, start)
                    nusers, kind = struct.unpack_from("=Ii", data, at + 4)
                    if lock in (1, 2) and 1 <= nusers <= 1024 and kind in (0, 1, 2, 3):
                        found.append((lo + start, tid, path))
                at = data.find(needle, at + 1)
    return found


def _finirace_audit_record(threading):
    import json
    import traceback

    frames = sys._current_frames()
    me = threading.current_thread()
    threads = []
    for t in threading.enumerate():
        if t is me:
            continue
        frame = frames.get(t.ident)
        stack = traceback.format_stack(frame) if frame is not None else []
        threads.append(
            {
                "name": t.name,
                "daemon": bool(t.daemon),
                "ident": t.ident,
                "native_id": getattr(t, "native_id", None),
                "python_stack": stack,
            }
        )
    path = os.environ["FINIRACE_AUDIT_FILE"]
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        maps = ""
    locks = []
    tids = [t["native_id"] for t in threads if t["native_id"]]
    if tids and maps:
        try:
            locks = _finirace_audit_locks(maps, tids)
        except Exception as exc:
            sys.stderr.write("finirace audit: could not look for held locks: %r\n" % (exc,))
    native = ""
    if os.environ.get("FINIRACE_AUDIT_GDB") == "1" and threads:
        native = _finirace_audit_gdb(path)
    data = {"locks": locks, "version": list(sys.version_info[:3]), "main": me.name, "main_ident": me.ident,
            "main_native_id": getattr(me, "native_id", None), "threads": threads, "native": native,
            "maps": maps}
    with open(path, "w") as f:
        json.dump(data, f)


if os.environ.get("FINIRACE_AUDIT_FILE"):
    _finirace_audit_install()
