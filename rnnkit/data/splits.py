"""Train / validation / test splits of labelled examples, shared by the tasks.

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

import numpy as np


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
