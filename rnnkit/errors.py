"""The one error type users see.

Anything wrong with what a user gave us (a file, a config key, a request) is raised as
:class:`RnnkitError` (or one of the built-in ``ValueError``/``TypeError`` for tensor
arguments of the layers). The command line prints its message on one line and exits
with code 2, without a traceback.
"""

from __future__ import annotations


class RnnkitError(ValueError):
    """A problem with the user's input: the message names what was wrong and what was expected."""
