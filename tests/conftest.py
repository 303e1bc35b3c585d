"""Session set-up and fixtures shared by the whole suite.

Opt-in helpers (nothing here changes a module that does not ask for it):

- ``pytestmark = pytest.mark.one_thread``: the module's tests, and the module-scoped
  fixtures they use, run torch on one thread (tiny models step many times faster on one
  thread on a shared, loaded machine); a single test asks for the ``one_thread`` fixture.
- ``tiny_sentiment_run(name, per_class=..., model={...})``: a sentiment run trained on a
  small review CSV, for the tests that read a run (export, serve).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rnnkit.api import Run

# The words of the tiny review CSVs: a positive and a negative phrase per row.
POSITIVE = ["a joy", "brilliant", "great fun", "warm and witty", "superb"]
NEGATIVE = ["a dull mess", "boring", "awful", "flat and tired", "painfully bad"]


def pytest_configure(config: pytest.Config) -> None:
    """Build rnnkit's fused C++ kernels if they are missing or stale (``scripts/setup.sh``
    normally has), so that every test runs with the ``fused`` backend registered and
    loadable. A failed build is not an error here: the fused tests then fail with its reason.
    """
    from rnnkit.fused._ops import ensure_built

    config.addinivalue_line(
        "markers", "one_thread: the module's tests and module fixtures run torch on one thread"
    )
    ensure_built()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``; the count before is restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def _one_thread_module(request: pytest.FixtureRequest) -> Iterator[None]:
    """One torch thread for a module marked ``pytest.mark.one_thread`` (set up before its
    module fixtures, so a run they train is on one thread too); nothing for the others."""
    if request.node.get_closest_marker("one_thread") is None:
        yield
        return
    with torch_threads(1):
        yield


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for the test that asks for it."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def tiny_sentiment_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    """``train(name, *, per_class, model, epochs=1) -> rnnkit.Run``: a sentiment run on a
    CSV of ``per_class`` positive and ``per_class`` negative reviews ("a joy film 3",
    "boring movie 7" ...), with ``model`` the ``model.*`` keys, no dropout, 2
    naive-Bayes-initialised embedding dimensions, batches of 16, no progress output."""
    import rnnkit

    def train(name: str, *, per_class: int, model: dict[str, Any], epochs: int = 1) -> Run:
        root = tmp_path_factory.mktemp(name)
        rows = ["text,label"]
        rows += [f"{POSITIVE[i % 5]} film {i},positive" for i in range(per_class)]
        rows += [f"{NEGATIVE[i % 5]} movie {i},negative" for i in range(per_class)]
        (root / "r.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        return rnnkit.train(
            "sentiment",
            out=root / "run",
            verbose=False,
            data={"name": str(root / "r.csv"), "nb_init_dims": 2},
            model={**model, "dropout": 0.0},
            train={"epochs": epochs, "batch_size": 16, "progress": False, "tensorboard": False},
        )

    return train
