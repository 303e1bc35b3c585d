"""The sequence estimators: hyper-parameters are config keys, every input form gives the
same numbers, a fitted estimator saved with run_dir comes back, bad input is refused."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rnnkit.data.arrays import pad
from rnnkit.errors import RnnkitError
from rnnkit.estimators import SequenceClassifier, SequenceRegressor, load
from rnnkit.tasks.resolve import default_config
from rnnkit.tools.cli import main

TINY = {"hidden_size": 8, "embedding_dim": 8, "lr": 0.02}


def _sequences(n: int = 60, features: int = 2, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(3, 12)), features)) for _ in range(n)]


@pytest.fixture(scope="module")
def data():
    X = _sequences()
    y = np.array(["up" if x[:, 0].mean() > 0 else "down" for x in X])
    return X, y


@pytest.fixture(scope="module")
def fitted(data, tmp_path_factory):
    X, y = data
    run_dir = tmp_path_factory.mktemp("runs") / "clf"
    clf = SequenceClassifier(**TINY, epochs=3).fit(X, y, run_dir=run_dir)
    return clf, run_dir


@pytest.mark.parametrize("cls", [SequenceClassifier, SequenceRegressor])
def test_parameters_are_the_config_keys_with_their_defaults(cls):
    cfg = default_config(cls.task_name)
    params = cls().get_params()
    assert params.pop("verbose") is False
    assert set(params) == set(cls.param_keys())
    assert params == cls.params_from_config(cfg)


def test_a_bad_hyper_parameter_is_refused_at_fit_naming_it(data):
    X, y = data
    est = SequenceClassifier(hidden_size="big")  # nothing is checked in __init__
    with pytest.raises(RnnkitError, match=r"'hidden_size' \(model.hidden_size\): expected an int"):
        est.fit(X, y)
    with pytest.raises(RnnkitError, match="model.cell: 'tree' is not one of"):
        SequenceClassifier(cell="tree").fit(X, y)


def test_classifier_fits_with_string_labels_and_predicts_them(fitted, data):
    clf, _ = fitted
    X, y = data
    assert clf.classes_.tolist() == ["down", "up"]
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(1), 1.0)
    assert set(clf.predict(X)) <= {"down", "up"}
    assert 1 <= len(clf.history_) <= 3 and "val.accuracy" in clf.history_[0]
    assert clf.n_features_in_ == 2


def test_variable_length_list_equals_padded_with_lengths(fitted, data):
    clf, _ = fitted
    X, _ = data
    padded, lengths = pad([x.astype(np.float32) for x in X])
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(padded, lengths=lengths))
    # padding is never read: garbage in the padded steps changes nothing
    noisy = padded.copy()
    for i, n in enumerate(lengths):
        noisy[i, n:] = 1e3
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(noisy, lengths=lengths))


def test_saved_run_loads_back_and_predicts_the_same_numbers(fitted, data, capsys):
    clf, run_dir = fitted
    X, _ = data
    back = load(run_dir)
    assert isinstance(back, SequenceClassifier) and back.get_params() == clf.get_params()
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.classes_.tolist() == clf.classes_.tolist()
    # the rnnkit commands work on the run directory
    assert main(["evaluate", str(run_dir), "--split", "val", "--json"]) == 0
    assert "accuracy" in capsys.readouterr().out
    text = ",".join(map(str, X[0][:, 0])) + ":" + ",".join(map(str, X[0][:, 1]))
    assert main(["predict", "--json", str(run_dir), "--", text]) == 0
    out = capsys.readouterr().out
    assert clf.predict(X[:1])[0] in out
    assert main(["evaluate", str(run_dir)]) == 2  # no test split was held out
    assert "the test split is empty" in capsys.readouterr().err


def test_regressor_learns_a_sum_over_variable_lengths():
    X = _sequences(n=80, features=1, seed=1)
    y = np.array([x.sum() for x in X])
    reg = SequenceRegressor(**TINY, epochs=15).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (80,)
    assert reg.score(X, y) > 0.5
    two = SequenceRegressor(**TINY, epochs=1).fit(X, np.stack([y, -y], 1))
    assert two.predict(X).shape == (80, 2)


def test_the_classifier_check_accuracy_passes():
    # the accuracy part of scikit-learn's check_classifiers_train (expected to fail as a
    # whole: see test_estimators_sklearn.py): blobs, scaled, training accuracy > 0.83
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=300, random_state=0, cluster_std=0.1)
    X = StandardScaler().fit_transform(X)
    clf = SequenceClassifier(**TINY, epochs=2).fit(X, y)
    assert clf.score(X, y) > 0.83


def test_pipeline_with_a_scaler_in_a_grid_search():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)) * 5 + 3  # 40 univariate series of 6 steps
    y = (X[:, -1] > 3).astype(int)
    pipe = make_pipeline(StandardScaler(), SequenceClassifier(**TINY, epochs=1))
    grid = {"sequenceclassifier__hidden_size": [4, 8], "sequenceclassifier__lr": [0.01, 0.03]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["sequenceclassifier__hidden_size"] in (4, 8)
    assert search.predict(X).shape == (40,)


def test_predict_before_fit_is_a_not_fitted_error():
    with pytest.raises(NotFittedError):
        SequenceClassifier().predict([np.zeros((3, 1))])
    with pytest.raises(NotFittedError):
        SequenceRegressor().predict(np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ([np.zeros((3, 2)), np.zeros((4, 3))], [0, 1],
         r"different feature sizes \(2, 3\); X\[0\] has 2 features per step but X\[1\] has 3"),
        ([np.zeros((3, 2)), np.zeros((4, 2))], [0, 1, 1], "y has 3 targets but X has 2 sequences"),
        ([np.zeros((3, 2)), np.array([[0.0, np.nan]])], [0, 1],
         r"X\[1\] holds NaN or infinity \(first at index \[0, 1\]\)"),
        ([], [], "X is empty; expected at least one sequence"),
        (["a text", "another"], [0, 1], "X holds text; this estimator takes numbers"),
        (np.array([["a", "b"], ["c", "d"]]), [0, 1], "X holds text"),
        ([np.zeros((0, 2)), np.zeros((2, 2))], [0, 1], r"X\[0\] has no steps"),
        (np.zeros((2, 4, 1)), [0, 1], None),  # fine (lengths below are not)
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_one_clear_message(X, y, message):
    est = SequenceClassifier(**TINY, epochs=1)
    if message is None:
        with pytest.raises(RnnkitError, match=r"lengths: each must be in \[1, 4\]"):
            est.fit(X, y, lengths=[4, 5])
        return
    with pytest.raises(RnnkitError, match=message):
        est.fit(X, y)


def test_predict_refuses_another_number_of_features(fitted):
    clf, _ = fitted
    with pytest.raises(RnnkitError, match=r"X\[0\]: expected 2 features per step"):
        clf.predict([np.zeros((4, 3))])


def test_load_refuses_a_run_of_another_task(tmp_path):
    import rnnkit

    out = tmp_path / "adding"
    rnnkit.train("adding", out=out, verbose=False,
                 data={"length": 4, "train_size": 4, "val_size": 2, "test_size": 2},
                 model={"hidden_size": 2}, train={"epochs": 1, "tensorboard": False})  # fmt: skip
    with pytest.raises(RnnkitError, match="holds a 'adding' run; rnnkit.estimators.load reads"):
        load(out)


def test_fit_signature_is_keyword_only_after_y():
    sig = inspect.signature(SequenceClassifier.fit)
    kinds = {n: p.kind for n, p in sig.parameters.items()}
    assert kinds["lengths"] is inspect.Parameter.KEYWORD_ONLY


def test_rnnkit_load_reads_an_estimator_run_as_any_run(fitted, data):
    # rnnkit.load gives the Run (model, task, report) as for every run directory;
    # rnnkit.estimators.load gives the estimator (the estimators sit above rnnkit.api)
    import rnnkit

    clf, run_dir = fitted
    X, _ = data
    run = rnnkit.load(run_dir)
    assert run.config.task == "array_classification" and run.report is not None
    text = ",".join(map(str, X[0][:, 0])) + ":" + ",".join(map(str, X[0][:, 1]))
    assert run.predict(text)[0]["label"] == clf.predict(X[:1])[0]
