"""The translation baselines a user tries first: copying the source, and translating word
by word with a dictionary learnt from the training pairs.

The word dictionary comes from IBM Model 1 (Brown et al. 1993), the simplest statistical
word-translation model: a few rounds of expectation-maximisation estimate ``t(e | f)``,
the probability that source word ``f`` translates as target word ``e``, from the sentence
pairs alone (each target word is explained by one source word of its sentence, or by
none); each source word is then looked up as its most probable target word. Words are
case-folded; punctuation and unknown words (names, numbers) are copied; the first letter
of the output is capitalised like the source's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:)\]}%»”])")
_NO_SPACE_AFTER = re.compile(r"([(\[{«„“]) ")
_NULL = "\0"  # the empty source word of IBM Model 1


def words(text: str) -> list[str]:
    """The word and punctuation tokens of ``text``: ``"Ja, gut."`` -> ``Ja , gut .``."""
    return _TOKEN.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """Tokens joined by spaces, none before closing punctuation or after opening."""
    text = " ".join(tokens)
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


def _is_word(token: str) -> bool:
    return token[:1].isalnum() or token[:1] == "_"


class WordByWord:
    """Word-for-word translation with a dictionary ``table`` (case-folded source word ->
    target word); see the module docstring."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    @classmethod
    def fit(cls, pairs: Iterable[tuple[str, str]], iterations: int = 5) -> WordByWord:
        """The dictionary of the (training) ``(source, target)`` sentence pairs: IBM Model 1
        trained for ``iterations`` rounds of EM from uniform ``t(e | f)``, then each source
        word's most probable target word (ties: the alphabetically first)."""
        sentences = []
        for source, target in pairs:
            src = [w.casefold() for w in words(source) if _is_word(w)]
            tgt = [w.casefold() for w in words(target) if _is_word(w)]
            if src and tgt:
                sentences.append(([_NULL, *src], tgt))
        prob: dict[tuple[str, str], float] = {}  # t(e | f), keyed (f, e)
        for f_words, e_words in sentences:
            for f in f_words:
                for e in e_words:
                    prob[(f, e)] = 1.0  # uniform start (the scale cancels in the E-step)
        for _ in range(iterations):
            counts: dict[tuple[str, str], float] = defaultdict(float)
            totals: dict[str, float] = defaultdict(float)
            for f_words, e_words in sentences:
                for e in e_words:  # E-step: share e among the words of its source sentence
                    norm = sum(prob[(f, e)] for f in f_words)
                    for f in f_words:
                        share = prob[(f, e)] / norm
                        counts[(f, e)] += share
                        totals[f] += share
            prob = {fe: c / totals[fe[0]] for fe, c in counts.items()}  # M-step
        best: dict[str, tuple[float, str]] = {}
        for (f, e), p in prob.items():
            if f == _NULL:
                continue
            old = best.get(f)
            if old is None or p > old[0] or (p == old[0] and e < old[1]):
                best[f] = (p, e)
        return cls({f: e for f, (_, e) in best.items()})

    def translate(self, text: str) -> str:
        """``text`` translated word by word (unknown words and punctuation copied)."""
        out = []
        for token in words(text):
            out.append(self.table.get(token.casefold(), token) if _is_word(token) else token)
        if out and text[:1].isupper():
            out[0] = out[0][:1].upper() + out[0][1:]
        return detokenize(out)

    def __len__(self) -> int:
        return len(self.table)


__all__ = ["WordByWord", "detokenize", "words"]
