"""finirace: interpreter-finalization races in CPython, found, reproduced, explained."""

__version__ = "0.1.0"
