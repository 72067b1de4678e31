# finirace audit: at the start of interpreter finalization (threading._shutdown
# runs first in Py_FinalizeEx), record every live thread: name, daemon flag,
# native id, Python stack; optionally every thread's native stack via gdb.
# Written to $FINIRACE_AUDIT_FILE as JSON.  Python 3.6+.
import os
import sys


def _finirace_audit_install():
    import threading

    original = threading._shutdown

    def _shutdown():
        try:
            _finirace_audit_record(threading)
        except Exception as exc:
            sys.stderr.write("finirace audit: could not record threads: %r\n" % (exc,))
        return original()

    threading._shutdown = _shutdown


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
    native = ""
    if os.environ.get("FINIRACE_AUDIT_GDB") == "1" and threads:
        import subprocess

        try:
            native = subprocess.run(
                ["gdb", "-nx", "-batch", "-p", str(os.getpid()), "-ex", "thread apply all bt"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60,
            ).stdout.decode("utf-8", "replace")
        except Exception:
            native = ""
    data = {"version": list(sys.version_info[:3]), "main": me.name, "threads": threads, "native": native}
    with open(os.environ["FINIRACE_AUDIT_FILE"], "w") as f:
        json.dump(data, f)


if os.environ.get("FINIRACE_AUDIT_FILE"):
    _finirace_audit_install()
