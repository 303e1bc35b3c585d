"""Corpus reading, vocabularies, TBPTT stream batching and state carry across chunks."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.corpus import UNK, Vocab, encode_split, read_documents, split_text
from rnnkit.data.streams import IGNORE_INDEX, StreamBatches
from rnnkit.errors import RnnkitError
from rnnkit.models.state import StateCarry, detach_state, mask_state, run_with_resets

# ----------------------------------------------------------------------------- corpus


def test_read_documents_folder_sorted_and_hidden_skipped(tmp_path):
    (tmp_path / "b.txt").write_text("second", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first", encoding="utf-8")
    (tmp_path / ".hidden").write_text("no", encoding="utf-8")
    docs = read_documents(tmp_path)
    assert [t for _, t in docs] == ["first", "second"]


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"ab\x00cd", "NUL byte at offset 2"), (b"ok\n\xff\xfe", "not UTF-8")],
)
def test_read_documents_refuses_bad_files_naming_them(tmp_path, content, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    with pytest.raises(RnnkitError, match=message) as e:
        read_documents(bad)
    assert "bad.txt" in str(e.value)


def test_read_documents_missing_path(tmp_path):
    with pytest.raises(RnnkitError, match="does not exist"):
        read_documents(tmp_path / "nope.txt")


def test_char_vocab_roundtrip_and_unknowns(tmp_path):
    vocab = Vocab.fit("hello world", "char")
    assert vocab.symbols[0] == UNK and len(vocab) == 1 + len(set("hello world"))
    assert vocab.decode(vocab.encode("hello")) == "hello"
    assert vocab.unknown("hexz!") == ["x", "z", "!"]
    assert vocab.encode("z").tolist() == [0]
    vocab.save(tmp_path / "vocab.json")
    again = Vocab.load(tmp_path / "vocab.json")
    assert again.symbols == vocab.symbols and again.level == "char"


def test_byte_vocab_roundtrip_non_ascii():
    vocab = Vocab.fit("", "byte")
    ids = vocab.encode("héllo")
    assert len(vocab) == 256 and ids.tolist()[:3] == [104, 0xC3, 0xA9]
    assert vocab.decode(ids) == "héllo"


def test_split_by_position_keeps_order_and_document_starts():
    parts = split_text(["abcdef", "ghij"], (0.6, 0.2, 0.2))
    assert parts["train"] == ("abcdef", [])
    assert parts["val"] == ("gh", [])
    assert parts["test"] == ("ij", [])
    parts = split_text(["abc", "defg", "hij"], (0.8, 0.1, 0.1))
    assert parts["train"] == ("abcdefgh", [3, 7])


def test_byte_split_converts_document_starts_to_byte_positions():
    vocab = Vocab.fit("", "byte")
    split = encode_split(vocab, "éa" + "b", [2])
    assert split.doc_starts.tolist() == [3]  # "é" is two bytes


# ----------------------------------------------------------------------------- streams


def _split(n: int, starts: list[int] | None = None):
    from rnnkit.data.corpus import TextSplit

    return TextSplit(torch.arange(n), torch.tensor(starts or [], dtype=torch.int64))


def test_streams_are_consecutive_chunks_of_contiguous_text():
    batches = list(StreamBatches(_split(25), n_streams=3, bptt=3))  # L = 8 -> chunks 3, 3, 2
    assert [b.inputs.shape for b in batches] == [(3, 3), (3, 3), (3, 2)]
    rows = torch.cat([b.inputs for b in batches], dim=1)
    assert rows.tolist() == [list(range(0, 8)), list(range(8, 16)), list(range(16, 24))]
    targets = torch.cat([b.targets for b in batches], dim=1)
    assert torch.equal(targets, rows + 1)  # each step predicts the next symbol
    assert all(b.lengths.tolist() == [b.inputs.shape[1]] * 3 for b in batches)


def test_document_start_resets_state_and_is_not_predicted_across():
    sb = StreamBatches(_split(11, starts=[4]), n_streams=1, bptt=5)
    (first, second) = list(sb)
    assert first.extras["reset"].tolist() == [[False, False, False, False, True]]
    assert first.targets.tolist() == [[1, 2, 3, IGNORE_INDEX, 5]]  # 3 -> 4 crosses
    assert not second.extras["reset"].any()
    assert sb.n_targets == 9


def test_bptt_longer_than_the_data_is_a_clear_error():
    with pytest.raises(RnnkitError, match=r"data.bptt=50 .* 3 streams give 6 steps"):
        StreamBatches(_split(20), n_streams=3, bptt=50, name="training")


# ----------------------------------------------------------------------------- state carry


def test_carried_state_equals_one_pass_over_the_concatenated_chunks():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(4, 6, num_layers=2, batch_first=True)
    x = torch.randn(3, 17, 4)
    full_out, (h_full, c_full) = lstm(x)
    carry, outs = StateCarry(), []
    for j in range(0, 17, 5):
        out, state = lstm(x[:, j : j + 5], carry.state)
        carry.update(state)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), full_out)
    torch.testing.assert_close(carry.state[0], h_full)
    torch.testing.assert_close(carry.state[1], c_full)


def test_detached_chunks_have_no_graph_between_them():
    torch.manual_seed(0)
    gru = torch.nn.GRU(2, 3, batch_first=True)
    x1 = torch.randn(2, 4, 2, requires_grad=True)
    x2 = torch.randn(2, 4, 2, requires_grad=True)
    carry = StateCarry()
    _, state = gru(x1)
    carry.update(state)
    assert carry.state.grad_fn is None and not carry.state.requires_grad
    out, _ = gru(x2, carry.state)
    out.sum().backward()
    assert x2.grad is not None and x1.grad is None  # the gradient stops at the chunk start
    # without detaching, the same loss would reach the first chunk
    x1b = x1.detach().clone().requires_grad_(True)
    _, state = gru(x1b)
    gru(x2, state)[0].sum().backward()
    assert x1b.grad is not None and x1b.grad.abs().sum() > 0


def test_run_with_resets_equals_restarting_the_stream_from_zeros():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, 3, batch_first=True)
    x = torch.randn(2, 7, 2)
    reset = torch.zeros(2, 7, dtype=torch.bool)
    reset[0, 4] = True  # stream 0 starts a new document at step 4
    h0 = (torch.randn(1, 2, 3), torch.randn(1, 2, 3))
    out, (h, _) = run_with_resets(lstm, x, h0, reset)
    # stream 0: steps 0..3 from h0, then 4..6 from zeros; stream 1: one pass from h0
    a, _ = lstm(x[:1, :4], (h0[0][:, :1], h0[1][:, :1]))
    b, (hb, _) = lstm(x[:1, 4:])
    c, (hc, _) = lstm(x[1:], (h0[0][:, 1:], h0[1][:, 1:]))
    torch.testing.assert_close(out[:1], torch.cat([a, b], 1))
    torch.testing.assert_close(out[1:], c)
    torch.testing.assert_close(h, torch.cat([hb, hc], 1))


def test_mask_and_detach_keep_structure():
    state = (torch.ones(2, 3, 4, requires_grad=True), torch.ones(2, 3, 4))
    masked = mask_state(state, torch.tensor([True, False, True]))
    assert masked[0][:, 1].abs().sum() == 0 and masked[1][:, 0].sum() == 8
    assert detach_state(None) is None and mask_state(None, torch.tensor([True])) is None
    assert not detach_state(masked)[0].requires_grad
