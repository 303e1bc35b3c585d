"""Spoken utterances and their transcripts: synthesised by espeak-ng, recorded by the
asterisk project's speaker, or a user's folder of WAV files.

Every source gives :class:`Utterance` records (a WAV path, its transcript, its speaker).

**espeak-ng** (Debian ``espeak-ng``; :func:`espeak_utterances`). Texts are drawn from a
word list (digit strings by default), spoken by *speakers*: an English accent of
espeak-ng (``en-gb``, ``en-us``, ``en-gb-scotland`` ...) with one of its voice variants
(``en-us+Alex``, as listed by ``espeak-ng --voices=variant``: an unknown variant name
silently falls back to the plain voice, so only listed names are used), at a random
speed and pitch. The variants are split between train, validation and test, so every
test speaker is a voice the model never heard. Everything is drawn from one seed; the
audio is generated once, resampled to the task's rate and cached on disk under a name
keyed by every generation parameter (text, voice, speed, pitch, rate, espeak-ng's
version), so a second run reads the cache.

**asterisk** (Debian ``asterisk-core-sounds-en-wav`` + ``asterisk-core-sounds-en`` for the
transcripts, ``digits/7: seven``; :func:`asterisk_utterances`): one professional
speaker recorded at 8 kHz; the clips whose transcript uses only the given words, and
digit strings made by joining single-digit clips with short pauses (cached like above).

**A folder** (:func:`folder_utterances`): WAV files (16-bit PCM mono) and a file
``transcripts.tsv`` in the folder, one utterance a line::

    # comment lines and blank lines are skipped
    path/of/clip.wav<TAB>the transcript<TAB>optional speaker

paths relative to the folder. A missing file, an empty transcript, a line without a tab
or a file named twice is refused naming the line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rnnkit.data.audio import read_wav, resample, write_wav
from rnnkit.errors import RnnkitError

ESPEAK = "espeak-ng"
ACCENTS = (
    "en-gb",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
)
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh")
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
TENS = "twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million"
NUMBERS = (*DIGITS, *TEENS.split(), *TENS.split())
WORD_SETS = {"digits": DIGITS, "numbers": NUMBERS}
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
TRANSCRIPT_FILE = "transcripts.tsv"


@dataclass(frozen=True)
class Utterance:
    """One spoken clip: the WAV file, what is said (normalised text) and who says it."""

    path: Path
    text: str
    speaker: str


def normalise_text(text: str) -> str:
    """Lower case, the sentence punctuation ``.,!?;:"`` dropped, spaces collapsed."""
    return " ".join(re.sub(r"[.,!?;:\"]", " ", text.lower()).split())


def default_cache_dir() -> Path:
    """``$RNNKIT_CACHE/speech``, else ``~/.cache/rnnkit/speech``."""
    root = os.environ.get("RNNKIT_CACHE") or Path.home() / ".cache" / "rnnkit"
    return Path(root) / "speech"


# --------------------------------------------------------------------------- espeak-ng
def _espeak() -> str:
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise RnnkitError(
            "speech data: the espeak-ng program is not installed (apt-get install espeak-ng; "
            "scripts/setup.sh installs it)"
        )
    return exe


