"""One module per ``finirace`` sub-command: ``register(subparsers)`` and a ``run``."""
