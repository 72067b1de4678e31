"""Errors a user can cause, which finirace reports as one line and exit status 2."""


class UsageError(Exception):
    """Bad input from the user: a malformed file, an unknown name, a bad option.

    Its message is the whole report: one line that names the file, thread or
    option at fault.  ``cli.main`` prints it and exits with status 2.
    """
