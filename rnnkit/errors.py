"""The one error type users see.

Anything wrong with what a user gave us (a file, a config key, a request) is raised as
:class:`RnnkitError` (or one of the built-in ``ValueError``/``TypeError`` for tensor
arguments of the layers). The command line prints its message on one line and exits
with code 2, without a traceback.
"""

from __future__ import annotations


class RnnkitError(ValueError):
    """A problem with the user's input: the message names what was wrong and what was expected."""


def positive_env(name: str, default: float) -> float:
    """The positive number in environment variable ``name``, or ``default`` when it is unset
    or empty; anything else is refused naming the variable.

    >>> positive_env("RNNKIT_UNSET_FOR_THIS_EXAMPLE", 30.0)
    30.0
    """
    import os

    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:  # also refuses nan
        raise RnnkitError(f"{name}={raw!r}: expected a positive number")
    return value
