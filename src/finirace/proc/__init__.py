"""Running target processes: user commands (``stress``, ``audit``) and generated programs (``lab``).

Three jobs, one module each:

* :mod:`~finirace.proc.runner`: :func:`run` one process, never through a shell,
  never raising for what the target does, and describe how it ended
  (:class:`ProcResult`);
* :mod:`~finirace.proc.output`: keep its output bounded (:class:`BoundedOutput`);
* :mod:`~finirace.proc.containment`: leave nothing behind: find, kill and reap
  every process the run started (:func:`sweep`).

Callers use what is re-exported here.
"""

from finirace.proc.containment import TOKEN_ENV, become_subreaper, find_members, sweep
from finirace.proc.output import DEFAULT_HEAD, DEFAULT_TAIL, BoundedOutput
from finirace.proc.runner import ProcResult, run, signal_name

__all__ = ["TOKEN_ENV", "DEFAULT_HEAD", "DEFAULT_TAIL", "BoundedOutput", "ProcResult", "become_subreaper",
           "find_members", "run", "signal_name", "sweep"]
