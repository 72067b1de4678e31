"""3.9–3.13: a late thread is killed with ``pthread_exit`` inside ``take_gil``.

Changed from the 2019 branch and its proposed wrapper, neither of which was
released: bpo-39877 made ``take_gil`` ask the runtime
(``_PyRuntime._finalizing``), not the thread state, whether to give up: on
entry, whenever its wait times out, and after taking the GIL.  Giving up is
``PyThread_exit_thread``; C++ code that unwinds through a ``noexcept`` frame
then calls ``std::terminate`` (gh-87135).  Finalization frees the other thread
states early (``_PyThreadState_DeleteExcept``), and ``take_gil`` reads
``tstate->interp`` right after its entry check.  gh-104690 (3.12+) refuses new
threads during finalization; the model keeps 3.9–3.11's behaviour here.
"""

from finirace.model.variant import Fate
from finirace.model.variants.wrapper import VARIANT as WRAPPER

VARIANT = WRAPPER.then(
    name="exit",
    title="pthread_exit era",
    versions="3.9–3.13",
    released=((3, 9), (3, 10), (3, 11), (3, 12), (3, 13)),
    summary="a late thread is killed by PyThread_exit_thread inside take_gil",
    refs=("bpo-39877", "gh-87135"),
    source="CPython 3.9 to 3.13",
    fate=Fate("killed with pthread_exit in take_gil", cxx="C++ frames on its stack: std::terminate, abort"),
    restore_reads_tstate=False,
    wrapper=False,
    take_gil_checks_runtime=True,
    take_gil_reads_tstate=True,
    frees_others_early=True,
)
