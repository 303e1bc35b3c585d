"""One module per ``rnnkit`` command; see :mod:`rnnkit.tools.cli`."""
