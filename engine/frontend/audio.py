"""Audio in: reading files, mono mixdown, resampling, and the three feature extractors.

CosyVoice 2 looks at a reference recording through three different spectrograms, each the
exact one its network was trained on, so each is reproduced here number for number:

* :func:`whisper_log_mel` - 128-bin Whisper log-mel at 16 kHz, input of the speech tokenizer (ONNX).
* :func:`kaldi_fbank` - 80-bin Kaldi filterbank at 16 kHz; minus its mean it feeds CAM++ (ONNX).
* :func:`flow_mel` - 80-bin Matcha/HiFi-GAN log-mel at 24 kHz: the flow's prompt mel and the
  vocoder's input space.

Which resampler is used where:

* :func:`resample` - our own windowed-sinc resampler, the same kernel as
  ``torchaudio.transforms.Resample`` (Hann window, 6 zero crossings, roll-off 0.99). Every feature
  above is computed from audio resampled with it, because that is what the reference does and a
  different resampler shifts the features (and the speech tokens) measurably.
* :func:`resample_hq` - libsoxr (``soxr``) for everything a person only listens to: resampling
  generated 24 kHz audio for the sound card or for export at another rate. It is faster and
  better, but it is not what the model was trained with, so features never use it.

Audio arrays are float32 in [-1, 1]. Multi-channel audio is ``[frames, channels]`` (the layout
of soundfile and sounddevice); it is mixed down by averaging the channels, as the reference does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..config import MelConfig
from ..errors import AudioInputError

WHISPER_SAMPLE_RATE = 16000
WHISPER_N_FFT = 400
WHISPER_HOP = 160

# Longest file we read into memory at all. A reference voice needs 3-10 s; an hour-long podcast
# would cost ~700 MB of float32 at 48 kHz before any feature is computed. Anything longer than this
# must be trimmed in an editor first (the app's reference panel suggests where).
MAX_LOAD_SECONDS = 600.0

# Largest polyphase filter bank :func:`resample` builds (64 MB of float32); see there.
_MAX_KERNEL_ELEMENTS = 1 << 24


# --------------------------------------------------------------------------------------------
# Reading and validating
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the audio."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate > 0 else 0.0


def audio_info(path: str | Path) -> AudioInfo:
    """Read a file's header (rate, channels, length) without decoding it."""
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"The audio file {path} does not exist. Pick an existing recording.")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioInputError(
            f"{path.name} is not an audio file this program can read ({e}). "
            "Save it as WAV, FLAC, OGG or MP3 and try again."
        ) from e
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def load_audio(path: str | Path, max_seconds: float = MAX_LOAD_SECONDS) -> tuple[np.ndarray, int]:
    """Read any file libsndfile understands and mix it down to mono.

    Returns ``(audio [N] float32, sample_rate)`` at the file's own rate. The length is checked in
    the header first, so an hour-long file is refused before it is decoded.
    """
    info = audio_info(path)
    if info.frames == 0:
        raise AudioInputError(f"{info.path.name} contains no audio. Record or pick a clip of 3-10 seconds.")
    if info.duration_s > max_seconds:
        raise AudioInputError(
            f"{info.path.name} is {info.duration_s / 60:.1f} minutes long; at most {max_seconds / 60:.0f} minutes "
            "can be opened. Cut a 3-10 second piece of clear speech in an audio editor and use that."
        )
    try:
        data, sr = sf.read(str(info.path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioInputError(
            f"{info.path.name} could not be decoded ({e}). The file may be damaged; export it again as WAV."
        ) from e
    return validate_audio(data, int(sr)), int(sr)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``[N]`` or ``[frames, channels]`` -> ``[N]`` float32 (mean over channels).

    A ``[channels, frames]`` array (torchaudio layout) is recognised when its first dimension is a
    plausible channel count (<= 8) and much shorter than the second.
    """
    if audio.ndim == 1:
        return audio.astype(np.float32, copy=False)
    if audio.ndim != 2:
        raise AudioInputError(
            f"Audio must be one channel [samples] or [samples, channels]; got an array of shape {audio.shape}."
        )
    if audio.shape[0] <= 8 and audio.shape[1] > audio.shape[0]:
        audio = audio.T
    # Average in float32 exactly like ``speech.mean(dim=0)`` of the reference.
    return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).mean(dim=1).numpy()


def validate_audio(audio: object, sample_rate: object) -> np.ndarray:
    """Check user-supplied audio and return it as mono float32 ``[N]``.

    Raises :class:`AudioInputError` for wrong types, empty audio, NaN/inf samples or a bad rate,
    so that nothing further down (torch, onnxruntime) ever sees such input.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise AudioInputError(f"The sample rate must be a whole number of Hz, not {sample_rate!r}.")
    if sample_rate <= 0:
        raise AudioInputError(f"The sample rate must be positive, not {sample_rate}.")
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    if not isinstance(audio, np.ndarray):
        raise AudioInputError(f"Audio must be a numpy array of samples, not {type(audio).__name__}.")
    if audio.dtype.kind == "i":
        # Integer PCM (e.g. int16 from a recorder): scale to [-1, 1) like soundfile does.
        audio = audio.astype(np.float32) / float(2 ** (8 * audio.dtype.itemsize - 1))
    elif audio.dtype.kind == "u":
        # Unsigned PCM (8-bit WAV): silence is the mid value.
        half = float(2 ** (8 * audio.dtype.itemsize - 1))
        audio = (audio.astype(np.float64) - half).astype(np.float32) / half
    elif audio.dtype.kind != "f":
        raise AudioInputError(f"Audio samples must be numbers; got an array of {audio.dtype}.")
    mono = to_mono(audio)
    if mono.size == 0:
        raise AudioInputError("The audio is empty (zero samples). Record or pick a clip of 3-10 seconds.")
    if not np.all(np.isfinite(mono)):
        raise AudioInputError(
            "The audio contains invalid samples (NaN or infinity); the file or recording is damaged. "
            "Record again or export the file again."
        )
    return mono


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, zero_crossings: int, rolloff: float) -> tuple[torch.Tensor, int]:
    """Polyphase windowed-sinc filter bank ``[new, 1, 2*width + orig]`` for rates already divided by their gcd.

    Output phase ``j`` (time ``j / new`` in input periods) is the input convolved with a sinc
    low-passed at ``rolloff * min(orig, new)``, Hann-windowed over ``zero_crossings`` lobes each
    side. After phase ``new - 1`` the pattern repeats shifted by ``orig`` input samples, which is
    why the filter bank is applied as a conv1d with stride ``orig``.
    """
    cutoff = min(orig, new) * rolloff
    width = math.ceil(zero_crossings * orig / cutoff)
    taps = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    # The phase offsets are computed in float32 (as in torchaudio) before joining the float64 taps;
    # keeping that rounding keeps the kernel bit-compatible.
    phase = (torch.arange(0, -new, -1)[:, None, None] / new).to(torch.float32)
    t = ((phase + taps) * cutoff).clamp_(-zero_crossings, zero_crossings)
    window = torch.cos(t * math.pi / zero_crossings / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones((), dtype=t.dtype), torch.sin(t) / t)
    kernel = sinc * window * (cutoff / orig)
    return kernel.to(torch.float32), width


def resample(audio: torch.Tensor | np.ndarray, orig_sr: int, new_sr: int,
             zero_crossings: int = 6, rolloff: float = 0.99) -> torch.Tensor:
    """Band-limited resampling along the last axis (torchaudio ``Resample`` defaults).

    ``audio``: ``[..., N]`` float. Returns float32 ``[..., ceil(N * new_sr / orig_sr)]``.
    """
    x = torch.as_tensor(audio, dtype=torch.float32)
    if orig_sr == new_sr:
        return x
    if orig_sr <= 0 or new_sr <= 0:
        raise AudioInputError(f"Cannot resample from {orig_sr} Hz to {new_sr} Hz; rates must be positive.")
    g = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // g, int(new_sr) // g
    if new * (2 * math.ceil(zero_crossings * orig / (min(orig, new) * rolloff)) + orig) > _MAX_KERNEL_ELEMENTS:
        # An exotic rate (e.g. 44101 Hz) has no common divisor with the target, so the exact
        # kernel would need gigabytes (the reference would run out of memory). Go through 48 kHz
        # with soxr first; features then differ slightly from the reference's, which could not run.
        via = 48000
        stepped = resample_hq(x.reshape(-1, x.shape[-1]).T.numpy(), int(orig_sr), via)
        stepped = stepped.reshape(stepped.shape[0], -1).T.reshape(*x.shape[:-1], -1)
        return resample(torch.from_numpy(np.ascontiguousarray(stepped)), via, new_sr, zero_crossings, rolloff)
    kernel, width = _sinc_kernel(orig, new, zero_crossings, rolloff)
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    n = flat.shape[-1]
    padded = torch.nn.functional.pad(flat, (width, width + orig))
    out = torch.nn.functional.conv1d(padded[:, None], kernel, stride=orig)  # [B, new, frames]
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    target = math.ceil(new * n / orig)
    return out[:, :target].reshape(*lead, -1)


def resample_hq(audio: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """High-quality resampling with libsoxr, for playback and export only (never for features)."""
    import soxr

    if orig_sr == new_sr:
        return np.asarray(audio, dtype=np.float32)
    return soxr.resample(np.asarray(audio, dtype=np.float32), orig_sr, new_sr, quality="HQ").astype(np.float32)


def load_speech(audio: np.ndarray | torch.Tensor, sample_rate: int, target_sr: int) -> torch.Tensor:
    """Mono float32 ``[1, N]`` at ``target_sr``: what the reference's ``load_wav`` returns."""
    mono = validate_audio(audio, sample_rate)
    return resample(torch.from_numpy(mono)[None], int(sample_rate), int(target_sr))


# --------------------------------------------------------------------------------------------
# Mel filter banks
# --------------------------------------------------------------------------------------------
# Slaney's Auditory Toolbox mel scale (librosa's default): linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    log_part = _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, _SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return np.where(f >= _SLANEY_MIN_LOG_HZ, log_part, f / _SLANEY_F_SP)


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    log_part = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL))
    return np.where(m >= _SLANEY_MIN_LOG_MEL, log_part, _SLANEY_F_SP * m)


