"""The pytest plugin's reruns: each passing test rerun alone, each rerun a real interpreter exit.

:mod:`~finirace.reruns.target` names the test and judges a rerun's exit,
:mod:`~finirace.reruns.rounds` runs and stores one test's reruns, and
:mod:`~finirace.reruns.report` turns a round into the words the session
shows.  The plugin itself (:mod:`finirace.pytest_plugin`) only wires them
into pytest's hooks.
"""
