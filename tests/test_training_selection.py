"""Model selection and the stop reason: accuracy ties on a small validation split go to the
lower validation loss, and a run that reached its epoch limit says "epochs"."""

from __future__ import annotations

import pytest
from test_training_fake import FakeTask, fake_task  # noqa: F401 (fixture)

from rnnkit import runs
from rnnkit.tasks.resolve import resolve_config
from rnnkit.training import loop

pytestmark = pytest.mark.usefixtures("fake_task")


class Scripted(FakeTask):
    """The fake task whose validation metrics follow a script, one entry per epoch."""

    script: list[tuple[float, float]] = []  # (accuracy, loss) per epoch

    def evaluate(self, model, split):
        if split != "val":
            return super().evaluate(model, split)
        epoch = len(self.seen)
        self.seen.append(epoch)
        accuracy, loss = self.script[epoch]
        return {"loss": loss, "accuracy": accuracy}


def _fit(tmp_path, script, *overrides):
    task = Scripted(resolve_config("fake", overrides=list(overrides)))
    task.script, task.seen = script, []
    out = tmp_path / "run"
    out.mkdir(parents=True)
    return out, loop.fit(task, out, verbose=False)


def test_accuracy_ties_are_broken_by_the_validation_loss(tmp_path):
    # 150-review validation split: the accuracy ties in every epoch, the loss does not
    script = [(0.6, 0.69), (0.6, 0.52), (0.6, 0.55), (0.6, 0.60), (0.6, 0.50)]
    out, report = _fit(tmp_path, script, "train.epochs=5", "train.early_stopping=2")
    rows = runs.read_metrics(out)
    assert report["best_epoch"] == 2 and [r["best"] for r in rows] == [True, True, False, False]
    assert report["stopped"] == "early_stopping" and report["epochs"] == 4
    assert report["val"]["loss"] == 0.52
    # a better accuracy still wins over a lower loss
    _, report = _fit(tmp_path / "b", [(0.6, 0.5), (0.7, 0.9), (0.7, 0.95)], "train.epochs=3")
    assert report["best_epoch"] == 2


def test_a_run_that_reached_its_epoch_limit_says_epochs(tmp_path):
    # patience runs out in the last epoch: the limit is why training ended
    worse = [(0.7, 0.5), (0.6, 0.6), (0.6, 0.7), (0.6, 0.8)]
    _, report = _fit(tmp_path, worse, "train.epochs=3", "train.early_stopping=2")
    assert report["stopped"] == "epochs" and report["epochs"] == 3
    _, report = _fit(tmp_path / "b", worse, "train.epochs=4", "train.early_stopping=2")
    assert report["stopped"] == "early_stopping" and report["epochs"] == 3
    _, report = _fit(tmp_path / "c", worse, "train.epochs=4", "train.early_stopping=0")
    assert report["stopped"] == "epochs" and report["epochs"] == 4
