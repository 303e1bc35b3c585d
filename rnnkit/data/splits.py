"""Train / validation / test splits, shared by the tasks: every way rnnkit splits data.

* :func:`stratified_split`: labelled examples, each class on its own (classification);
* :func:`split_groups`: items by a key, all items of one key in one part (translate,
  g2p, speech: no test source is ever seen in training);
* :func:`split_points`: a series in time order (forecasting);
* :func:`stratified_sample` / :func:`stratified_holdout`: the digits of ``smnist``.

The classification tasks on text, series and arrays split their examples with
:func:`stratified_split`, so the guarantees are the same everywhere: each class is split
on its own in the given proportions, and every held-out part gets at least one example
of each class that has enough examples to give one while still leaving one for the parts
after it (the last part, usually train).

The digits of ``smnist`` are split by :func:`stratified_holdout` (scikit-learn's
``train_test_split``, stratified) after :func:`stratified_sample` for ``data.limit``. That
task re-derives its split from the config at every load instead of saving it, so moving
it to :func:`stratified_split` would change the test digits of runs already trained; it
keeps its own guarantees (exact sizes; scikit-learn refuses a class too small to split).

>>> import numpy as np
>>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2])
>>> test, val, train = stratified_split(labels, [0.25, 0.25], seed=0)
>>> len(test), len(val), len(train)
(3, 3, 5)
>>> sorted(labels[test].tolist()), 10 in train   # class 2 has one example: train keeps it
([0, 1, 1], True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rnnkit.errors import RnnkitError


def stratified_split(labels: np.ndarray, fractions: list[float], seed: int) -> list[np.ndarray]:
    """Split indices ``0..N-1`` into ``len(fractions) + 1`` parts, stratified by label.

    Args:
        labels: ``(N,)`` class of each example (any comparable dtype).
        fractions: the share of each class that goes to part k, for the first
            ``len(fractions)`` parts, each in ``[0, 1)``; the last part takes the rest.
        seed: the shuffle of each class's indices (``numpy.random.default_rng(seed)``).

    Returns:
        ``len(fractions) + 1`` sorted int64 index arrays that partition ``0..N-1``.

    Part k takes ``round(n_c * fractions[k])`` of the ``n_c`` examples of class c, raised to
    one when the fraction is positive and the class still has an example for every later
    part, and lowered so that every later part keeps at least one; a class too small for
    that gives nothing to part k. For large classes this is plain proportional rounding.
    """
    fracs = [float(f) for f in fractions]
    if any(not 0.0 <= f < 1.0 for f in fracs) or sum(fracs) >= 1.0:
        raise ValueError(
            f"split fractions {fracs}: each must be in [0, 1) and their sum below 1 "
            "(the last part takes the rest)"
        )
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fracs) + 1)]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n, start = len(idx), 0
        for k, frac in enumerate(fracs):
            # one example for every later positive part and for the last part
            need_after = 1 + sum(1 for f in fracs[k + 1 :] if f > 0)
            room = n - start - need_after
            take = int(round(n * frac))
            take = min(max(take, 1), room) if frac > 0 and room >= 1 else 0
            parts[k].append(idx[start : start + take])
            start += take
        parts[-1].append(idx[start:])
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` example indices spread over the classes, and the rest (both sorted).

    At most ``ceil(n / C)`` indices of each of the C classes are drawn in a seeded random
    order, then ``n`` of those at random: every class is represented about equally.

    >>> take, rest = stratified_sample(np.array([0] * 6 + [1] * 4), 4, seed=0)
    >>> len(take), len(rest), sorted(np.bincount(np.array([0] * 6 + [1] * 4)[take]).tolist())
    (4, 6, [2, 2])
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    classes = np.unique(labels)
    per_class = {c: order[labels[order] == c] for c in classes}
    take: list[int] = []
    quota = math.ceil(n / len(classes))
    for c in classes:
        take.extend(per_class[c][:quota].tolist())
    chosen = np.array(sorted(rng.permutation(take)[:n].tolist()), dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), chosen)
    return chosen, rest


def stratified_holdout(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held_out)`` indices, ``fraction`` of the examples held out stratified by
    class (scikit-learn's ``train_test_split(..., stratify=labels, random_state=seed)``;
    both in its shuffled order). Raises ``ValueError`` when a class is too small to split.
    """
    from sklearn.model_selection import train_test_split

    kept, held = train_test_split(
        np.arange(len(labels)), test_size=fraction, stratify=labels, random_state=seed,
        shuffle=True,
    )  # fmt: skip
    return np.asarray(kept, dtype=np.int64), np.asarray(held, dtype=np.int64)


def split_groups(keys: Sequence[str], fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Split item indices into parts by key: all items of one key land in the same part.

    Args:
        keys: one key per item (the normalised source sentence; the word).
        fractions: the share of distinct keys per part (e.g. ``(0.8, 0.1, 0.1)``), summing
            to 1; the last part takes the rest.
        seed: the shuffle of the distinct keys.

    Returns one ``int64`` array of item indices per part, each in item order.
    """
    distinct = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(distinct))
    part_of_key: dict[str, int] = {}
    start = 0
    for p, frac in enumerate(fractions):
        stop = len(distinct) if p == len(fractions) - 1 else start + round(frac * len(distinct))
        for i in order[start:stop]:
            part_of_key[distinct[i]] = p
        start = stop
    parts: list[list[int]] = [[] for _ in fractions]
    for i, key in enumerate(keys):
        parts[part_of_key[key]].append(i)
    return [np.asarray(p, dtype=np.int64) for p in parts]


def split_points(
    n: int, val_fraction: float, test_fraction: float, *, context: int, horizon: int, what: str
) -> tuple[int, int]:
    """Chronological split of a series of ``n`` steps: returns ``(n_train, n_val)``;
    the test part is the last ``n - n_train - n_val`` steps.

    Raises:
        RnnkitError: when the test or validation part is shorter than the horizon, or the
            train part cannot hold one window of context + horizon.
    """
    for key, v in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
        if not 0.0 <= v < 1.0:
            raise RnnkitError(f"{key}: expected a fraction in [0, 1), got {v}")
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    n_train = n - n_test - n_val
    if test_fraction > 0 and n_test < horizon:
        raise RnnkitError(
            f"{what}: data.horizon={horizon} is longer than the test part ({n_test} of {n} "
            f"steps at data.test_fraction={test_fraction}); use a shorter horizon or a larger "
            "test fraction"
        )
    if val_fraction > 0 and n_val < horizon:
        raise RnnkitError(
            f"{what}: data.horizon={horizon} is longer than the validation part ({n_val} of "
            f"{n} steps at data.val_fraction={val_fraction})"
        )
    if n_train < context + horizon:
        raise RnnkitError(
            f"{what}: the train part ({n_train} steps) is shorter than data.context + "
            f"data.horizon = {context + horizon}"
        )
    return n_train, n_val
