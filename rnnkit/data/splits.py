"""Train / validation / test splits shared by every task: one stratified splitter.

Every classification task (text, series, digits) splits its examples with
:func:`stratified_split`, so the guarantees are the same everywhere: each class is split
on its own in the given proportions, and every held-out part gets at least one example
of each class that has enough examples to give one while still leaving one for the parts
after it (the last part, usually train).

>>> import numpy as np
>>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2])
>>> test, val, train = stratified_split(labels, [0.25, 0.25], seed=0)
>>> len(test), len(val), len(train)
(3, 3, 5)
>>> sorted(labels[test].tolist()), 10 in train   # class 2 has one example: train keeps it
([0, 1, 1], True)
"""

from __future__ import annotations

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
