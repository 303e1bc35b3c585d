"""Session set-up shared by the whole suite."""

from __future__ import annotations


def pytest_configure(config: object) -> None:
    """Build rnnkit's fused C++ kernels if they are missing or stale (``scripts/setup.sh``
    normally has), so that every test runs with the ``fused`` backend registered and
    loadable. A failed build is not an error here: the fused tests then fail with its reason.
    """
    from rnnkit.fused._ops import ensure_built

    ensure_built()
