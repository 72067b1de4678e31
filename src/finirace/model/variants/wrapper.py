"""The wrapper fix proposed on bpo-33608 (never released; model only).

Changed from the 2019 branch it was proposed for: threads hold
``struct { PyThreadState *ts; }`` instead of the bare pointer and finalization
sets ``ts = NULL`` before freeing the state, so a waking thread can tell its
state is gone and exit.  The check and the use are two reads: when
finalization nulls and frees between them the use still reads freed memory.
The model has no knowledge of that residual race; exploration finds it.
"""

from finirace.model.variant import Fate
from finirace.model.variants.prefix import VARIANT as PREFIX

VARIANT = PREFIX.then(
    name="wrapper",
    title="wrapper patch",
    versions="bpo-33608 proposal (unreleased)",
    released=(),
    summary="threads check a nulled wrapper before using their state",
    refs=("bpo-33608",),
    source="the patch proposed on bpo-33608, on the late-2019 branch",
    fate=Fate("exits once finalization nulled its wrapper; checked just before the free, it reads freed memory"),
    wrapper=True,
)
