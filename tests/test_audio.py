"""The audio front-end (rnnkit.data.audio): WAV reading and its refusals, and the log-mel /
MFCC features against python_speech_features, the reference implementation."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.audio import (
    LOG_FLOOR,
    FrontEnd,
    load_wav,
    log_mel,
    mfcc,
    read_wav,
    resample,
    write_wav,
)
from rnnkit.errors import RnnkitError

psf = pytest.importorskip("python_speech_features")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


def reference(x: np.ndarray, fe: FrontEnd, n_mfcc: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """python_speech_features' log filterbank energies and MFCCs with our settings."""
    kw = {"winlen": fe.frame_ms / 1000, "winstep": fe.hop_ms / 1000, "nfilt": fe.n_mels,
          "nfft": fe.n_fft, "preemph": fe.preemphasis, "winfunc": np.hanning}  # fmt: skip
    energies, _ = psf.fbank(x, fe.sample_rate, **kw)
    ceps = psf.mfcc(x, fe.sample_rate, numcep=n_mfcc, ceplifter=0, appendEnergy=False, **kw)
    return np.log(energies), ceps


def tone(rate: int, seconds: float = 1.0) -> np.ndarray:
    """440 Hz + 1 kHz tones with a little seeded noise (no band is exactly silent)."""
    t = np.arange(int(rate * seconds)) / rate
    noise = 0.01 * np.random.default_rng(0).standard_normal(len(t))
    return 0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1000 * t) + noise


@pytest.mark.parametrize("rate", [8000, 16000])
def test_log_mel_and_mfcc_match_python_speech_features_on_a_tone(rate: int) -> None:
    fe = FrontEnd(sample_rate=rate, n_fft=512 if rate == 8000 else 1024)
    x = tone(rate)
    ref_mel, ref_mfcc = reference(x, fe)
    ours_mel = log_mel(torch.tensor(x), fe).numpy()  # float64 in, float64 out
    assert ours_mel.shape == ref_mel.shape == (fe.num_frames(len(x)), fe.n_mels)
    np.testing.assert_allclose(ours_mel, ref_mel, atol=1e-9)
    np.testing.assert_allclose(mfcc(torch.tensor(x), fe).numpy(), ref_mfcc, atol=1e-9)
    # float32 (what the task uses) agrees to float32 precision
    np.testing.assert_allclose(log_mel(x.astype(np.float32), fe).numpy(), ref_mel, atol=2e-3)


@needs_espeak
def test_front_end_matches_python_speech_features_on_an_espeak_clip(tmp_path: Path) -> None:
    raw = tmp_path / "seven.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), "seven three"], check=True)
    x, rate = read_wav(raw)
    fe = FrontEnd(sample_rate=rate, n_fft=1024)
    ref_mel, ref_mfcc = reference(x.astype(np.float64), fe)
    ours = torch.tensor(x, dtype=torch.float64)
    assert len(ref_mel) > 50  # about a second of speech
    # espeak-ng's pauses are exact zeros: we floor energies at 1e-10, the reference at
    # float64's eps, so compare the frames where every band is above our floor
    loud = (ref_mel > np.log(LOG_FLOOR)).all(1)
    assert loud.sum() > 0.5 * len(loud)
    np.testing.assert_allclose(log_mel(ours, fe).numpy()[loud], ref_mel[loud], atol=1e-6)
    np.testing.assert_allclose(mfcc(ours, fe).numpy()[loud], ref_mfcc[loud], atol=1e-6)


def test_short_signal_gives_one_zero_padded_frame() -> None:
    fe = FrontEnd()
    x = tone(8000, 0.01)  # 80 samples, shorter than one 200-sample frame
    ref_mel, _ = reference(x, fe)
    np.testing.assert_allclose(log_mel(torch.tensor(x), fe).numpy(), ref_mel, atol=1e-9)
    assert ref_mel.shape == (1, 40)


def test_front_end_refuses_bad_settings() -> None:
    with pytest.raises(RnnkitError, match="n_fft=128 is shorter than a frame"):
        FrontEnd(n_fft=128)
    with pytest.raises(RnnkitError, match="half the sample rate"):
        FrontEnd(f_max=6000)
    with pytest.raises(RnnkitError, match="expected 1 to n_mels=40"):
        mfcc(tone(8000, 0.1), FrontEnd(), n_mfcc=41)


# --------------------------------------------------------------------------- WAV files
def _write(path: Path, data: bytes, *, channels: int = 1, width: int = 2, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return path


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    x = (tone(8000, 0.2) * 0.5).astype(np.float32)
    write_wav(tmp_path / "a.wav", x, 8000)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and y.dtype == np.float32
    np.testing.assert_allclose(y, x, atol=1 / 32768)


def test_read_wav_refuses_stereo(tmp_path: Path) -> None:
    path = _write(tmp_path / "stereo.wav", b"\0\0" * 200, channels=2)
    with pytest.raises(RnnkitError, match=r"stereo.wav: 2 channels; expected a mono"):
        read_wav(path)


def test_read_wav_refuses_8_bit_samples(tmp_path: Path) -> None:
    path = _write(tmp_path / "byte.wav", b"\x80" * 400, width=1)
    with pytest.raises(RnnkitError, match=r"byte.wav: 8-bit samples; expected 16-bit PCM"):
        read_wav(path)


def test_read_wav_refuses_a_file_that_is_not_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n")
    with pytest.raises(RnnkitError, match=r"notes.wav: not a readable WAV file .*expected a 16"):
        read_wav(path)


def test_read_wav_refuses_a_truncated_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "cut.wav", b"\1\0" * 1000)
    path.write_bytes(path.read_bytes()[:-1200])  # the header still says 1000 samples
    with pytest.raises(RnnkitError, match=r"cut.wav: truncated WAV: its header says 1000"):
        read_wav(path)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(path.read_bytes()[:20])  # cut inside the header
    with pytest.raises(RnnkitError, match=r"header.wav: not a readable WAV file"):
        read_wav(header_only)


def test_read_wav_refuses_an_empty_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RnnkitError, match=r"empty.wav: the WAV file holds no samples"):
        read_wav(_write(tmp_path / "empty.wav", b""))
    with pytest.raises(RnnkitError, match=r"gone.wav: no such audio file"):
        read_wav(tmp_path / "gone.wav")


def test_load_wav_refuses_another_rate_unless_resampling_is_asked(tmp_path: Path) -> None:
    x = tone(16000, 0.5).astype(np.float32) * 0.5
    write_wav(tmp_path / "wide.wav", x, 16000)
    with pytest.raises(RnnkitError, match=r"wide.wav: sample rate 16000 Hz; expected 8000 Hz"):
        load_wav(tmp_path / "wide.wav", 8000)
    y = load_wav(tmp_path / "wide.wav", 8000, allow_resample=True)
    assert len(y) == 4000
    np.testing.assert_allclose(y, resample(x, 16000, 8000), atol=1 / 16384)
    # the 440 Hz tone survives resampling: same dominant FFT bin
    spectrum = np.abs(np.fft.rfft(y[1000:3000]))
    assert abs(np.argmax(spectrum) * 8000 / 2000 - 440) <= 4