@lru_cache(maxsize=8)
def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int,
                       fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]`` float32, as ``librosa.filters.mel`` (slaney scale and norm).

    Computed in float64 and stored row by row into float32, then area-normalised in place, which
    reproduces librosa's rounding. Whisper's shipped ``mel_filters.npz`` is this for (16000, 400, 128).
    """
    if fmax is None:
        fmax = sample_rate / 2.0
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_pts = np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2)
    hz_pts = _mel_to_hz_slaney(mel_pts)
    spacing = np.diff(hz_pts)
    ramps = np.subtract.outer(hz_pts, fft_freqs)
    weights = np.zeros((n_mels, fft_freqs.size), dtype=np.float32)
    for i in range(n_mels):
        rising = -ramps[i] / spacing[i]
        falling = ramps[i + 2] / spacing[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(rising, falling))
    # Slaney normalisation: every filter has the same area (constant energy per channel).
    weights *= (2.0 / (hz_pts[2: n_mels + 2] - hz_pts[:n_mels]))[:, None]
    weights.setflags(write=False)
    return weights


def _kaldi_mel(freq: torch.Tensor | float) -> torch.Tensor | float:
    if isinstance(freq, torch.Tensor):
        return 1127.0 * torch.log(1.0 + freq / 700.0)
    return 1127.0 * math.log(1.0 + freq / 700.0)


@lru_cache(maxsize=4)
def kaldi_mel_banks(num_bins: int, padded_window: int, sample_rate: float,
                    low_freq: float = 20.0, high_freq: float = 0.0) -> torch.Tensor:
    """Kaldi's triangular filters on its ``1127 ln(1 + f/700)`` mel scale: ``[num_bins, padded_window // 2 + 1]``.

    Triangles are built in the mel domain (not Hz as librosa does) and are not area-normalised.
    The last FFT bin (Nyquist) always gets weight 0, as in Kaldi.
    """
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    bin_hz = sample_rate / padded_window
    mel_lo, mel_hi = _kaldi_mel(low_freq), _kaldi_mel(high_freq)
    delta = (mel_hi - mel_lo) / (num_bins + 1)
    b = torch.arange(num_bins).unsqueeze(1)
    left = mel_lo + b * delta
    centre = mel_lo + (b + 1.0) * delta
    right = mel_lo + (b + 2.0) * delta
    mel = _kaldi_mel(bin_hz * torch.arange(padded_window // 2)).unsqueeze(0)
    up = (mel - left) / (centre - left)
    down = (right - mel) / (right - centre)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1))


# --------------------------------------------------------------------------------------------
# Feature extractors
# --------------------------------------------------------------------------------------------
def _as_batch(speech: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(speech, dtype=torch.float32)
    return x[None] if x.ndim == 1 else x


def whisper_log_mel(speech_16k: torch.Tensor | np.ndarray, n_mels: int = 128) -> torch.Tensor:
    """Whisper's log-mel: ``[1, N]`` (or ``[N]``) 16 kHz audio -> ``[1, n_mels, N // 160]``.

    Centred STFT (reflect padding, Hann 400, hop 160) whose last frame is dropped, power spectrum,
    slaney mel, ``log10`` floored at 1e-10, dynamic range limited to 8 (80 dB) below the loudest
    value, then scaled to roughly [-1, 1] with ``(x + 4) / 4``.
    """
    x = _as_batch(speech_16k)
    if x.shape[-1] <= WHISPER_N_FFT // 2:
        raise AudioInputError(
            f"The audio is too short ({x.shape[-1]} samples at 16 kHz) to compute its Whisper mel. "
            "Use a clip of at least a second."
        )
    window = torch.hann_window(WHISPER_N_FFT)
    spec = torch.stft(x, WHISPER_N_FFT, WHISPER_HOP, window=window, return_complex=True)
    power = spec[..., :-1].abs() ** 2
    filters = torch.tensor(slaney_mel_filters(WHISPER_SAMPLE_RATE, WHISPER_N_FFT, n_mels))
    mel = filters @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def kaldi_fbank(speech_16k: torch.Tensor | np.ndarray, num_mel_bins: int = 80,
                sample_rate: int = WHISPER_SAMPLE_RATE) -> torch.Tensor:
    """Kaldi ``compute-fbank-feats`` defaults (as torchaudio.compliance.kaldi.fbank, dither 0): ``[T, num_mel_bins]``.

    25 ms frames every 10 ms, only whole frames (snip edges), per-frame DC removal, pre-emphasis
    0.97, Povey window (Hann ** 0.85), zero-padded to a power-of-two FFT, power spectrum, Kaldi mel
    banks from 20 Hz to Nyquist, natural log floored at float32 epsilon. The first channel is used.
    """
    x = _as_batch(speech_16k)[0]
    shift = int(sample_rate * 0.010)
    size = int(sample_rate * 0.025)
    padded = 1 << (size - 1).bit_length()
    if x.numel() < size:
        return torch.empty(0, num_mel_bins)
    n_frames = 1 + (x.numel() - size) // shift
    frames = x.as_strided((n_frames, size), (shift, 1))
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.nn.functional.pad(frames.unsqueeze(0), (1, 0), mode="replicate").squeeze(0)[:, :-1]
    frames = frames - 0.97 * previous
    povey = torch.hann_window(size, periodic=False).pow(0.85)
    frames = torch.nn.functional.pad(frames * povey, (0, padded - size))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    banks = kaldi_mel_banks(num_mel_bins, padded, float(sample_rate))
    energies = power @ banks.T
    return torch.clamp(energies, min=torch.finfo(torch.float32).eps).log()


def flow_mel(speech_24k: torch.Tensor | np.ndarray, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """The flow/vocoder mel (Matcha ``mel_spectrogram``): ``[1, N]`` -> ``[1, num_mels, T]``.

    Reflect-pad ``(n_fft - hop) / 2`` each side, uncentred STFT with a Hann window, magnitude
    ``sqrt(re^2 + im^2 + 1e-9)``, slaney mel up to ``fmax``, natural log floored at 1e-5.
    """
    x = _as_batch(speech_24k)
    pad = int((cfg.n_fft - cfg.hop_size) / 2)
    if x.shape[-1] <= pad:
        raise AudioInputError(
            f"The audio is too short ({x.shape[-1]} samples at {cfg.sampling_rate} Hz) to compute its mel "
            "spectrogram. Use a clip of at least a second."
        )
    x = torch.nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(x, cfg.n_fft, hop_length=cfg.hop_size, win_length=cfg.win_size,
                      window=torch.hann_window(cfg.win_size), center=cfg.center, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True)
    spec = torch.view_as_real(spec)
    magnitude = torch.sqrt(spec.pow(2).sum(-1) + 1e-9)
    filters = torch.tensor(slaney_mel_filters(cfg.sampling_rate, cfg.n_fft, cfg.num_mels, cfg.fmin, cfg.fmax))
    mel = torch.matmul(filters, magnitude)
    return torch.log(torch.clamp(mel, min=1e-5))
