"""The lab: a scenario reproduced on real interpreters, ordered by pipes, never by sleeps.

``interpreters`` finds and probes them (version, build, embed flags);
``codegen`` makes a scenario into a C or C++ program with a marker for every
step; ``build`` compiles it with the interpreter's own flags into a cache keyed
by content; ``runner`` runs it once under a detector and reads its markers into
an outcome; ``session`` runs many at once.  Comparing the outcome with the
model is :mod:`finirace.conformance`'s job, above both.
"""
