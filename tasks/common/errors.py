"""The one kind of error a user can fix: it becomes one sentence and exit status 2."""


class UsageError(Exception):
    """A bad flag value, a clashing results folder, an impossible request.

    The message is one sentence saying what was wrong and what to do; the CLI prints it
    without a traceback and exits with status 2.
    """
