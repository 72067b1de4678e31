"""Daemon threads still computing in the extension when the program exits.

    python run.py MODULE [N] [THREADS]

MODULE is matmul_ext or matmul_pb, found on PYTHONPATH (the unguarded or the
guarded build).  Each daemon thread multiplies N x N matrices in a loop with the
GIL released; main exits after a few milliseconds, so finalization meets them.
"""

import importlib
import sys
import threading
import time

module = importlib.import_module(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 120
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 4
started = threading.Barrier(threads + 1)


def work():
    started.wait()
    while True:
        module.matmul(n)


for _ in range(threads):
    threading.Thread(target=work, daemon=True).start()
started.wait()
time.sleep(0.02)
