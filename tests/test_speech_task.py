"""``rnnkit train speech`` end to end on a handful of generated clips: the report (in-domain
and asterisk figures side by side, the MFCC baseline), ``rnnkit predict`` on WAV files, a
user's folder, and the refusals of bad input. No accuracy is claimed: one epoch of a
tiny model on 24 clips learns next to nothing."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.audio import read_wav, write_wav
from rnnkit.tools.cli import main

pytestmark = [
    pytest.mark.one_thread,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing"),
    pytest.mark.skipif(
        not Path("/usr/share/asterisk/sounds/en/digits/7.wav").is_file(),
        reason="asterisk-core-sounds-en-wav missing",
    ),
]

TINY = ["--set", "model.hidden_size=16", "model.num_layers=1", "model.conv_channels=8"]
TINY += ["train.batch_size=8", "train.progress=false", "train.tensorboard=false"]
TINY += ["data.utterances=24", "data.val_utterances=6", "data.test_utterances=6"]
TINY += ["data.max_words=2", "data.ood_strings=2", "data.beam_size=3"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-cache")


@pytest.fixture(scope="module")
def speech_run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    out = tmp_path_factory.mktemp("speech") / "run"
    code = main(["train", "speech", "--out", str(out), "--epochs", "1", *TINY,
                 f"data.cache_dir={cache}"])  # fmt: skip
    assert code == 0
    return out


def test_report_has_in_domain_and_asterisk_figures_and_the_baseline(speech_run: Path) -> None:
    report = json.loads((speech_run / "report.json").read_text())
    assert report["task"] == "speech"
    test = report["test"]
    assert set(test) == {"loss", "cer", "wer", "cer_greedy", "wer_greedy",
                         "asterisk_cer", "asterisk_wer"}  # fmt: skip
    assert all(v >= 0 for v in test.values())
    assert set(report["baselines"]["mfcc_nearest"]) == {"cer", "wer", "asterisk_cer",
                                                        "asterisk_wer"}  # fmt: skip
    assert "voice variants of val and test unseen in training" in report["data"]
    assert "out of domain: asterisk-en, 13 clips" in report["data"]  # 11 digits + 2 strings
    alphabet = json.loads((speech_run / "alphabet.json").read_text())
    assert alphabet["sizes"] == {"train": 24, "val": 6, "test": 6}
    assert set(alphabet["symbols"]) <= set("abcdefghijklmnopqrstuvwxyz ")


def test_predict_prints_a_transcript_per_wav_file(
    speech_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = Path("/usr/share/asterisk/sounds/en/digits/7.wav")
    assert main(["predict", str(speech_run), str(clip), str(clip), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    symbols = set(json.loads((speech_run / "alphabet.json").read_text())["symbols"])
    assert len(rows) == 2 and rows[0] == rows[1]
    assert rows[0]["input"] == str(clip) and set(rows[0]["transcript"]) <= symbols
    assert rows[0]["frames"] == 1 + -(-(len(read_wav(clip)[0]) - 200) // 80)
    assert main(["predict", str(speech_run), str(clip)]) == 0
    assert capsys.readouterr().out.rstrip("\n").endswith(f"\t{clip}")


def test_predict_refuses_a_wrong_rate_and_a_corrupt_file(
    speech_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wide = tmp_path / "wide.wav"
    write_wav(wide, np.zeros(16000), 16000)
    assert main(["predict", str(speech_run), str(wide)]) == 2
    assert "wide.wav: sample rate 16000 Hz; expected 8000 Hz" in capsys.readouterr().err
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert main(["predict", str(speech_run), str(broken)]) == 2
    assert "broken.wav: not a readable WAV file" in capsys.readouterr().err
    assert main(["predict", str(speech_run), str(tmp_path / "none.wav")]) == 2
    assert "none.wav: no such audio file" in capsys.readouterr().err


def _folder(root: Path, cache: Path, rate: int = 8000) -> Path:
    """A user's folder: 12 of the cached espeak clips (8 kHz) with their transcripts."""
    root.mkdir()
    clips = sorted(cache.rglob("*.wav"))[:12]
    lines = []
    for i, src in enumerate(clips):
        samples, _ = read_wav(src)
        write_wav(root / f"clip{i}.wav", samples, 8000)
        lines.append(f"clip{i}.wav\t{['seven', 'three two', 'oh nine'][i % 3]}")
    (root / "transcripts.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_users_folder_trains_and_a_wrong_rate_is_refused_or_resampled(
    speech_run: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path / "mine", cache)
    args = ["train", "speech", "--data", str(folder), "--epochs", "1", *TINY,
            "data.val_fraction=0.25", "data.test_fraction=0.25"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "r1")]) == 0
    report = json.loads((tmp_path / "r1" / "report.json").read_text())
    assert report["data"].startswith(str(folder)) and "asterisk_cer" not in report["test"]
    with wave.open(str(folder / "clip0.wav"), "rb") as w:
        data = w.readframes(w.getnframes())
    with wave.open(str(folder / "clip0.wav"), "wb") as w:  # the same samples, labelled 16 kHz
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(data)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "clip0.wav: sample rate 16000 Hz; expected 8000 Hz (data.sample_rate)" in err
    assert "data.resample=true" in err
    assert main([*args, "data.resample=true", "--out", str(tmp_path / "r3")]) == 0
    assert (
        "1 clips resampled to 8000 Hz"
        in json.loads((tmp_path / "r3" / "report.json").read_text())["data"]
    )
    assert main(["evaluate", str(speech_run), "--data", str(folder)]) == 2  # 16 kHz again
    (folder / "clip0.wav").write_bytes(b"not audio")
    assert main([*args, "data.resample=true", "--out", str(tmp_path / "r4")]) == 2
    assert "clip0.wav: not a readable WAV file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("data.ood=librispeech", "data.ood: expected asterisk or none"),
        ("data.beam_size=0", "data.beam_size: expected >= 1"),
        ("model.subsample=3", "model.subsample: expected one of (1, 2, 4, 8)"),
        ("data.words=seven,4", "data.words: expected lower-case words"),
        ("data.speed=100", "data.speed: expected [min, max]"),
    ],
)
def test_bad_settings_are_refused(
    tmp_path: Path, cache: Path, setting: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "speech", "--out", str(tmp_path / "r"), *TINY, f"data.cache_dir={cache}"]
    assert main([*args, setting]) == 2
    assert message in capsys.readouterr().err
