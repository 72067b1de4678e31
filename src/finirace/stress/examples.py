"""Known-bad target programs, for trying stress out and for measuring it.

``DAEMON_AT_EXIT`` is the daemon-at-exit case of the catalog: daemon threads
looping in GIL-releasing C calls (zlib, hashlib, bz2) while the main thread
exits.  On 3.10.13 it segfaults in ``take_gil`` after finalization freed the
interpreter, rarely on its own and often under stress's default perturbation.
The benchmark and the tests run this one text, so both measure the same bug.
``DAEMON_AT_EXIT_SQLITE`` is the same shape with a sqlite3 query in place of
bz2 (four daemon threads in zlib, hashlib and sqlite3), the program the
machine-load benchmark (``bench/stress_vs_loop.py``) runs.
"""

DAEMON_AT_EXIT = """
import threading, zlib, hashlib, bz2
def z():
    while True: zlib.compress(b'x' * 200000)
def h():
    while True: hashlib.sha256(b'y' * 400000).digest()
def b():
    while True: bz2.compress(b'z' * 100000)
for f in (z, h, b, z):
    threading.Thread(target=f, daemon=True).start()
"""

DAEMON_AT_EXIT_SQLITE = """
import threading, zlib, hashlib, sqlite3
def z():
    while True: zlib.compress(b'x' * 200000)
def h():
    while True: hashlib.sha256(b'y' * 400000).digest()
def s():
    con = sqlite3.connect(':memory:', check_same_thread=False)
    q = 'with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000) select count(*) from c'
    while True: con.execute(q).fetchall()
for f in (z, h, s, z):
    threading.Thread(target=f, daemon=True).start()
"""
