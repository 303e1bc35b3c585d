"""The engine's one entry, rnnkit.training.fit, with callbacks; the gradient-flow hook."""

from __future__ import annotations

import pytest
from test_training_fake import fake_task  # noqa: F401 (fixture)

from rnnkit import runs
from rnnkit.errors import RnnkitError
from rnnkit.tasks import get_task_class
from rnnkit.tasks.resolve import resolve_config
from rnnkit.training import Callback, Session, fit

pytestmark = pytest.mark.usefixtures("fake_task")


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_fit_start(self, session):
        assert isinstance(session, Session) and session.state.epoch == 0
        self.calls.append(("fit_start",))

    def on_epoch_start(self, session, epoch):
        self.calls.append(("epoch_start", epoch))

    def on_batch_start(self, session, batch):
        if self.calls[-1][0] != "batch":
            self.calls.append(("batch",))

    def on_epoch_end(self, session, row):
        assert (session.run_dir / runs.CHECKPOINT).is_file()  # checkpoint written before
        self.calls.append(("epoch_end", row["epoch"]))

    def on_fit_end(self, session, report):
        assert (session.run_dir / runs.REPORT).is_file()
        self.calls.append(("fit_end", report["epochs"]))


def test_fit_calls_every_hook_in_order(tmp_path):
    cfg = resolve_config("fake", overrides=["train.epochs=2"])
    rec = Recorder()
    run_dir = runs.create_run_dir(tmp_path / "run", "fake")
    report = fit(get_task_class("fake")(cfg), run_dir, verbose=False, callbacks=[rec])
    assert report["epochs"] == 2
    assert rec.calls == [
        ("fit_start",),
        ("epoch_start", 1), ("batch",), ("epoch_end", 1),
        ("epoch_start", 2), ("batch",), ("epoch_end", 2),
        ("fit_end", 2),
    ]  # fmt: skip


def test_gradflow_on_a_task_without_a_probe_is_refused(tmp_path):
    cfg = resolve_config("fake", overrides=["train.gradflow=true"])
    run_dir = runs.create_run_dir(tmp_path / "run", "fake")
    with pytest.raises(RnnkitError, match="train.gradflow: the fake task does not expose"):
        fit(get_task_class("fake")(cfg), run_dir, verbose=False)


@pytest.mark.parametrize(
    ("name", "has"),
    [("adding", True), ("copy", True), ("selective_copy", True), ("smnist", True),
     ("charlm", True), ("sentiment", False), ("forecast", False)],
)  # fmt: skip
def test_the_tasks_with_a_gradient_flow_probe(name, has):
    assert get_task_class(name).has_gradflow_probe() is has
