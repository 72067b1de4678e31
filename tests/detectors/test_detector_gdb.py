from __future__ import annotations

import os
import re
import sys

import pytest

from finirace import detectors, proc
from finirace.outcome import RunKind

PY = sys.executable


def test_crash_under_gdb_gives_the_faulting_stack_and_every_thread(programs, tmp_path):
    det = detectors.get("gdb")
    code = (
        "import threading, time, ctypes\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True, name='sleeper').start()\n"
        "time.sleep(0.2); ctypes.string_at(0)\n"
    )
    prepared = det.prepare([PY, "-c", code], None, tmp_path)
    assert prepared.argv[:3] == ("gdb", "-nx", "-batch")
    found = det.interpret(prepared, proc.run(prepared.argv, env=prepared.env, timeout=120))
    assert found.outcome.kind is RunKind.CRASH and found.outcome.signal == "SIGSEGV"
    assert found.faulting is not None
    assert "string_at" in found.faulting.functions()
    assert len(found.native) >= 2
    assert found.outcome.reason == found.faulting.frames[0].function
    assert not proc.find_members(prepared.env.get("FINIRACE_RUN_TOKEN", "none"), -1)


def test_ordinary_exit_under_gdb_keeps_the_exit_status(tmp_path):
    det = detectors.get("gdb")
    prepared = det.prepare([PY, "-c", "import sys; sys.exit(9)"], None, tmp_path)
    out = det.interpret(prepared, proc.run(prepared.argv, env=prepared.env, timeout=120)).outcome
    assert out.kind is RunKind.FAILED and out.exit_code == 9  # gdb prints it in octal: read back as 9


def test_attach_to_a_hung_process_on_timeout():
    code = (
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(600,)).start()\n"
        "print('ready', flush=True); time.sleep(600)\n"
    )
    r = proc.run([PY, "-c", code], timeout=1.5, on_timeout=detectors.attach_backtraces)
    assert r.timed_out
    threads = detectors.parse_backtraces(r.timeout_note or "")
    assert len(threads) == 2, r.timeout_note
    assert all(t.frames for t in threads) and threads[0].lwp is not None
    assert not proc.find_members(r.token, -1)


def test_parse_backtraces_reads_gdb_lines():
    text = (
        'Thread 2 (Thread 0x7f00 (LWP 42) "worker"):\n'
        "#0  0x00007f00aa in take_gil (tstate=0x5555) at Python/ceval_gil.c:215\n"
        "#1  PyEval_RestoreThread (tstate=0x1) at Python/ceval.c:500\n"
        "#2  0x00007f00bb in ?? () from /lib/x86_64-linux-gnu/libc.so.6\n"
        "\n"
        'Thread 1 (Thread 0x7f01 (LWP 41) "python3"):\n'
        "#0  Py_FinalizeEx () at Python/pylifecycle.c:1700\n"
    )
    t2, t1 = detectors.parse_backtraces(text)
    assert (t2.number, t2.lwp, t2.name) == (2, 42, "worker")
    assert t2.functions() == ("take_gil", "PyEval_RestoreThread", "??")
    assert t2.frames[0].file == "Python/ceval_gil.c" and t2.frames[0].line == 215
    assert t2.frames[2].library == "/lib/x86_64-linux-gnu/libc.so.6"
    assert t1.functions() == ("Py_FinalizeEx",)


def test_unknown_detector_names_the_known_ones():
    try:
        detectors.get("asan")
    except KeyError as exc:
        assert "plain" in str(exc) and "valgrind" in str(exc)
    else:
        raise AssertionError("no error for an unknown detector")


def test_a_timed_out_run_under_gdb_keeps_every_threads_backtrace(cli, tmp_path):
    """gdb cannot attach to a program gdb already runs: the detector interrupts it instead."""
    import json

    hang = tmp_path / "hang.py"
    hang.write_text("import threading, time\n"
                    "def spin():\n    while True: time.sleep(0.05)\n"
                    "threading.Thread(target=spin, name='spinner').start()\n")
    for detector in ("plain", "gdb"):
        p = cli("stress", "--detector", detector, "--runs", "1", "-j", "1", "--timeout", "3", "--campaign", detector,
                "--", PY, hang)
        assert p.returncode == 1, p.stderr
        (bucket,) = json.loads(cli("report", detector, "--json").stdout)["buckets"]
        assert bucket["kind"] == "timeout"
        trace = bucket["native_backtrace"]
        assert "Py_FinalizeEx" in trace and len(detectors.parse_backtraces(trace)) >= 2, (detector, trace[-3000:])


PY310 = "/root/.pyenv/versions/3.10.13/bin/python3.10"


@pytest.mark.skipif(not os.path.exists(PY310), reason="needs the installed CPython 3.10.13 (it ships a -gdb.py gdb declines)")
def test_hang_backtraces_hold_stacks_only_no_auto_load_noise():
    code = "import threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\ntime.sleep(600)\n"
    r = proc.run([PY310, "-c", code], timeout=1.5, on_timeout=detectors.attach_backtraces)
    note = r.timeout_note or ""
    assert len(detectors.parse_backtraces(note)) == 2, note
    assert "auto-load" not in note and "safe-path" not in note
    lines = [ln for ln in note.splitlines() if ln.strip()]
    assert lines[0].startswith("Thread ") and all(ln.startswith(("Thread ", "#")) for ln in lines)


def test_stack_head_ends_before_a_whole_thread_or_frame():
    from finirace.detectors.backtrace import stack_head

    text = "".join(f"#{i}  0x{i:016x} in f{i} (a=1,\n    b=2) at x.c:{i}\n" for i in range(40))
    for size in (100, 333, 1000):
        head = stack_head(text, size)
        assert len(head) <= size and text.startswith(head) and head.startswith("#0 ")
        assert text[len(head):].startswith("#")  # what follows the head is a whole frame: none was cut
    assert stack_head(text, len(text)) == text


