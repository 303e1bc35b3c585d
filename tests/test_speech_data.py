"""Speech data (rnnkit.data.speech): the espeak-ng generator (deterministic, cached, split
by voice), the asterisk recordings, and a user's folder of WAV files with its refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.audio import read_wav, write_wav
from rnnkit.data.speech import (
    DIGITS,
    EspeakSpec,
    asterisk_utterances,
    espeak_utterances,
    espeak_variants,
    folder_utterances,
    speaker_split,
)
from rnnkit.errors import RnnkitError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
needs_asterisk = pytest.mark.skipif(
    not Path("/usr/share/asterisk/sounds/en/digits/7.wav").is_file(),
    reason="asterisk-core-sounds-en-wav missing",
)
SMALL = EspeakSpec(sizes=(4, 2, 2), max_words=2, seed=3)


@needs_espeak
def test_generator_is_deterministic_for_a_seed_and_cached(tmp_path: Path) -> None:
    first = espeak_utterances(SMALL, tmp_path / "a")
    paths = [u.path for split in first.values() for u in split]
    assert all(p.is_file() and p.is_relative_to(tmp_path / "a") for p in paths)
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    again = espeak_utterances(SMALL, tmp_path / "a")  # read from the cache, not regenerated
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in paths} == stamps
    fresh = espeak_utterances(SMALL, tmp_path / "b")  # generated again: the same audio
    for u, v in zip(first["train"], fresh["train"]):
        assert (u.text, u.speaker) == (v.text, v.speaker)
        assert u.path.read_bytes() == v.path.read_bytes()
    other = espeak_utterances(EspeakSpec(sizes=(4, 2, 2), max_words=2, seed=4), tmp_path / "a")
    assert [u.text for u in other["train"]] != [u.text for u in first["train"]]
    samples, rate = read_wav(first["test"][0].path)
    assert rate == 8000 and len(samples) > 2000  # resampled to the task's rate
    for split in first.values():
        for u in split:
            assert 1 <= len(u.text.split()) <= 2 and set(u.text.split()) <= set(DIGITS)


@needs_espeak
def test_voice_split_is_disjoint_and_uses_listed_variants_only() -> None:
    speakers = speaker_split(seed=0, test=20, val=10)
    listed = set(espeak_variants())
    variants = {s: {v.partition("+")[2] for v in names} for s, names in speakers.items()}
    assert len(variants["test"]) == 20 and len(variants["val"]) == 10
    assert not variants["test"] & variants["train"] and not variants["val"] & variants["train"]
    assert not variants["test"] & variants["val"]
    assert (variants["test"] | variants["val"] | variants["train"]) - {""} <= listed
    assert not set(speakers["test"]) & set(speakers["train"])
    assert speaker_split(seed=0, test=20, val=10) == speakers
    with pytest.raises(RnnkitError, match="espeak-ng lists only"):
        speaker_split(seed=0, test=len(listed), val=1)


@needs_espeak
def test_generated_test_speakers_are_unseen_in_training(tmp_path: Path) -> None:
    spec = EspeakSpec(sizes=(30, 2, 10), max_words=1, seed=1)
    data = espeak_utterances(spec, tmp_path)
    train = {u.speaker.partition("+")[2] for u in data["train"]}
    test = {u.speaker.partition("+")[2] for u in data["test"]}
    assert test and not (test - {""}) & train


def test_generator_refuses_bad_settings() -> None:
    with pytest.raises(RnnkitError, match="data.words: expected lower-case words"):
        EspeakSpec(words=("Seven",)).check()
    with pytest.raises(RnnkitError, match="data.min_words/max_words"):
        EspeakSpec(min_words=3, max_words=2).check()
    with pytest.raises(RnnkitError, match="data.pitch"):
        EspeakSpec(pitch=(50, 120)).check()


@needs_asterisk
def test_asterisk_digits_with_their_transcripts(tmp_path: Path) -> None:
    clips = asterisk_utterances(DIGITS, strings=3, seed=0, cache_dir=tmp_path)
    by_text = {u.text: u for u in clips[:-3]}
    assert by_text["seven"].path.name == "7.wav" and by_text["oh"].path.name == "oh.wav"
    assert set(by_text) == set(DIGITS)
    for u in clips[-3:]:  # joined digit strings, cached
        assert len(u.text.split()) >= 2 and u.path.is_relative_to(tmp_path)
        samples, rate = read_wav(u.path)
        assert rate == 8000
    assert asterisk_utterances(DIGITS, strings=3, seed=0, cache_dir=tmp_path) == clips
    with pytest.raises(RnnkitError, match="no asterisk clips .* use only the words"):
        asterisk_utterances(["xylophone"])


# --------------------------------------------------------------------------- a folder
def _clip(path: Path, rate: int = 8000) -> None:
    t = np.arange(rate // 4) / rate
    write_wav(path, 0.3 * np.sin(2 * np.pi * 300 * t), rate)


def test_folder_reads_the_transcript_file(tmp_path: Path) -> None:
    _clip(tmp_path / "a.wav")
    (tmp_path / "sub").mkdir()
    _clip(tmp_path / "sub" / "b.wav")
    (tmp_path / "transcripts.tsv").write_text(
        "# file\ttranscript\tspeaker\n\na.wav\tSeven, three.\tann\nsub/b.wav\tnine\n"
    )
    clips = folder_utterances(tmp_path)
    assert [(u.path.name, u.text, u.speaker) for u in clips] == [
        ("a.wav", "seven three", "ann"),
        ("b.wav", "nine", "unknown"),
    ]


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        ("a.wav\tseven\nmissing.wav\tnine\n", r"line 2: 'missing.wav' names no file"),
        ("a.wav\t  \n", r"line 1: the transcript of 'a.wav' is empty"),
        ("a.wav seven\n", r"line 1: expected 'file.wav<TAB>transcript', found no tab"),
        ("a.wav\tseven\na.wav\tnine\n", r"line 2: 'a.wav' is listed twice \(first on line 1\)"),
        ("# only a comment\n", r"transcripts.tsv lists no clips"),
    ],
)
def test_folder_refuses_bad_transcripts(tmp_path: Path, listing: str, message: str) -> None:
    _clip(tmp_path / "a.wav")
    (tmp_path / "transcripts.tsv").write_text(listing)
    with pytest.raises(RnnkitError, match=message):
        folder_utterances(tmp_path)


def test_folder_without_transcript_file_is_refused(tmp_path: Path) -> None:
    _clip(tmp_path / "a.wav")
    with pytest.raises(RnnkitError, match=r"transcripts.tsv is missing: a speech folder needs"):
        folder_utterances(tmp_path)
    with pytest.raises(RnnkitError, match=r"not a folder"):
        folder_utterances(tmp_path / "a.wav")
