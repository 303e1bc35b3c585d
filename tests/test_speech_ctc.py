"""CTC decoding (rnnkit.metrics.ctc) on hand-made posteriors, and the acoustic model's
padding invariance and output lengths."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.metrics.ctc import ctc_beam_search, ctc_decode, ctc_greedy
from rnnkit.models.acoustic import AcousticConfig, CTCAcousticModel

pytestmark = pytest.mark.one_thread


def posteriors(rows: list[list[float]]) -> torch.Tensor:
    """Probabilities per frame (blank first) -> log-probabilities ``(T, C)``."""
    p = torch.tensor(rows, dtype=torch.float64)
    assert torch.allclose(p.sum(1), torch.ones(len(rows), dtype=torch.float64))
    return p.log()


def test_greedy_merges_repeats_and_drops_blanks() -> None:
    # best path: a a - a b b -  ->  a a b
    lp = posteriors([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1],
                     [0.1, 0.1, 0.8], [0.2, 0.1, 0.7], [0.8, 0.1, 0.1]])  # fmt: skip
    assert ctc_greedy(lp) == [1, 1, 2]
    assert ctc_decode(lp[None], [7], beam_size=1) == [[1, 1, 2]]
    assert ctc_decode(lp[None], [3], beam_size=1) == [[1]]  # only the valid frames


def test_beam_beats_greedy_when_paths_of_one_string_add_up() -> None:
    # two frames, P(a) = 0.4, P(blank) = 0.6 each: the best path is "- -" (0.36), but the
    # string "a" has three paths (a a, a -, - a): 0.16 + 0.24 + 0.24 = 0.64
    lp = posteriors([[0.6, 0.4], [0.6, 0.4]])
    assert ctc_greedy(lp) == []
    labels, logp = ctc_beam_search(lp, beam_size=2)
    assert labels == [1]
    assert logp == pytest.approx(math.log(0.64))
    assert ctc_decode(lp[None], [2], beam_size=2) == [[1]]


def test_beam_score_is_the_total_probability_of_the_string() -> None:
    # against brute force over every path of a small random problem
    import itertools

    g = torch.Generator().manual_seed(0)
    lp = torch.log_softmax(torch.randn(5, 3, generator=g, dtype=torch.float64), -1)
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(3), repeat=5):
        collapsed = tuple(s for i, s in enumerate(path) if s != 0 and (i == 0 or s != path[i - 1]))
        p = math.exp(sum(float(lp[t, s]) for t, s in enumerate(path)))
        totals[collapsed] = totals.get(collapsed, 0.0) + p
    best = max(totals, key=totals.__getitem__)
    labels, logp = ctc_beam_search(lp, beam_size=50, prune=-math.inf)  # wide: exact
    assert tuple(labels) == best
    assert math.exp(logp) == pytest.approx(totals[best])


def test_beam_width_1_equals_greedy_on_confident_posteriors() -> None:
    # when one symbol holds >= 0.9 of every frame, the best path's string is the best
    # string, and the narrowest beam finds it too
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        best = torch.randint(0, 4, (12,), generator=g)  # (T,)
        p = torch.full((12, 4), 0.1 / 3, dtype=torch.float64)
        p[torch.arange(12), best] = 0.9
        lp = p.log()
        assert ctc_beam_search(lp, beam_size=1)[0] == ctc_greedy(lp)
        assert ctc_decode(lp[None], [12], beam_size=1)[0] == ctc_greedy(lp)


def test_beam_search_refuses_width_0() -> None:
    with pytest.raises(ValueError, match="beam_size: expected >= 1"):
        ctc_beam_search(torch.zeros(2, 3), beam_size=0)


@pytest.mark.parametrize(("cell", "subsample"), [("lstm", 2), ("gru", 4), ("lstm", 1)])
def test_acoustic_model_ignores_padding(cell: str, subsample: int) -> None:
    cfg = AcousticConfig(cell=cell, hidden_size=8, num_layers=1, bidirectional=True,
                         subsample=subsample, conv_channels=6, head_dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    model = CTCAcousticModel.from_config(cfg, input_size=5, num_labels=4).double().eval()
    x = torch.randn(2, 13, 5, dtype=torch.float64)
    lengths = torch.tensor([13, 9])
    padded = x.clone()
    padded[1, 9:] = 100.0  # garbage in the padding
    out, n = model(padded, lengths)
    assert n.tolist() == [-(-13 // subsample), -(-9 // subsample)]
    alone, n1 = model(x[1:, :9], lengths[1:])  # the short one in a batch of its own
    torch.testing.assert_close(out[1, : n[1]], alone[0, : n1[0]])
    # gradients do not reach the padding
    padded.requires_grad_(True)
    lp, n = model(padded, lengths)
    targets = torch.tensor([[1, 2, 3], [2, 0, 0]])
    model.loss(lp, n, targets, torch.tensor([3, 1])).backward()
    assert padded.grad is not None and padded.grad[1, 9:].abs().max() == 0


def test_spec_augment_masks_bands_and_frames_inside_the_length_only() -> None:
    from rnnkit.tasks.speech import spec_augment

    torch.manual_seed(0)
    x = torch.randn(3, 40, 20) + 5.0  # no value is 0 before masking
    lengths = torch.tensor([40, 32, 12])
    x[1, 32:] = 0.0
    x[2, 12:] = 0.0
    torch.manual_seed(1)
    out = spec_augment(x, lengths, masks=2, bands=6, frames=8)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert (x[0] != 0).all()
    for b, n in enumerate(lengths.tolist()):
        masked = out[b, :n] == 0  # (n, M)
        full_bands = masked.all(0).sum()  # frequency masks cover whole bands
        assert full_bands <= 2 * 6
        assert (out[b, n:] == 0).all()  # padding stays padding
    torch.manual_seed(1)
    assert torch.equal(spec_augment(x, lengths, masks=2), out)  # the run's seed decides
    assert torch.equal(spec_augment(x, lengths, masks=0), x)
