"""The warm process: pytest started and one test file collected, forking a child per rerun.

Why: a rerun in a fresh interpreter pays pytest's start-up and the test
module's imports each time (seconds on a real suite), many times the test.
A child forked from a process that already did both pays neither, and still
ends the way the bug needs: it returns from pytest's run loop, finishes the
session and leaves through ``sys.exit``, so ``Py_FinalizeEx`` runs for real
(atexit handlers, ``threading._shutdown``, module teardown), never
``os._exit``.

Run as ``python -m finirace.reruns.warm FD`` by :mod:`finirace.reruns.forked`
(FD: one end of a socket pair).  Protocol, one JSON line each way:

* the session sends ``{"args": [...], "preload": [...]}``;
  the warm process runs ``pytest.main(args)`` (``args``: the rerun's options
  and the test file), imports ``preload`` (what earlier children imported
  after their test ended: plugins' session-end imports), and once collection
  is done answers ``{"ok": true}``, or
  ``{"ok": false, "why": …}`` when it must not fork: a thread besides the main
  one (a forked child would hold only the calling thread, with any lock
  another thread held locked for ever), a collection error, or no ``fork``;
* ``{"id": I, "run": [names…], "env": {…}, "sitecustomize": PATH or null}``
  with three file descriptors (the rerun's stdout and stderr, and the pipe
  its answers go to): it forks and writes on that pipe ``{"id": I, "pid": N}``
  (``N`` 0 and a ``why`` when it will not fork), then, when the child has
  ended, ``{"id": I, "status": S, "learned": [...]}``
  (``os.waitstatus_to_exitcode``; the modules it imported after its test
  ended, imported here next), and closes it.  Several children run at once
  (the session runs a test's reruns side by side): the loop waits on the
  channel and on each child's pidfd (polled every 20 ms where there is
  none).  Each rerun has its own answer pipe, so the session reads it in
  that rerun's own thread, with no thread of its own left in the pytest
  process that tests count;
* ``{"quit": true}``: the loop returns and the warm process exits.

The child: its own session and process group (so a kill reaches what it
started), the rerun's stdout and stderr put on every descriptor that held the
warm process's (pytest's capture and faulthandler keep copies of them), the
rerun's environment (seed, ``FINIRACE_RUN_TOKEN``, its perturbation's
variables), read again by the preloaded shim, then the perturbation
``sitecustomize`` run in it when the run's level has one, since a fresh
rerun runs it at start-up: its exit
handlers are kept aside and run by one handler this module registers before
pytest is imported, so they run last, as they would in a fresh interpreter.
Then only the one test is left in the session, whose fixtures nothing has set
up yet (the warm process ran no test), and pytest's own loop runs it.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import socket
import sys

_exit_handlers: list[tuple] = []  # the perturbation's, registered in the child
_after_test: dict = {"modules": None, "fd": -1}  # the child: modules loaded when its test ended, and where to tell


def _run_exit_handlers() -> None:
    """Registered before pytest is imported, so it runs last: the perturbation's handlers, last in first out.

    Then, in a child, the modules imported after its test ended (plugins'
    session-end imports) are told to the warm process, which imports them
    before the next fork, so no later rerun pays for them again.
    """
    while _exit_handlers:
        func, args, kwargs = _exit_handlers.pop()
        try:
            func(*args, **kwargs)
        except Exception as exc:  # like atexit: report and go on
            sys.stderr.write(f"finirace: perturbation exit handler failed: {exc!r}\n")
    if _after_test["fd"] >= 0:  # a child: what finalization collects is what a fresh interpreter's would
        import gc

        gc.unfreeze()
    if _after_test["modules"] is not None and _after_test["fd"] >= 0:
        new = sorted(set(sys.modules) - _after_test["modules"])
        try:
            os.write(_after_test["fd"], "\n".join(new).encode())
        except OSError:
            pass


atexit.register(_run_exit_handlers)


class Channel:
    """JSON lines over a Unix socket, with file descriptors passed alongside (``SCM_RIGHTS``).

    Used at both ends: the session's (:mod:`finirace.reruns.forked`) and here.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""
        self._fds: list[int] = []

    def send(self, message: dict, fds: list[int] | tuple[int, ...] = ()) -> None:
        data = json.dumps(message).encode() + b"\n"
        if fds:
            sent = socket.send_fds(self.sock, [data], list(fds))
            data = data[sent:]
        if data:
            self.sock.sendall(data)

    def pending(self) -> bool:
        """Whether a whole message is already here (``receive`` will not block)."""
        return b"\n" in self._buf

    def fill(self) -> bool:
        """Read once from the socket into the buffer; False at end of stream."""
        data, fds, _, _ = socket.recv_fds(self.sock, 65536, 4)
        self._fds += fds
        self._buf += data
        return bool(data)

    def receive(self) -> tuple[dict | None, list[int]]:
        """The next message and the descriptors that came with it; (None, []) at end of stream."""
        while not self.pending():
            if not self.fill():
                return None, []
        line, self._buf = self._buf.split(b"\n", 1)
        fds, self._fds = self._fds, []
        return json.loads(line), fds


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))  # native threads too, not only threading's
    except OSError:
        import threading

        return threading.active_count()


def _same_file(fd: int, st: os.stat_result) -> bool:
    try:
        other = os.fstat(fd)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


def _redirect(out_fd: int, err_fd: int) -> None:
    """Every descriptor on the warm process's stdout or stderr now writes to the rerun's."""
    old_out, old_err = os.fstat(1), os.fstat(2)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in (out_fd, err_fd):
            continue
        if _same_file(fd, old_out):
            os.dup2(out_fd, fd)
        elif _same_file(fd, old_err):
            os.dup2(err_fd, fd)
    os.close(out_fd)
    os.close(err_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def _perturb(path: str) -> None:
    """Run the perturbation ``sitecustomize`` here, its exit handlers kept for :func:`_run_exit_handlers`."""
    import importlib.machinery  # noqa: F401  (what it imports, before sys.path is narrowed)
    import importlib.util  # noqa: F401
    import random  # noqa: F401
    import threading  # noqa: F401
    import time  # noqa: F401

    real = atexit.register
    saved = sys.path[:]

    def keep(func, *args, **kwargs):
        _exit_handlers.append((func, args, kwargs))
        return func

    atexit.register = keep
    # only its own directory on the path: it finds no other sitecustomize to chain to
    # (the warm process already ran the user's at start-up)
    sys.path[:] = [os.path.dirname(path)]
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec")
        exec(code, {"__name__": "finirace_perturbation", "__file__": path})
    finally:
        atexit.register = real
        sys.path[:] = saved


def _reconfigure_shim() -> None:
    """Have the preloaded shim read this run's variables (it read the warm process's at load)."""
    import ctypes

    try:
        ctypes.CDLL(None).finirace_shim_reconfigure()
    except (OSError, AttributeError):
        pass  # no shim preloaded (no gcc): as a fresh run without it


def _tell(fd: int, message: dict) -> None:
    """One JSON line on a run's answer pipe; a session that stopped listening is no error here."""
    data = json.dumps(message).encode() + b"\n"
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass


class _Child:
    """A rerun forked and not yet reaped: its pidfd (or -1: polled), and what it tells through its pipe."""

    def __init__(self, rid, pid: int, learn: int, answer: int) -> None:
        self.id = rid
        self.pid = pid
        self.answer = answer  # where this run's answers go (the session reads it in the rerun's own thread)
        self.learn = learn  # read as it comes: a child with much to tell never blocks on a full pipe
        os.set_blocking(learn, False)
        self.told = b""
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = -1

    def read(self, sel) -> None:
        """Read what the child wrote; at end of stream stop listening."""
        while self.learn >= 0:
            try:
                data = os.read(self.learn, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                sel.unregister(self.learn)
                os.close(self.learn)
                self.learn = -1
                return
            self.told += data

    def finish(self, sel) -> list[str]:
        """The child is reaped: the rest of what it told (what it imported after its test), its fds closed.

        A process the child left may still hold the pipe: what is there now is
        all the child wrote, since it wrote before it ended.
        """
        self.read(sel)
        if self.learn >= 0:
            sel.unregister(self.learn)
        if self.pidfd >= 0:
            sel.unregister(self.pidfd)
        self.close()
        return self.told.decode(errors="replace").split()

    def close(self) -> None:
        for fd in (self.learn, self.pidfd, self.answer):
            if fd >= 0:
                os.close(fd)
        self.learn = self.pidfd = self.answer = -1


class _Server:
    """The pytest plugin of the warm process: after collection, serve forks instead of running tests."""

    def __init__(self, channel: Channel, preload=()) -> None:
        from finirace.proc.containment import die_with_parent

        self.channel = channel
        self.preload = list(preload)  # what earlier warm processes' children imported after their test
        self.die_with_parent = die_with_parent  # imported (ctypes loaded) before any fork

    def pytest_runtestloop(self, session):
        from finirace.reruns.target import names_of

        if not session.testsfailed:
            self._warm_up(self.preload)
        why = ""
        if session.testsfailed:
            why = f"{session.testsfailed} error(s) while collecting"
        elif not hasattr(os, "fork"):
            why = "this platform cannot fork"
        elif _threads() > 1:
            why = f"{_threads()} threads after collection (a forked child would keep only one)"
        self.channel.send({"ok": not why, "why": why, "items": len(session.items)})
        if why:
            return True
        items = {names_of(item): item for item in session.items}
        self._serve(session, items)
        if self.in_child:
            return None  # pytest's own loop runs the one test left in the session
        return True

    def _serve(self, session, items: dict) -> None:
        """Fork a child per ``run`` message, several at once, and tell each child's end as it comes."""
        sel = selectors.DefaultSelector()
        sel.register(self.channel.sock, selectors.EVENT_READ, None)
        children: dict[int, _Child] = {}
        listening = True
        while listening or children:
            while listening and self.channel.pending():
                message, fds = self.channel.receive()
                if message is None or message.get("quit"):
                    listening = False
                    break
                child = self._fork(session, items, message, fds, children, sel)
                if self.in_child:
                    return
                if child is not None:
                    children[child.pid] = child
            if not listening and not children:
                break
            polled = any(c.pidfd < 0 for c in children.values())
            for key, _ in sel.select(0.02 if polled else None):
                if key.data is None:
                    if not self.channel.fill():  # the session is gone: its children die with it
                        return
                elif key.fd == key.data.learn:
                    key.data.read(sel)
                else:
                    self._ended(key.data, 0, children, sel)
            for child in [c for c in children.values() if c.pidfd < 0]:
                self._ended(child, os.WNOHANG, children, sel)
            if not listening:
                return  # quit: the session waits for no child any more

    def _fork(self, session, items: dict, message: dict, fds: list[int], children: dict, sel):
        """Fork the rerun ``message`` asks for; its :class:`_Child`, or None (and the session told why)."""
        rid = message.get("id")
        why = ""
        item = items.get(tuple(message.get("run", ())))
        if _threads() > 1:  # something the warm-up imported started one
            why = f"{_threads()} threads after warming up"
        elif item is None:
            why = "no such test in the warm process"
        elif len(fds) != 3:
            why = "no fds"
        if why:
            if len(fds) == 3:
                _tell(fds[2], {"id": rid, "pid": 0, "why": why})
            for fd in fds:
                os.close(fd)
            return None
        import gc

        sys.stdout.flush()
        sys.stderr.flush()
        # the warm objects out of the collector's sight while the child runs its test, so
        # pytest's gc.collect() calls neither walk nor copy them; unfrozen before finalization
        gc.freeze()
        learn_r, learn_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(learn_r)
            sel.close()  # the warm process's bookkeeping is none of the child's
            for other in children.values():
                other.close()
            _after_test["fd"] = learn_w
            self.in_child = True
            os.close(fds[2])
            self._child(session, item, message.get("env", {}), message.get("sitecustomize"), fds[0], fds[1])
            return None
        os.close(learn_w)
        os.close(fds[0])
        os.close(fds[1])
        child = _Child(rid, pid, learn_r, fds[2])
        sel.register(learn_r, selectors.EVENT_READ, child)
        if child.pidfd >= 0:
            sel.register(child.pidfd, selectors.EVENT_READ, child)
        _tell(child.answer, {"id": rid, "pid": pid})
        return child

    def _ended(self, child: "_Child", flags: int, children: dict, sel) -> None:
        """Reap ``child`` if it ended (``flags``: ``os.WNOHANG`` to only look); tell the session; warm up."""
        if children.get(child.pid) is not child:  # reaped already (a stale event of the same select)
            return
        pid, status = os.waitpid(child.pid, flags)
        if pid == 0:
            return
        del children[child.pid]
        answer, child.answer = child.answer, -1
        learned = child.finish(sel)
        _tell(answer, {"id": child.id, "status": os.waitstatus_to_exitcode(status), "learned": learned})
        os.close(answer)
        self._warm_up(learned)

    in_child = False

    def pytest_runtest_logfinish(self, nodeid, location):
        if self.in_child:
            _after_test["modules"] = set(sys.modules)

    @staticmethod
    def _warm_up(names) -> None:
        """Import modules now, so the next child finds them loaded."""
        import importlib

        for name in names:
            if name not in sys.modules:
                try:
                    importlib.import_module(name)
                except BaseException:  # noqa: BLE001 - a module that fails here fails in the child as before
                    pass

    def _child(self, session, item, env: dict, sitecustomize: str | None, out_fd: int, err_fd: int) -> None:
        hook = self.die_with_parent(os.getppid())
        if hook is not None:
            hook()
        self.channel.sock.close()
        os.setsid()
        _redirect(out_fd, err_fd)
        os.environ.update(env)
        _reconfigure_shim()
        if sitecustomize:
            try:
                _perturb(sitecustomize)
            except Exception as exc:  # as in a fresh interpreter: a perturbation never breaks the target
                sys.stderr.write(f"finirace: perturbation not applied: {exc!r}\n")
        session.items[:] = [item]
        session.testscollected = 1  # pytest's progress and summary count this test alone
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        start = getattr(reporter, "_session_start", None)  # its "in 0.05s" starts now, not at the warm start
        if start is not None:
            try:
                reporter._session_start = type(start)()
            except Exception:  # noqa: BLE001 - another pytest: only the printed duration is off
                pass


def main(argv: list[str]) -> int:
    channel = Channel(socket.socket(fileno=int(argv[0])))
    config, _ = channel.receive()
    if config is None:
        return 2
    import pytest

    return int(pytest.main(config["args"], plugins=[_Server(channel, config.get("preload", ()))]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
