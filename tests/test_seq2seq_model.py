"""The encoder-decoder with attention (rnnkit.models.seq2seq): masking, decoding, learning."""

from __future__ import annotations

import pytest
import torch

from rnnkit.errors import RnnkitError
from rnnkit.models.seq2seq import Attention, Seq2Seq, Seq2SeqConfig

BOS, EOS = 2, 3
SRC_V, TGT_V = 11, 12


def make_model(attention: str = "bahdanau", cell: str = "lstm", layers: int = 1) -> Seq2Seq:
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(
        cell=cell, hidden_size=16, num_layers=layers, bidirectional=True, embedding_dim=8
    )
    return Seq2Seq.from_config(cfg, SRC_V, TGT_V, attention=attention, bos_id=BOS, eos_id=EOS)


def padded(seqs: list[list[int]], width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    width = width or max(len(s) for s in seqs)
    out = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out, torch.tensor([len(s) for s in seqs])


@pytest.mark.parametrize("kind", ["bahdanau", "luong"])
def test_attention_weights_sum_to_one_over_valid_positions_only(kind: str) -> None:
    torch.manual_seed(1)
    att = Attention(kind, query_size=6, memory_size=5, attention_size=7)
    memory = torch.randn(3, 4, 5)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    context, w = att(torch.randn(3, 6), memory, att.keys(memory), mask)
    assert torch.allclose(w.sum(-1), torch.ones(3))
    assert torch.all(w[~mask] == 0) and torch.all(w[mask] > 0)
    assert torch.allclose(context, (w[..., None] * memory).sum(1))


@pytest.mark.parametrize(("attention", "cell"), [("bahdanau", "lstm"), ("luong", "gru")])
def test_padding_changes_no_output_and_no_gradient(attention: str, cell: str) -> None:
    model = make_model(attention, cell, layers=2)
    src, tgt = [5, 6, 7], [BOS, 4, 5]
    # alone, unpadded
    s1, l1 = padded([src])
    t1, _ = padded([tgt])
    logits1, attn1 = model(s1, l1, t1)
    model.zero_grad()
    logits1.sum().backward()
    grads1 = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    # in a batch with a longer neighbour: source and target padded, garbage in the padding
    s2, l2 = padded([src, [4, 4, 4, 4, 4, 4]])
    s2[0, 3:] = 9  # ids at padded positions must not matter
    t2, _ = padded([tgt, [BOS, 6, 6, 6, 6]])
    logits2, attn2 = model(s2, l2, t2)
    assert torch.allclose(logits2[0, :3], logits1[0], atol=1e-5)
    assert torch.allclose(attn2[0, :3, :3], attn1[0], atol=1e-6)
    assert torch.all(attn2[0, :, 3:] == 0)
    model.zero_grad()
    logits2[0, :3].sum().backward()
    for name, p in model.named_parameters():
        if name in grads1:
            assert torch.allclose(p.grad, grads1[name], atol=1e-5), name


@pytest.mark.parametrize(("attention", "cell"), [("bahdanau", "gru"), ("luong", "lstm")])
def test_beam_of_one_equals_greedy(attention: str, cell: str) -> None:
    model = make_model(attention, cell).eval()
    src, lengths = padded([[4, 5, 6, 7], [8, 9], [4, 4, 10]])
    greedy = model.greedy(src, lengths, max_length=8)
    beam = model.beam_search(src, lengths, max_length=8, beam_size=1, length_penalty=0.0)
    assert beam.tokens == greedy.tokens
    assert beam.scores == pytest.approx(greedy.scores, abs=1e-5)
    for a, b in zip(beam.attention, greedy.attention):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_batched_beam_search_equals_each_source_alone(attention: str) -> None:
    model = make_model(attention, "lstm", layers=2).eval()
    seqs = [[4, 5, 6, 7, 8], [9, 10], [4, 4, 10, 6]]
    src, lengths = padded(seqs)
    src[1, 2:] = 7  # ids at padded positions must not matter
    batch = model.beam_search(src, lengths, max_length=7, beam_size=3, length_penalty=0.6)
    for b, seq in enumerate(seqs):
        alone = model.beam_search(*padded([seq]), max_length=7, beam_size=3, length_penalty=0.6)
        assert batch.tokens[b] == alone.tokens[0]
        assert batch.scores[b] == pytest.approx(alone.scores[0], abs=1e-5)
        assert torch.allclose(batch.attention[b], alone.attention[0], atol=1e-6)


def test_length_penalty_changes_which_finished_output_wins() -> None:
    """alpha 0 ranks by total log p (short outputs win), a large alpha by log p per token."""
    model = make_model("luong", "gru").eval()
    src, lengths = padded([[4, 5, 6, 7], [8, 9], [4, 4, 10], [10, 9, 8, 7]])
    short = model.beam_search(src, lengths, max_length=8, beam_size=4, length_penalty=0.0)
    long = model.beam_search(src, lengths, max_length=8, beam_size=4, length_penalty=3.0)
    assert sum(map(len, long.tokens)) > sum(map(len, short.tokens))


def test_outputs_stop_at_max_length() -> None:
    model = make_model("luong", "gru").eval()
    with torch.no_grad():
        model.out.bias[EOS] = -1e4  # never ends by itself
    src, lengths = padded([[4, 5, 6, 7], [8, 9]])
    for out in (
        model.greedy(src, lengths, max_length=2),
        model.beam_search(src, lengths, max_length=2, beam_size=3),
    ):
        assert [len(t) for t in out.tokens] == [2, 2]
        assert [tuple(a.shape) for a in out.attention] == [(3, 4), (3, 2)]


def sequence_log_prob(model: Seq2Seq, src: torch.Tensor, length: torch.Tensor, out: list[int]):
    """log p(out + EOS | src) under teacher forcing, with PAD and BOS never output."""
    tgt_in = torch.tensor([[BOS, *out]])
    with torch.no_grad():
        logits, _ = model(src, length, tgt_in)
    logp = model._output_log_probs(logits[0])
    return float(logp[torch.arange(len(out) + 1), torch.tensor([*out, EOS])].sum())


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_decoded_scores_are_the_model_log_probabilities(alpha: float) -> None:
    model = make_model("luong", "gru").eval()
    src, lengths = padded([[4, 5, 6, 7], [8, 9]])
    out = model.beam_search(src, lengths, max_length=6, beam_size=3, length_penalty=alpha)
    for b in range(2):
        assert len(out.attention[b]) == len(out.tokens[b]) + 1  # a row per token and EOS
        assert torch.allclose(out.attention[b].sum(-1), torch.ones(len(out.attention[b])))
        one_src, one_len = src[b : b + 1, : int(lengths[b])], lengths[b : b + 1]
        if len(out.tokens[b]) < 6:  # finished with EOS
            expected = sequence_log_prob(model, one_src, one_len, out.tokens[b])
            assert out.scores[b] == pytest.approx(
                expected / (len(out.tokens[b]) + 1) ** alpha, abs=1e-4
            )


def test_no_teacher_forcing_feeds_the_models_own_argmax() -> None:
    model = make_model("bahdanau", "lstm").eval()
    src, lengths = padded([[4, 5, 6]])
    greedy = model.greedy(src, lengths, max_length=5)
    steps = len(greedy.tokens[0])
    tgt_in = torch.full((1, steps + 1), 1)  # wrong tokens everywhere but BOS
    tgt_in[0, 0] = BOS
    with torch.no_grad():
        logits, _ = model(src, lengths, tgt_in, teacher_forcing=0.0)
    assert model._output_log_probs(logits[0]).argmax(-1)[:steps].tolist() == greedy.tokens[0]


def test_reverse_task_is_learned(one_thread: None) -> None:
    """The whole path as a smoke test: reverse 2-5 symbols; held-out outputs all right."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    cfg = Seq2SeqConfig(
        cell="gru", hidden_size=48, num_layers=1, bidirectional=True, embedding_dim=16
    )
    model = Seq2Seq.from_config(cfg, SRC_V, TGT_V, attention="luong", bos_id=BOS, eos_id=EOS)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def sample(n: int) -> list[list[int]]:
        lens = torch.randint(2, 6, (n,), generator=g)
        return [torch.randint(4, SRC_V, (int(k),), generator=g).tolist() for k in lens]

    test = sample(100)
    for step in range(400):
        seqs = sample(64)
        src, lengths = padded(seqs)
        tgt_in, _ = padded([[BOS, *s[::-1]] for s in seqs])
        tgt_out, _ = padded([[*s[::-1], EOS] for s in seqs])
        logits, _ = model(src, lengths, tgt_in)
        loss = model.loss(logits, tgt_out, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 24:
            model.eval()
            out = model.greedy(*padded(test), max_length=8)
            model.train()
            if out.tokens == [s[::-1] for s in test]:
                break
    assert out.tokens == [s[::-1] for s in test], f"not learned after {step + 1} steps"


@pytest.mark.parametrize("cell", ["mingru", "indrnn"])
def test_any_encoder_family_with_an_lstm_decoder(cell: str) -> None:
    cfg = Seq2SeqConfig(cell=cell, hidden_size=8, num_layers=1, bidirectional=True, embedding_dim=4)
    model = Seq2Seq.from_config(cfg, SRC_V, TGT_V, bos_id=BOS, eos_id=EOS)
    assert model.decoder.cell == "lstm"
    src, lengths = padded([[4, 5, 6], [7]])
    logits, attn = model(src, lengths, torch.tensor([[BOS, 4], [BOS, 5]]))
    assert logits.shape == (2, 2, TGT_V) and torch.all(attn[1, :, 1:] == 0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(RnnkitError, match="attention: 'dot' is not one of bahdanau, luong"):
        Seq2Seq.from_config(Seq2SeqConfig(hidden_size=8, embedding_dim=4), 5, 6, attention="dot")
    with pytest.raises(RnnkitError, match="decoder cell: 'rnn'"):
        Seq2Seq.from_config(Seq2SeqConfig(hidden_size=8, embedding_dim=4), 5, 6, decoder_cell="rnn")
    model = make_model()
    with pytest.raises(RnnkitError, match="beam size"):
        model.beam_search(*padded([[4]]), max_length=3, beam_size=0)