@lru_cache(maxsize=1)
def espeak_version() -> str:
    """``espeak-ng --version``'s first line (part of the cache key)."""
    out = subprocess.run([_espeak(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[0]


@lru_cache(maxsize=1)
def espeak_variants() -> tuple[str, ...]:
    """The voice variants espeak-ng lists (``espeak-ng --voices=variant``), sorted: the
    names that ``-v VOICE+NAME`` really applies."""
    out = subprocess.run(
        [_espeak(), "--voices=variant"], capture_output=True, text=True, check=True
    ).stdout
    names = set()
    for line in out.splitlines()[1:]:
        for field in line.split():
            if field.startswith("!v/"):
                names.add(field[3:])
    if not names:
        raise RnnkitError("espeak-ng --voices=variant listed no variants")
    return tuple(sorted(names))


@dataclass(frozen=True)
class EspeakSpec:
    """What :func:`espeak_utterances` generates. ``sizes``: utterances of train, val and
    test; ``words``: the vocabulary; ``min_words`` / ``max_words``: words per utterance;
    ``test_variants`` / ``val_variants``: voice variants held out for those splits (the
    plain voices are train's); ``speed`` / ``pitch``: ranges (words per minute, 0-99);
    ``sample_rate``: the rate of the cached audio."""

    sizes: tuple[int, int, int] = (2000, 200, 400)
    words: tuple[str, ...] = DIGITS
    min_words: int = 1
    max_words: int = 4
    test_variants: int = 20
    val_variants: int = 10
    speed: tuple[int, int] = (130, 210)
    pitch: tuple[int, int] = (20, 80)
    sample_rate: int = 8000
    seed: int = 0

    def check(self) -> None:
        """Refuse impossible settings, naming the ``data`` key."""
        if not self.words or any(not re.fullmatch(r"[a-z']+", w) for w in self.words):
            raise RnnkitError(f"data.words: expected lower-case words, got {list(self.words)}")
        if not 1 <= self.min_words <= self.max_words:
            raise RnnkitError(
                f"data.min_words/max_words: expected 1 <= {self.min_words} <= {self.max_words}"
            )
        if min(self.sizes) < 1:
            raise RnnkitError(f"utterance counts: expected >= 1 per split, got {self.sizes}")
        if self.test_variants < 1 or self.val_variants < 1:
            raise RnnkitError("data.test_variants and data.val_variants: expected >= 1")
        lo, hi = self.speed
        if not 80 <= lo <= hi <= 450:
            raise RnnkitError(f"data.speed: expected 80 <= min <= max <= 450, got {self.speed}")
        lo, hi = self.pitch
        if not 0 <= lo <= hi <= 99:
            raise RnnkitError(f"data.pitch: expected 0 <= min <= max <= 99, got {self.pitch}")


def speaker_split(seed: int, test: int, val: int) -> dict[str, list[str]]:
    """The espeak-ng speakers (``accent+variant``) of train, val and test: the listed
    variants shuffled by ``seed``, the first ``test`` for test, the next ``val`` for val,
    the rest (and every plain accent) for train. No variant is in two splits."""
    variants = list(espeak_variants())
    if test + val >= len(variants):
        raise RnnkitError(
            f"data.test_variants + data.val_variants = {test + val}: espeak-ng lists only "
            f"{len(variants)} variants, and training needs some"
        )
    order = np.random.default_rng(seed).permutation(len(variants))
    chosen = [variants[i] for i in order]
    groups = {
        "test": chosen[:test],
        "val": chosen[test : test + val],
        "train": ["", *chosen[test + val :]],
    }
    return {
        split: [f"{a}+{v}" if v else a for a in ACCENTS for v in names]
        for split, names in groups.items()
    }


def _cache_path(cache_dir: Path, params: Mapping[str, object]) -> Path:
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    return cache_dir / key[:2] / f"{key}.wav"


def _synthesise(job: tuple[Path, str, str, int, int, int]) -> None:
    """Speak ``text`` with espeak-ng into a temporary WAV, resample, write ``path``."""
    path, text, voice, speed, pitch, rate = job
    with tempfile.TemporaryDirectory(prefix="rnnkit-espeak-") as tmp:
        raw = Path(tmp) / "out.wav"
        cmd = [_espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not raw.is_file():
            raise RnnkitError(f"espeak-ng failed on {text!r} ({voice}): {done.stderr.strip()}")
        samples, native = read_wav(raw)
    write_wav(path, resample(samples, native, rate), rate)


def espeak_utterances(
    spec: EspeakSpec, cache_dir: Path | None = None, *, workers: int = 4
) -> dict[str, list[Utterance]]:
    """The utterances of train, val and test, generated (or read from the cache).

    Deterministic: the same ``spec`` gives the same texts, speakers, speeds, pitches and
    cache files. A clip already in ``cache_dir`` is not generated again.
    """
    spec.check()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    speakers = speaker_split(spec.seed, spec.test_variants, spec.val_variants)
    version = espeak_version()
    out: dict[str, list[Utterance]] = {}
    jobs = []
    for k, split in enumerate(("train", "val", "test")):
        rng = np.random.default_rng([spec.seed, k])
        voices = speakers[split]
        utts = []
        for _ in range(spec.sizes[k]):
            count = int(rng.integers(spec.min_words, spec.max_words + 1))
            text = " ".join(spec.words[int(i)] for i in rng.integers(0, len(spec.words), count))
            voice = voices[int(rng.integers(len(voices)))]
            speed = int(rng.integers(spec.speed[0], spec.speed[1] + 1))
            pitch = int(rng.integers(spec.pitch[0], spec.pitch[1] + 1))
            params = {"text": text, "voice": voice, "speed": speed, "pitch": pitch,
                      "rate": spec.sample_rate, "espeak": version}  # fmt: skip
            path = _cache_path(cache_dir, params)
            if not path.is_file():
                jobs.append((path, text, voice, speed, pitch, spec.sample_rate))
            utts.append(Utterance(path, text, voice))
        out[split] = utts
    if jobs:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            list(pool.map(_synthesise, dict.fromkeys(jobs)))  # each distinct clip once
    return out


# --------------------------------------------------------------------------- asterisk
def read_asterisk_transcripts(path: Path = ASTERISK_TRANSCRIPTS) -> dict[str, str]:
    """``core-sounds-en.txt.gz``'s lines ``digits/7: seven`` as ``{"digits/7": "seven"}``
    (normalised text; lines in brackets, tones and comments are left out)."""
    if not path.is_file():
        raise RnnkitError(
            f"{path} is missing: the asterisk transcripts come with the Debian package "
            "asterisk-core-sounds-en (apt-get install asterisk-core-sounds-en "
            "asterisk-core-sounds-en-wav; scripts/setup.sh installs them)"
        )
    out = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            name, sep, text = line.partition(":")
            if not sep or line.startswith(";") or text.strip().startswith("["):
                continue
            out[name.strip()] = normalise_text(text)
    return out


def asterisk_utterances(
    words: Sequence[str],
    *,
    language: str = "en",
    strings: int = 0,
    max_words: int = 4,
    seed: int = 0,
    cache_dir: Path | None = None,
    root: Path = ASTERISK_ROOT,
) -> list[Utterance]:
    """The asterisk speaker's clips whose transcript uses only ``words``, then
    ``strings`` word strings (2 to ``max_words`` words, drawn by ``seed``) made by joining
    its single-word clips with 0.15 s pauses, cached in ``cache_dir``."""
    folder = root / language
    transcripts = read_asterisk_transcripts()
    vocab = set(words)
    singles: dict[str, Path] = {}
    out = []
    for name, text in sorted(transcripts.items()):
        path = folder / f"{name}.wav"
        if not text or not set(text.split()) <= vocab or not path.is_file():
            continue
        out.append(Utterance(path, text, f"asterisk-{language}"))
        if " " not in text:
            singles.setdefault(text, path)
    if not out:
        raise RnnkitError(
            f"no asterisk clips in {folder} use only the words {sorted(vocab)} (is "
            f"asterisk-core-sounds-{language}-wav installed? scripts/setup.sh installs it)"
        )
    if strings:
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        names = sorted(singles)
        rng = np.random.default_rng([seed, 99])
        for _ in range(strings):
            count = int(rng.integers(2, max(2, max_words) + 1))
            text = " ".join(names[int(i)] for i in rng.integers(0, len(names), count))
            params = {"asterisk": language, "text": text}
            path = _cache_path(cache_dir, params)
            if not path.is_file():
                parts = []
                rate = 0
                for w in text.split():
                    samples, rate = read_wav(singles[w])
                    parts += [samples, np.zeros(int(0.15 * rate), dtype=np.float32)]
                write_wav(path, np.concatenate(parts[:-1]), rate)
            out.append(Utterance(path, text, f"asterisk-{language}"))
    return out


# --------------------------------------------------------------------------- a folder
def folder_utterances(folder: str | Path) -> list[Utterance]:
    """The utterances listed in ``folder/transcripts.tsv`` (see the module docstring).
    The speaker is the third column, else ``"unknown"``."""
    folder = Path(folder)
    listing = folder / TRANSCRIPT_FILE
    if not folder.is_dir():
        raise RnnkitError(f"{folder}: not a folder (expected WAV files and {TRANSCRIPT_FILE})")
    if not listing.is_file():
        raise RnnkitError(
            f"{listing} is missing: a speech folder needs a transcript file, one "
            "'file.wav<TAB>transcript' line per clip"
        )
    out: list[Utterance] = []
    seen: dict[Path, int] = {}
    lines = listing.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{listing}, line {number}"
        fields = line.split("\t")
        if len(fields) < 2:
            raise RnnkitError(f"{where}: expected 'file.wav<TAB>transcript', found no tab")
        name, text = fields[0].strip(), normalise_text(fields[1])
        speaker = fields[2].strip() if len(fields) > 2 and fields[2].strip() else "unknown"
        if not text:
            raise RnnkitError(f"{where}: the transcript of {name!r} is empty")
        path = (folder / name).resolve()
        if not path.is_file():
            raise RnnkitError(f"{where}: {name!r} names no file in {folder}")
        if path in seen:
            raise RnnkitError(f"{where}: {name!r} is listed twice (first on line {seen[path]})")
        seen[path] = number
        out.append(Utterance(path, text, speaker))
    if not out:
        raise RnnkitError(f"{listing} lists no clips")
    return out


__all__ = [
    "ACCENTS",
    "DIGITS",
    "NUMBERS",
    "WORD_SETS",
    "EspeakSpec",
    "Utterance",
    "asterisk_utterances",
    "default_cache_dir",
    "espeak_utterances",
    "espeak_variants",
    "folder_utterances",
    "normalise_text",
    "read_asterisk_transcripts",
    "speaker_split",
]
