"""Readers of sequence pairs (rnnkit.data.pairs): Ding, CMUdict layout, users' files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data.pairs import (
    normalise_key,
    read_ding,
    read_pair_file,
    read_parallel_files,
    read_pronunciations,
    split_groups,
)
from rnnkit.errors import RnnkitError

DING_SAMPLE = (
    "# Version :: devel\n"
    "etw. auf etw. richten {vt} | auf gerichtet | Alle Augen waren auf sie gerichtet. | "
    "Er konzentrierte seinen Blick. :: to focus sth. | fixed on | All eyes were fixed on her. "
    "| He fixed / focussed his gaze.\n"
    "Aal {m} [cook.] | Aal blau; blauer Aal :: Eel | Eel au bleu; Eel steamed\n"
    "kaputt | Das ist (jetzt) kaputt, leider. :: broken | It is broken (now), sadly.\n"
    "ungleich | Das hat zwei Teile. :: unequal\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_ding_sentences_are_aligned_sub_entries_without_notes(tmp_path: Path) -> None:
    pairs = read_ding(write(tmp_path, "de-en", DING_SAMPLE))
    got = [(p.source, p.target, p.line) for p in pairs]
    assert got == [
        ("Alle Augen waren auf sie gerichtet.", "All eyes were fixed on her.", 2),
        ("Das ist jetzt kaputt, leider.", "It is broken now, sadly.", 4),
    ]  # the "a / b" alternative and the misaligned line 5 are dropped


def test_ding_phrases_take_the_first_synonym(tmp_path: Path) -> None:
    pairs = read_ding(write(tmp_path, "de-en", DING_SAMPLE), kind="phrases")
    assert ("Aal blau", "Eel au bleu") in [(p.source, p.target) for p in pairs]
    assert all(len(p.source.split()) >= 2 for p in pairs)
    with pytest.raises(RnnkitError, match="data.kind"):
        read_ding(write(tmp_path, "x", ""), kind="words")


def test_installed_ding_holds_the_issue_example() -> None:
    # scripts/setup.sh installs the Debian package trans-de-en
    pairs = read_ding()
    assert len(pairs) > 15_000
    assert any(p.source == "Alle Augen waren auf sie gerichtet." for p in pairs)


def test_tsv_and_csv_pairs(tmp_path: Path) -> None:
    tsv = write(tmp_path, "p.tsv", "Guten Tag.\tGood day.\nDanke  sehr.\tThanks a lot.\n")
    assert [(p.source, p.target) for p in read_pair_file(tsv)] == [
        ("Guten Tag.", "Good day."),
        ("Danke sehr.", "Thanks a lot."),
    ]
    csv_file = write(tmp_path, "p.csv", 'de,en\n"Ja, gut.",Yes.\n')
    assert [(p.source, p.target) for p in read_pair_file(csv_file, header=True)] == [
        ("Ja, gut.", "Yes.")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\tb\n\nc\td\n", r"p\.tsv, line 2: the line is empty"),
        ("a\tb\nc\n", r"p\.tsv, line 2: expected two tab-separated fields.*got 1"),
        ("a\tb\tc\n", r"p\.tsv, line 1: expected two tab-separated.*got 3"),
        ("a\t \n", r"p\.tsv, line 1: the target is empty"),
        ("", r"p\.tsv holds no pairs"),
    ],
)
def test_bad_pair_lines_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RnnkitError, match=message):
        read_pair_file(write(tmp_path, "p.tsv", text))


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RnnkitError, match="does not exist"):
        read_pair_file(tmp_path / "missing.tsv")
    bad = tmp_path / "latin1.tsv"
    bad.write_bytes(b"a\tb\nsch\xf6n\tnice\n")
    with pytest.raises(RnnkitError, match=r"latin1\.tsv, line 2: not UTF-8"):
        read_pair_file(bad)


def test_parallel_files(tmp_path: Path) -> None:
    de = write(tmp_path, "a.de", "Hallo.\nTschüss.\n")
    en = write(tmp_path, "a.en", "Hello.\nBye.\n")
    assert [(p.source, p.target) for p in read_parallel_files(de, en)] == [
        ("Hallo.", "Hello."),
        ("Tschüss.", "Bye."),
    ]
    short = write(tmp_path, "b.en", "Hello.\n")
    with pytest.raises(RnnkitError, match="a.de has 2 lines but .*b.en has 1"):
        read_parallel_files(de, short)
    gap = write(tmp_path, "c.en", "Hello.\n\n")
    with pytest.raises(RnnkitError, match=r"c\.en, line 2: the line is empty"):
        read_parallel_files(de, gap)


def test_pronunciations_cmudict_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dict",
        "read R EH1 D\nread(2) R IY1 D\naalen AE1 L AH0 N # place, german\nTab\tT AE1 B\n",
    )
    words = read_pronunciations(path)
    assert words == {
        "read": [("R", "EH", "D"), ("R", "IY", "D")],
        "aalen": [("AE", "L", "AH", "N")],
        "tab": [("T", "AE", "B")],
    }
    assert read_pronunciations(path, stress=True)["read"][0] == ("R", "EH1", "D")
    with pytest.raises(RnnkitError, match=r"dict2, line 2: expected a word followed"):
        read_pronunciations(write(tmp_path, "dict2", "a AH0\nlonely\n"))


def test_installed_cmudict() -> None:
    words = read_pronunciations()
    assert len(words) > 120_000
    assert ("R", "IY", "D") in words["read"]
    assert len({p for prons in words.values() for pron in prons for p in pron}) == 39


def test_split_groups_keeps_a_key_in_one_part() -> None:
    keys = [normalise_key(k) for k in ["A b.", "a  B.", "c", "d", "e", "f", "g", "h", "i", "j"]]
    parts = split_groups(keys, (0.6, 0.2, 0.2), seed=3)
    assert sorted(i for p in parts for i in p) == list(range(10))
    assert [len({keys[i] for i in p}) for p in parts] == [5, 2, 2]  # 9 distinct keys
    owner = {int(i): k for k, p in enumerate(parts) for i in p}
    assert owner[0] == owner[1]  # the same sentence, differently spelled
    assert [p.tolist() for p in split_groups(keys, (0.6, 0.2, 0.2), seed=3)] == [
        p.tolist() for p in parts
    ]