def test_stack_tail_starts_at_a_whole_thread_or_frame():
    from finirace.detectors.backtrace import stack_tail

    frames = "".join(f"#{i}  0x00007f00{i:04x} in function_number_{i} (arg=0x1) at file.c:{i}\n" for i in range(40))
    text = 'Thread 2 (Thread 0x7f00 (LWP 42) "worker"):\n' + frames + '\nThread 1 (Thread 0x7f01 (LWP 41) "main"):\n' + frames
    for size in (100, 1000, 2500, 3000):
        tail = stack_tail(text, size)
        assert len(tail) <= size and text.endswith(tail)
        assert tail.startswith(("Thread ", "#")), tail[:40]
    assert stack_tail(text, len(text) // 2 + 200).startswith("Thread 1 ")  # a heading in the tail wins


DEEP_CRASH_C = r"""
__attribute__((noinline)) void crash_here(volatile int *p) { *p = 1; }
__attribute__((noinline)) void middle(volatile int *p) { crash_here(p); __asm__ volatile(""); }
__attribute__((noinline)) void outer(void) { middle((volatile int *)8); __asm__ volatile(""); }
"""


def test_the_same_crash_has_the_same_signature_under_plain_and_gdb(cli, tmp_path):
    import json
    import subprocess

    src = tmp_path / "deep.c"
    src.write_text(DEEP_CRASH_C)
    lib = tmp_path / "libdeep.so"
    subprocess.run(["gcc", "-g", "-O1", "-shared", "-fPIC", str(src), "-o", str(lib)], check=True)
    prog = tmp_path / "prog.py"
    prog.write_text(f"import ctypes\nctypes.CDLL({str(lib)!r}).outer()\n")
    signatures = {}
    for detector in ("plain", "gdb"):
        p = cli("stress", "--detector", detector, "--runs", "1", "-j", "1", "--perturb", "none", "--campaign",
                f"deep-{detector}", "--", PY, prog)
        assert p.returncode == 1, p.stderr
        (bucket,) = json.loads(cli("report", f"deep-{detector}", "--json").stdout)["buckets"]
        signatures[detector] = bucket["signature"]
    assert signatures["plain"] == signatures["gdb"] == "crash SIGSEGV | crash_here | middle | outer", signatures
    # the report shows a crash's stack from its head: the crashing frame, not the end of gdb's last thread
    shown = cli("report", "deep-gdb").stdout
    assert len(json.loads(cli("report", "deep-gdb", "--json").stdout)["buckets"][0]["native_backtrace"]) > 3000
    assert re.search(r"^#0 .*crash_here", shown, re.M), shown


def test_parse_mappings_reads_gdb_info_proc_mappings_with_and_without_perms():
    from finirace.detectors.gdb import parse_mappings

    text = """process 4242
Mapped address spaces:

          Start Addr           End Addr       Size     Offset  Perms  objfile
      0x7ffff7143000     0x7ffff7145000     0x2000        0x0  r--p   /usr/lib/x86_64-linux-gnu/libffi.so.8.1.2
      0x7ffff7145000     0x7ffff714b000     0x6000     0x2000  r-xp   /opt/my libs/libffi.so
      0x555555559000     0x5555556e8000   0x18f000        0x0  rw-p   [heap]
      0x7ffff7000000     0x7ffff7001000     0x1000        0x0  rw-p
      0x7ffff6000000     0x7ffff6004000     0x4000     0x3000 /old/gdb/libx.so
"""
    maps = parse_mappings(text)
    assert [(m.start, m.offset, m.path, m.perms) for m in maps] == [
        (0x7ffff7143000, 0, "/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2", "r--p"),
        (0x7ffff7145000, 0x2000, "/opt/my libs/libffi.so", "r-xp"),
        (0x555555559000, 0, "[heap]", "rw-p"),
        (0x7ffff7000000, 0, "", "rw-p"),
        (0x7ffff6000000, 0x3000, "/old/gdb/libx.so", ""),
    ]


def test_a_versioned_library_loaded_by_its_soname_has_one_signature_under_plain_and_gdb(cli, tmp_path):
    """The shim names the library by the link it was loaded as (libdeepv.so.1), gdb's mappings by the file
    (libdeepv.so.1.2.3): the frames it cannot name must still read alike, or one crash makes two buckets."""
    import json
    import subprocess

    src = tmp_path / "deep.c"
    src.write_text(DEEP_CRASH_C.replace("void outer", '__attribute__((visibility("default"))) void outer'))
    real = tmp_path / "libdeepv.so.1.2.3"
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-fvisibility=hidden", "-s", str(src), "-o", str(real)],
                   check=True)
    (tmp_path / "libdeepv.so.1").symlink_to(real.name)
    prog = tmp_path / "prog.py"
    prog.write_text(f"import ctypes\nctypes.CDLL({str(tmp_path / 'libdeepv.so.1')!r}).outer()\n")
    signatures = {}
    for detector in ("plain", "gdb"):
        p = cli("stress", "--detector", detector, "--runs", "1", "-j", "1", "--perturb", "none", "--campaign",
                f"v-{detector}", "--", PY, prog)
        assert p.returncode == 1, p.stderr
        (bucket,) = json.loads(cli("report", f"v-{detector}", "--json").stdout)["buckets"]
        signatures[detector] = bucket["signature"]
    assert signatures["plain"] == signatures["gdb"], signatures
    assert "libdeepv.so.1+?" in signatures["gdb"] and "1.2.3" not in signatures["gdb"], signatures
