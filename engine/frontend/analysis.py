"""Is this recording a good reference voice? A report the app can show before cloning.

CosyVoice copies everything in the reference: the voice, but also its room, noise, level,
distortion and the silence around it. The model works best with 3-10 s of clear speech; the
speech tokenizer refuses more than 30 s. :func:`analyse_reference` checks for the problems that
matter and suggests a trim; :func:`trim_and_normalize` applies it.

Voice activity is found from frame energy, not a learned VAD: a reference voice is a single
close-miked speaker where speech is tens of dB above the pauses, so a threshold relative to the
recording's own loud level (robust to the input gain) separates them reliably, costs nothing,
and needs no extra model download. Recordings where it would fail (very noisy ones) are
exactly those the report should reject anyway.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import AudioInputError
from .audio import validate_audio
from .onnx_models import MAX_TOKENIZER_SECONDS

MIN_GOOD_SECONDS = 3.0
MAX_GOOD_SECONDS = 10.0
LOW_SAMPLE_RATE = 16000

FRAME_S = 0.010  # energy frames for the VAD
SILENT_DBFS = -70.0  # loud parts quieter than this: nothing was recorded (a muted or unplugged mic)
QUIET_DBFS = -35.0  # loud parts quieter than this: usable only after much gain (noise too)
SPEECH_RANGE_DB = 30.0  # frames within this of the loud level count as speech
CLIP_LEVEL = 0.99  # samples this close to the peak (and the peak near full scale) count as clipped
CLIP_RUN = 3  # consecutive such samples: a flattened waveform top, not a lone peak
LEAD_PAD_S = 0.10  # silence kept before the first word when trimming
TAIL_PAD_S = 0.20  # and after the last (a word's decay is quieter than its onset)
SILENCE_INFO_S = 0.3
SILENCE_WARN_S = 1.0
PHRASE_GAP_FRAMES = 25  # a pause of 250 ms or more ends a phrase; shorter ones are gaps between words


@dataclass(frozen=True)
class Finding:
    """One observation. severity: "error" (cannot be used as is), "warning" (will hurt the result), "info"."""

    severity: str
    code: str
    message: str


@dataclass(frozen=True)
class ReferenceReport:
    """The result of :func:`analyse_reference`.

    trim: suggested (start_s, end_s) without leading/trailing silence (the whole clip if none).
    suggested_window: the best 3-10 s stretch of speech when the speech is longer than 10 s, else None.
    peak: largest absolute sample. rms_dbfs: RMS level of the trimmed part in dB full scale.
    """

    duration_s: float
    sample_rate: int
    ok: bool
    findings: tuple[Finding, ...]
    trim: tuple[float, float]
    suggested_window: tuple[float, float] | None
    peak: float
    rms_dbfs: float

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def by_severity(self, severity: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == severity)


def _dbfs(x: float) -> float:
    return 20.0 * math.log10(x) if x > 1e-10 else -200.0


def _frame_levels(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """dBFS RMS of consecutive 10 ms frames, lightly smoothed (30 ms) so plosives don't split words."""
    size = max(1, int(round(sample_rate * FRAME_S)))
    n = max(1, audio.size // size)
    frames = np.zeros((n, size), dtype=np.float32)
    body = audio[: n * size]
    frames.reshape(-1)[: body.size] = body
    mean_square = np.einsum("ij,ij->i", frames, frames).astype(np.float64) / size
    if n >= 3:
        mean_square = np.convolve(mean_square, np.ones(3) / 3, mode="same")
    return 10.0 * np.log10(np.maximum(mean_square, 1e-20))


def _clipped_runs(audio: np.ndarray, peak: float) -> int:
    """How many places the waveform sits flat at its peak for CLIP_RUN+ samples (near full scale)."""
    if peak < 0.98:
        return 0
    at_peak = np.abs(audio) >= CLIP_LEVEL * peak
    if not at_peak.any():
        return 0
    edges = np.diff(np.concatenate(([0], at_peak.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(np.count_nonzero(ends - starts >= CLIP_RUN))


def _best_window(voiced: np.ndarray, clip_frames: np.ndarray, total_s: float) -> tuple[float, float]:
    """The 3-10 s stretch with the most speech that starts and ends in pauses, avoiding clipping.

    Candidate windows run from a speech onset (minus a little lead-in) to a later speech offset
    (plus a tail), so no word is cut. Score = seconds of speech inside, minus 0.5 per clipped
    frame, minus 1 for each end that falls in a short gap between words rather than in a real
    pause (a window should hold whole phrases). If the speaker never pauses, fall back to the
    10 s with most speech.
    """
    on = np.flatnonzero(voiced & ~np.concatenate(([False], voiced[:-1])))
    off = np.flatnonzero(voiced & ~np.concatenate((voiced[1:], [False])))
    voiced_cum = np.concatenate(([0], np.cumsum(voiced)))
    clip_cum = np.concatenate(([0], np.cumsum(clip_frames)))
    # Length of the pause before each onset / after each offset (the recording's edges count as long).
    gap_before = np.concatenate(([on[0] + PHRASE_GAP_FRAMES], on[1:] - off[:-1] - 1)) if on.size else on
    gap_after = np.concatenate((on[1:] - off[:-1] - 1, [voiced.size - off[-1] + PHRASE_GAP_FRAMES])) if off.size else off
    best: tuple[float, float, float] | None = None  # (score, start_s, end_s)
    for a, i in enumerate(on):
        start_s = max(0.0, i * FRAME_S - LEAD_PAD_S)
        for b in range(int(np.searchsorted(off, i)), off.size):
            j = off[b]
            end_s = min(total_s, (j + 1) * FRAME_S + TAIL_PAD_S)
            length = end_s - start_s
            if length > MAX_GOOD_SECONDS:
                break
            if length < MIN_GOOD_SECONDS:
                continue
            speech = (voiced_cum[j + 1] - voiced_cum[i]) * FRAME_S
            score = speech - 0.5 * (clip_cum[j + 1] - clip_cum[i])
            score -= float(gap_before[a] < PHRASE_GAP_FRAMES) + float(gap_after[b] < PHRASE_GAP_FRAMES)
            if best is None or score > best[0] + 1e-9:
                best = (score, start_s, end_s)
    if best is not None:
        return round(float(best[1]), 2), round(float(best[2]), 2)
    span = int(MAX_GOOD_SECONDS / FRAME_S)
    if voiced.size <= span:
        return 0.0, round(total_s, 2)
    speech_in = voiced_cum[span:] - voiced_cum[:-span] - 0.5 * (clip_cum[span:] - clip_cum[:-span])
    k = int(np.argmax(speech_in))
    return round(k * FRAME_S, 2), round(float(min(total_s, (k + span) * FRAME_S)), 2)


def analyse_reference(audio: np.ndarray, sample_rate: int) -> ReferenceReport:
    """Check a reference recording (``[N]`` or ``[N, channels]`` float samples at ``sample_rate``).

    Raises :class:`AudioInputError` only for input that is not audio at all (wrong type, empty,
    NaN/inf); everything else is reported as findings.
    """
    mono = validate_audio(audio, sample_rate)
    sr = int(sample_rate)
    duration = mono.size / sr
    peak = float(np.max(np.abs(mono)))
    findings: list[Finding] = []

    def add(severity: str, code: str, message: str) -> None:
        findings.append(Finding(severity, code, message))

    if sr < LOW_SAMPLE_RATE:
        add("warning", "low_sample_rate",
            f"The recording's sample rate is {sr} Hz (telephone quality). The clone will sound muffled; "
            "record at 24 kHz or higher if you can.")

    levels = _frame_levels(mono, sr)
    loud = float(np.percentile(levels, 95))
    if peak <= 1e-6 or loud < SILENT_DBFS:
        add("error", "silent",
            "The recording is silent: no voice was picked up. Check that the right microphone is selected "
            "and not muted, then record again.")
        return ReferenceReport(duration, sr, False, tuple(findings), (0.0, round(duration, 2)), None, peak, _dbfs(
            float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))))

    voiced = levels > max(loud - SPEECH_RANGE_DB, SILENT_DBFS)
    first, last = int(np.argmax(voiced)), int(voiced.size - 1 - np.argmax(voiced[::-1]))
    start = max(0.0, first * FRAME_S - LEAD_PAD_S)
    end = min(duration, (last + 1) * FRAME_S + TAIL_PAD_S)
    if start < SILENCE_INFO_S:
        start = 0.0
    if duration - end < SILENCE_INFO_S:
        end = duration
    trim = (round(start, 2), round(end, 2))

    segment = mono[int(trim[0] * sr): max(int(trim[0] * sr) + 1, int(round(trim[1] * sr)))]
    rms_db = _dbfs(float(np.sqrt(np.mean(np.square(segment, dtype=np.float64)))))

    # Duration.
    if duration > MAX_TOKENIZER_SECONDS:
        add("error", "too_long",
            f"The recording is {duration:.1f} s long; at most {MAX_TOKENIZER_SECONDS:.0f} s can be used. "
            "Trim it to the suggested 3-10 second part.")
    elif duration < MIN_GOOD_SECONDS:
        add("warning", "too_short",
            f"The recording is only {duration:.1f} s long. The voice is captured better from 3-10 seconds "
            "of speech; record a full sentence or two.")

    # Level.
    if loud < QUIET_DBFS:
        add("warning", "too_quiet",
            f"The voice is very quiet ({loud:.0f} dBFS at its loudest). Move closer to the microphone or raise "
            "the input level; normalising afterwards also makes the background noise louder.")
    clip_runs = _clipped_runs(mono, peak)
    if clip_runs >= 3:
        add("warning", "clipping",
            f"The recording is distorted (clipped) in {clip_runs} places because the level was too high. "
            "The clone will copy the distortion; record again a little quieter.")
    add("info", "loudness",
        f"Speech level {rms_db:.0f} dBFS, peak {_dbfs(peak):.1f} dBFS. Normalising to -20 dBFS is suggested."
        if abs(rms_db - (-20.0)) > 6.0 else f"Speech level {rms_db:.0f} dBFS, peak {_dbfs(peak):.1f} dBFS: good.")

    # Silence around the speech.
    lead, tail = trim[0], duration - trim[1]
    for code, seconds, where in (("leading_silence", lead, "start"), ("trailing_silence", tail, "end")):
        if seconds >= SILENCE_INFO_S:
            add("warning" if seconds >= SILENCE_WARN_S else "info", code,
                f"There is {seconds:.1f} s of silence at the {where}. Trimming it is suggested "
                f"(keep {trim[0]:.2f}-{trim[1]:.2f} s); long silences can make the clone pause or mumble.")

    # Long recordings: where is the best part?
    window = None
    if trim[1] - trim[0] > MAX_GOOD_SECONDS:
        clip_frames = _clip_frames(mono, sr, peak, voiced.size)
        first_frame = int(trim[0] / FRAME_S)
        w = _best_window(voiced[first_frame:], clip_frames[first_frame:], duration - first_frame * FRAME_S)
        window = (round(w[0] + first_frame * FRAME_S, 2), round(min(duration, w[1] + first_frame * FRAME_S), 2))
        add("info", "suggested_window",
            f"The speech is longer than 10 s. The clearest part is {window[0]:.1f}-{window[1]:.1f} s; "
            "using only that part usually clones the voice better.")

    ok = not any(f.severity == "error" for f in findings)
    return ReferenceReport(duration, sr, ok, tuple(findings), trim, window, peak, rms_db)


def _clip_frames(audio: np.ndarray, sample_rate: int, peak: float, n_frames: int) -> np.ndarray:
    """Per 10 ms frame: 1 where the waveform touches the clipping level, else 0."""
    out = np.zeros(n_frames, dtype=np.int64)
    if peak < 0.98:
        return out
    size = max(1, int(round(sample_rate * FRAME_S)))
    idx = np.flatnonzero(np.abs(audio) >= CLIP_LEVEL * peak) // size
    idx = idx[idx < n_frames]
    out[np.unique(idx)] = 1
    return out


def trim_and_normalize(audio: np.ndarray, sample_rate: int, start_s: float, end_s: float,
                       target_dbfs: float = -20.0) -> np.ndarray:
    """Cut ``[start_s, end_s)`` and scale its RMS to ``target_dbfs``, never letting the peak exceed -1 dBFS.

    5 ms fades at both cut points avoid clicks. Returns mono float32.
    """
    mono = validate_audio(audio, sample_rate)
    duration = mono.size / sample_rate
    if not (math.isfinite(start_s) and math.isfinite(end_s)):
        raise AudioInputError("The trim points must be numbers of seconds.")
    start_s, end_s = max(0.0, float(start_s)), min(duration, float(end_s))
    if end_s - start_s < 1.0 / sample_rate:
        raise AudioInputError(
            f"Nothing left to keep between {start_s:.2f} s and {end_s:.2f} s; the recording is {duration:.2f} s long. "
            "Pick an end after the start."
        )
    segment = mono[int(start_s * sample_rate): int(round(end_s * sample_rate))].astype(np.float64)
    fade = min(int(0.005 * sample_rate), segment.size // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        segment[:fade] *= ramp
        segment[-fade:] *= ramp[::-1]
    rms = float(np.sqrt(np.mean(np.square(segment))))
    peak = float(np.max(np.abs(segment)))
    if rms <= 1e-8:
        raise AudioInputError("The selected part is silent, so it cannot be normalised. Select a part with speech.")
    gain = 10.0 ** ((target_dbfs - _dbfs(rms)) / 20.0)
    gain = min(gain, 10.0 ** (-1.0 / 20.0) / peak)  # peak-safe: at most -1 dBFS
    return (segment * gain).astype(np.float32)
