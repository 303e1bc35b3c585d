"""Tokenizer: training on texts, the id layout, truncation, and the tokenizer.json round trip."""

import pytest

from rnnkit.data.tokenize import PAD_ID, UNK_ID, TextTokenizer, clip_token_ids
from rnnkit.errors import RnnkitError

TEXTS = [
    "The film is great, truly great!",
    "A great cast; a dull script.",
    "Dull, dull, dull.",
    "It's the best film of the year.",
]


def test_word_tokenizer_lowercases_and_splits_punctuation():
    tok = TextTokenizer.train(TEXTS)
    assert tok.id_to_token(PAD_ID) == "[PAD]" and tok.id_to_token(UNK_ID) == "[UNK]"
    assert tok.tokens("GREAT film!") == ["great", "film", "!"]
    assert tok.tokens("It's") == ["it", "'", "s"]


def test_vocabulary_cap_keeps_the_most_frequent_tokens():
    # counts: dull 4, great 3, "," 3, "." 3, then 2s and 1s
    tok = TextTokenizer.train(TEXTS, vocab_size=6)
    assert tok.vocab_size == 6
    kept = {tok.id_to_token(i) for i in range(2, 6)}
    assert kept == {"dull", "great", ",", "."}
    assert tok.encode(["great year zebra"])[0][1:] == [UNK_ID, UNK_ID]


def test_case_is_kept_when_lowercase_is_off():
    tok = TextTokenizer.train(TEXTS, lowercase=False)
    assert tok.tokens("The Dull") == ["The", "Dull"]
    assert tok.encode(["Film"])[0] == [UNK_ID]  # only "film" was seen


@pytest.mark.parametrize(
    ("truncate", "expected"), [("end", ["a", "b", "c"]), ("start", ["c", "d", "e"])]
)
def test_truncation_keeps_the_configured_end(truncate, expected):
    tok = TextTokenizer.train(["a b c d e"], max_length=3, truncate=truncate)
    ids = tok.encode(["a b c d e"])[0]
    assert [tok.id_to_token(i) for i in ids] == expected


def test_round_trip_through_tokenizer_json_keeps_ids_and_truncation(tmp_path):
    tok = TextTokenizer.train(TEXTS, kind="bpe", vocab_size=60, max_length=5, truncate="start")
    tok.save(tmp_path / "tokenizer.json")
    again = TextTokenizer.load(tmp_path / "tokenizer.json")
    probe = ["An unseen, greatly dull sentence about films", "great"]
    assert again.encode(probe) == tok.encode(probe)
    assert (again.max_length, again.truncate) == (5, "start")
    assert len(again.encode(probe)[0]) == 5


def test_text_with_no_tokens_still_has_length_one():
    tok = TextTokenizer.train(TEXTS)
    assert tok.encode(["   "]) == [[UNK_ID]]


def test_clip_token_ids_maps_ranks_and_truncates():
    # rank r -> id r + 1 below the cap; rank 5 -> id 6 >= 6 -> [UNK]
    assert clip_token_ids([[1, 4, 5, 2]], vocab_size=6, max_length=3) == [[2, 5, UNK_ID]]
    assert clip_token_ids([[1, 4, 5, 2]], vocab_size=6, max_length=2, truncate="start") == [
        [UNK_ID, 3]
    ]


def test_bad_options_and_files_are_refused(tmp_path):
    with pytest.raises(RnnkitError, match="data.tokenizer: 'chars' is not one of word, bpe"):
        TextTokenizer.train(TEXTS, kind="chars")
    with pytest.raises(RnnkitError, match="data.truncate"):
        TextTokenizer.train(TEXTS, truncate="middle")
    with pytest.raises(RnnkitError, match="does not exist"):
        TextTokenizer.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(RnnkitError, match="not a valid tokenizer.json"):
        TextTokenizer.load(bad)
