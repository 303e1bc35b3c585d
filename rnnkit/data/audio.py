"""Audio in: 16-bit PCM WAV files and the log-mel / MFCC front-end of speech recognition.

Reading (:func:`read_wav`, :func:`load_wav`) uses the standard library's :mod:`wave` and
accepts one format only, the one telephone and speech corpora use: uncompressed 16-bit
PCM, one channel. Anything else (stereo, 8- or 24-bit samples, a compressed or truncated
file, a file that is not a WAV) is refused with one message naming the file and what was
expected. A file at another sample rate than the one asked for is refused too, unless the
caller asks for resampling (:func:`resample`, polyphase, with a note it returns).

The front-end is a few lines of torch (so it runs on a GPU too) and follows the classic
recipe (HTK; ``python_speech_features``, which the tests compare it with)::

    x[n] - a x[n-1]                    pre-emphasis (a = 0.97)
    frames of 25 ms every 10 ms        the last frame zero-padded; a Hann window each
    |FFT|^2 / n_fft                    power spectrum (torch.stft), (T, n_fft/2 + 1)
    · mel filterbank^T                 triangles evenly spaced on the mel scale, (T, M)
    log(max(., floor))                 log-mel energies
    DCT-II (orthonormal), first K      MFCCs, (T, K)

with ``mel(f) = 2595 log10(1 + f / 700)``; the triangles' corners are FFT bins,
``floor((n_fft + 1) f / rate)``, as in HTK-style recipes.
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.errors import RnnkitError
from rnnkit.io import atomic_path

SAMPLE_WIDTH = 2  # bytes per sample: 16-bit PCM
LOG_FLOOR = 1e-10  # energies below this are floored before the log


# --------------------------------------------------------------------------- WAV files
def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """The samples and sample rate of a 16-bit PCM mono WAV file.

    Returns ``(samples (N,) float32 in [-1, 1), rate)``. Refuses (:class:`RnnkitError`,
    naming the file) a missing file, a file that is not a WAV, a compressed, stereo or
    non-16-bit one, one that holds no samples, and one shorter than its header says.
    """
    path = Path(path)
    if not path.is_file():
        raise RnnkitError(f"{path}: no such audio file (expected a 16-bit PCM mono WAV file)")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.getnframes()
            if channels != 1:
                raise RnnkitError(
                    f"{path}: {channels} channels; expected a mono (1-channel) 16-bit PCM WAV"
                )
            if width != SAMPLE_WIDTH:
                raise RnnkitError(f"{path}: {8 * width}-bit samples; expected 16-bit PCM mono WAV")
            data = w.readframes(frames)
    except (wave.Error, EOFError, ValueError) as e:
        if isinstance(e, RnnkitError):
            raise
        raise RnnkitError(
            f"{path}: not a readable WAV file ({e}); expected a 16-bit PCM mono WAV"
        ) from None
    got = len(data) // SAMPLE_WIDTH
    if got < frames:
        raise RnnkitError(
            f"{path}: truncated WAV: its header says {frames} samples, the file holds {got}"
        )
    if got == 0:
        raise RnnkitError(f"{path}: the WAV file holds no samples")
    samples = np.frombuffer(data[: got * SAMPLE_WIDTH], dtype="<i2").astype(np.float32)
    return samples / 32768.0, rate


def load_wav(path: str | Path, sample_rate: int, *, allow_resample: bool = False) -> np.ndarray:
    """The samples ``(N,) float32`` of a WAV file recorded at ``sample_rate`` Hz.

    A file at another rate is refused naming both rates, unless ``allow_resample`` is true:
    then it is resampled to ``sample_rate`` (:func:`resample`). The caller says so to the
    user (the speech task's data description counts the resampled files).
    """
    samples, rate = read_wav(path)
    if rate != sample_rate:
        if not allow_resample:
            raise RnnkitError(
                f"{path}: sample rate {rate} Hz; expected {sample_rate} Hz (data.sample_rate), "
                "or set data.resample=true to resample it"
            )
        samples = resample(samples, rate, sample_rate)
    return samples


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write ``samples`` (float in [-1, 1], clipped) as a 16-bit PCM mono WAV, atomically."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` at ``rate`` Hz resampled to ``target`` Hz: polyphase filtering by the
    reduced ratio ``target / rate`` (scipy's ``resample_poly``, a Kaiser-windowed low-pass
    that removes what lies above the lower Nyquist frequency). ``(N,) -> (~N target/rate,)``."""
    if rate == target:
        return samples
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


# --------------------------------------------------------------------------- features
@dataclass(frozen=True)
class FrontEnd:
    """How audio becomes feature frames. ``frame_ms`` / ``hop_ms``: window length and
    step; ``n_fft``: FFT size (>= the window's samples); ``n_mels``: mel bands between
    ``f_min`` and ``f_max`` Hz (0 = the Nyquist frequency); ``preemphasis``: ``a`` of
    ``x[n] - a x[n-1]`` (0 = none); ``window``: ``hann`` (symmetric) or ``rect``."""

    sample_rate: int = 8000
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    n_mels: int = 40
    f_min: float = 0.0
    f_max: float = 0.0
    preemphasis: float = 0.97
    window: str = "hann"

    def __post_init__(self) -> None:
        if self.sample_rate < 1000:
            raise RnnkitError(f"sample rate: expected >= 1000 Hz, got {self.sample_rate}")
        if self.win_length < 2 or self.hop_length < 1:
            raise RnnkitError(
                f"frame_ms={self.frame_ms}, hop_ms={self.hop_ms}: too short at "
                f"{self.sample_rate} Hz"
            )
        if self.n_fft < self.win_length:
            raise RnnkitError(
                f"n_fft={self.n_fft} is shorter than a frame ({self.win_length} samples)"
            )
        top = self.f_max or self.sample_rate / 2
        if not 0 <= self.f_min < top <= self.sample_rate / 2:
            raise RnnkitError(
                f"mel bands from {self.f_min} to {top} Hz: expected 0 <= f_min < f_max <= "
                f"{self.sample_rate / 2} (half the sample rate)"
            )
        if self.window not in ("hann", "rect"):
            raise RnnkitError(f"window: expected hann or rect, got {self.window!r}")
        if self.n_mels < 1:
            raise RnnkitError(f"n_mels: expected >= 1, got {self.n_mels}")

    @property
    def win_length(self) -> int:
        """Samples per frame."""
        return math.floor(self.sample_rate * self.frame_ms / 1000 + 0.5)  # half up

    @property
    def hop_length(self) -> int:
        """Samples between the starts of two frames."""
        return math.floor(self.sample_rate * self.hop_ms / 1000 + 0.5)

    def num_frames(self, num_samples: int) -> int:
        """Frames of a signal of ``num_samples``: ``1 + ceil((N - win) / hop)``, at least 1."""
        extra = max(num_samples - self.win_length, 0)
        return 1 + -(-extra // self.hop_length)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """The mel scale (HTK): ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(fe: FrontEnd) -> torch.Tensor:
    """The ``(n_mels, n_fft // 2 + 1)`` triangular filters: band ``j`` rises from 0 at
    corner ``j`` to 1 at corner ``j + 1`` and falls back to 0 at corner ``j + 2``, the
    ``n_mels + 2`` corners evenly spaced in mel from ``f_min`` to ``f_max``, each rounded
    down to an FFT bin."""
    top = fe.f_max or fe.sample_rate / 2
    mels = np.linspace(hz_to_mel(fe.f_min), hz_to_mel(top), fe.n_mels + 2)
    corners = np.floor((fe.n_fft + 1) * mel_to_hz(mels) / fe.sample_rate)  # (M + 2,)
    bins = np.arange(fe.n_fft // 2 + 1, dtype=np.float64)[None, :]  # (1, F)
    lo, mid, hi = corners[:-2, None], corners[1:-1, None], corners[2:, None]  # (M, 1) each
    rise = (bins - lo) / np.maximum(mid - lo, 1.0)
    fall = (hi - bins) / np.maximum(hi - mid, 1.0)
    fb = np.where((bins >= lo) & (bins < mid), rise, 0.0)
    fb = np.where((bins >= mid) & (bins < hi), fall, fb)
    return torch.from_numpy(fb)  # float64; cast where used


def power_spectrum(samples: torch.Tensor | np.ndarray, fe: FrontEnd) -> torch.Tensor:
    """Pre-emphasised, windowed frames' power spectra ``|FFT|^2 / n_fft``: ``(N,)`` samples
    -> ``(T, n_fft // 2 + 1)`` with ``T = fe.num_frames(N)`` (dtype of the samples; numpy
    input becomes float32)."""
    x = torch.as_tensor(samples)
    if not x.is_floating_point():
        x = x.float()
    if x.ndim != 1:
        raise RnnkitError(f"audio samples: expected one channel (N,), got shape {tuple(x.shape)}")
    if fe.preemphasis:
        x = torch.cat([x[:1], x[1:] - fe.preemphasis * x[:-1]])
    win, hop = fe.win_length, fe.hop_length
    frames = fe.num_frames(len(x))
    # torch.stft places a window shorter than n_fft in the middle of each n_fft-sample
    # frame: shift the signal right by that offset so frame t starts at sample t * hop
    # (the power spectrum does not depend on where the frame sits inside the FFT).
    offset = (fe.n_fft - win) // 2
    needed = (frames - 1) * hop + fe.n_fft
    x = torch.nn.functional.pad(x, (offset, max(needed - offset - len(x), 0)))
    if fe.window == "hann":
        window = torch.hann_window(win, periodic=False, dtype=x.dtype, device=x.device)
    else:
        window = torch.ones(win, dtype=x.dtype, device=x.device)
    spec = torch.stft(
        x,
        n_fft=fe.n_fft,
        hop_length=hop,
        win_length=win,
        window=window,
        center=False,
        return_complex=True,
    )  # (F, T')
    return spec[:, :frames].abs().square().T / fe.n_fft  # (T, F)


def log_mel(samples: torch.Tensor | np.ndarray, fe: FrontEnd) -> torch.Tensor:
    """Log mel-band energies: ``(N,)`` samples -> ``(T, n_mels)``."""
    power = power_spectrum(samples, fe)  # (T, F)
    fb = mel_filterbank(fe).to(dtype=power.dtype, device=power.device)  # (M, F)
    return torch.log(torch.clamp(power @ fb.T, min=LOG_FLOOR))  # (T, M)


def dct_matrix(n: int, k: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The first ``k`` rows of the orthonormal DCT-II of size ``n``, transposed: ``(n, k)``,
    so that ``x @ dct_matrix(n, k)`` is the DCT of the rows of ``x``."""
    i = torch.arange(n, dtype=torch.float64)[:, None]  # (n, 1)
    j = torch.arange(k, dtype=torch.float64)[None, :]  # (1, k)
    basis = torch.cos(math.pi / n * (i + 0.5) * j) * math.sqrt(2.0 / n)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.to(dtype)


def mfcc(samples: torch.Tensor | np.ndarray, fe: FrontEnd, n_mfcc: int = 13) -> torch.Tensor:
    """Mel-frequency cepstral coefficients: ``(N,)`` samples -> ``(T, n_mfcc)``, the
    orthonormal DCT-II of the log-mel energies, its first ``n_mfcc`` coefficients."""
    if not 1 <= n_mfcc <= fe.n_mels:
        raise RnnkitError(f"n_mfcc: expected 1 to n_mels={fe.n_mels}, got {n_mfcc}")
    logmel = log_mel(samples, fe)  # (T, M)
    return logmel @ dct_matrix(fe.n_mels, n_mfcc, logmel.dtype).to(logmel.device)  # (T, K)


__all__ = [
    "FrontEnd",
    "dct_matrix",
    "hz_to_mel",
    "load_wav",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "mfcc",
    "power_spectrum",
    "read_wav",
    "resample",
    "write_wav",
]
