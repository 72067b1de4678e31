"""finirace: interpreter-finalization races in CPython, found, reproduced, explained.

PYTEST_DONT_REWRITE: a pytest rerun's warm process (finirace.reruns.warm) imports
this package before pytest marks its plugins for assertion rewriting, and pytest
would then warn "Module already imported so cannot be rewritten; finirace" in every
rerun's output; finirace's own code needs no rewritten asserts.
"""

__version__ = "0.1.0"
