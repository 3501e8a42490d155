"""The one kind of error a user can fix: it becomes one sentence and exit status 2."""


class UsageError(Exception):
    """A bad flag value, a clashing results folder, an impossible request.

    The message is one sentence saying what was wrong and what to do; the CLI prints it
    without a traceback and exits with status 2.
    """


def must_be(what: str, expected: str, got) -> str:
    """The one wording of a bad value, for every command line of the suite:

        must_be("--models", "one or more of course, strong", "big")
        -> "--models must be one or more of course, strong; got 'big'."

    (argparse's own messages are reworded the same way by `suite.cli.Parser`.)
    """
    return f"{what} must be {expected}; got {got!r}."
