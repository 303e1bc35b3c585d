"""Metrics of generated sequences: edit distance, word / phoneme error rates, and the
translation scores BLEU and chrF.

BLEU and chrF are computed by ``sacrebleu`` (Post 2018), the field's reference
implementation, so that figures compare with published ones; its signature (tokeniser,
smoothing, version) is returned beside each score. Error rates are edit distances:
``sum_i dist(hyp_i, ref_i) / sum_i len(ref_i)``, so an error rate can exceed 1 when the
hypotheses are much longer than the references.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any


def edit_distance(hyp: Sequence[Hashable], ref: Sequence[Hashable]) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions that turn
    ``hyp`` into ``ref`` (each costs 1). ``O(len(hyp) * len(ref))`` time."""
    prev = list(range(len(ref) + 1))  # distances from hyp[:0] to ref[:j]
    for i, h in enumerate(hyp, 1):
        cur = [i]
        for j, r in enumerate(ref, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (h != r)))
        prev = cur
    return prev[-1]


def error_rate(hyps: Sequence[Sequence[Hashable]], refs: Sequence[Sequence[Hashable]]) -> float:
    """Corpus error rate: total edit distance over total reference length.

    With words as symbols this is the word error rate (WER) of speech recognition; with
    phonemes the phoneme error rate (PER); with characters the character error rate.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    total = sum(len(r) for r in refs)
    if total == 0:
        raise ValueError("error rate of empty references is undefined")
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / total


def pronunciation_errors(
    hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]
) -> dict[str, float]:
    """Word and phoneme error rates of grapheme-to-phoneme output, the CMUdict convention.

    Args:
        hyps: one predicted phoneme sequence per word.
        refs: the word's reference pronunciations (one or more each).

    Returns ``{"wer": share of words whose prediction matches none of their references,
    "per": sum of edit distances to the closest reference / sum of those references'
    lengths}``.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} predictions but {len(refs)} words with references")
    if not hyps:
        raise ValueError("error rates of an empty set are undefined")
    wrong = dist = length = 0
    for hyp, options in zip(hyps, refs):
        if not options:
            raise ValueError("every word needs at least one reference pronunciation")
        best = min(options, key=lambda r: (edit_distance(hyp, r), len(r)))
        d = edit_distance(hyp, best)
        wrong += d > 0
        dist += d
        length += len(best)
    return {"wer": wrong / len(hyps), "per": dist / max(length, 1)}


def translation_scores(hyps: Sequence[str], refs: Sequence[str | Sequence[str]]) -> dict[str, Any]:
    """Corpus BLEU and chrF of detokenised ``hyps`` against their references (sacrebleu's
    defaults: 13a tokenisation, exponential smoothing; chrF with character 6-grams).

    Args:
        hyps: one translation per segment.
        refs: per segment, one reference or a non-empty sequence of them; segments may have
            different numbers (sacrebleu's variable references: ``nrefs:var`` in the
            signature).

    Returns ``{"bleu": 0..100, "chrf": 0..100, "bleu_signature": ..., "chrf_signature":
    ...}``.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} translations but {len(refs)} references")
    if not hyps:
        raise ValueError("BLEU of an empty set is undefined")
    per_segment = [[r] if isinstance(r, str) else list(r) for r in refs]
    if empty := [i for i, r in enumerate(per_segment) if not r]:
        raise ValueError(f"segment {empty[0]} has no reference")
    most = max(len(r) for r in per_segment)
    # sacrebleu takes reference streams; None marks a segment with fewer references
    streams = [[r[k] if k < len(r) else None for r in per_segment] for k in range(most)]
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:  # pragma: no cover - the seq2seq extra installs it
        from rnnkit.errors import RnnkitError

        raise RnnkitError(
            "translation metrics need sacrebleu: pip install 'rnnkit[seq2seq]' "
            "(or pip install sacrebleu)"
        ) from None
    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(list(hyps), streams)  # type: ignore[arg-type]
    c = chrf.corpus_score(list(hyps), streams)  # type: ignore[arg-type]
    return {
        "bleu": float(b.score),
        "chrf": float(c.score),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }
