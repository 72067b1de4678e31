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


def _finirace_audit_gdb(path):
    import subprocess

    out = path + ".gdb"
    try:
        with open(out, "wb") as sink:
            subprocess.run(
                ["gdb", "-nx", "-batch", "-p", str(os.getpid()), "-ex", "set pagination off",
                 "-ex", "thread apply all bt"],
                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.DEVNULL, timeout=120,
            )
    except Exception:
        pass
    try:
        with open(out, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


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
    native = ""
    if os.environ.get("FINIRACE_AUDIT_GDB") == "1" and threads:
        native = _finirace_audit_gdb(path)
    data = {"version": list(sys.version_info[:3]), "main": me.name, "main_ident": me.ident,
            "main_native_id": getattr(me, "native_id", None), "threads": threads, "native": native,
            "maps": maps}
    with open(path, "w") as f:
        json.dump(data, f)


if os.environ.get("FINIRACE_AUDIT_FILE"):
    _finirace_audit_install()
