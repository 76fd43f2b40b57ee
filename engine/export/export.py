"""Exporting a timeline (or mastering an existing file): the public entry points of engine.export.

    result = export_timeline(timeline, "book.m4b", ExportSettings(master="acx", split="chapter",
                                                                  subtitles=Path("book.srt")))
    for f in result.files:
        print(f.path, f.report.describe())

Per output file: render the plan at 24 kHz, resample (soxr) to the chosen rate, master (two passes, see
mastering.py), encode into a temporary file next to the destination, tag it, decode it back, check that
every sample arrived and measure the report on what was written. If a lossy encoder pushed the peak over
the preset's rule or moved the level off the target by more than 0.1 dB, master again with the ceiling
lowered by the overshoot and the target trimmed by the difference (at most :data:`ENCODE_TRIES` encodes).
All files of one export (and their subtitles) are replaced together once every one of them is complete;
an error or a cancel before that removes every temporary file and leaves the old files as they were.
"""
from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import WriteError, atomic_path, describe_os_error
from ..errors import NEVER_CANCELLED, CancelToken, ExportError
from .decode import Decoded, read_audio
from .encode import EncodeOptions, encode
from .formats import FormatSpec, check_bitrate, check_channels, check_rate, resolve_format
from .layout import SPLITS, FilePlan, Padding, Pauses, Split, plan_files
from .levels import measure
from .mastering import master
from .presets import Preset, get_preset
from .report import FileFacts, LoudnessReport
from .subtitles import cues, render_subtitles, subtitle_format
from .tags import Chapter, Metadata, read_cover, write_tags
from .timeline import NATIVE_RATE, Timeline

ENCODE_TRIES = 4
LEVEL_SLACK_DB = 0.1  # a decoded level this close to the target is left alone (MP3 192k measured 0.26 dB low)


@dataclass(frozen=True)
class ExportSettings:
    """How to export. format: a name from formats.FORMAT_NAMES that fits the file's suffix (None: the
    suffix decides). sample_rate/channels: None = 24 kHz mono for a timeline, the file's own for
    :func:`master_file`. padding: None = the preset's (ACX: 0.75 s head, 2 s tail; others none) for a
    timeline, none for an existing file. subtitles: an .srt or .vtt path (numbered like the audio on a split)."""

    format: str | None = None
    sample_rate: int | None = None
    bitrate_kbps: int | None = None
    channels: int | None = None
    split: Split = "none"
    pauses: Pauses = Pauses()
    padding: Padding | None = None
    master: str = "none"
    subtitles: Path | None = None
    subtitle_speakers: bool = False
    metadata: Metadata = field(default_factory=Metadata)


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    report: LoudnessReport
    chapters: tuple[Chapter, ...] = ()
    subtitles: Path | None = None


@dataclass(frozen=True)
class ExportResult:
    files: tuple[ExportedFile, ...]
    warnings: tuple[str, ...] = ()

    @property
    def reports(self) -> list[LoudnessReport]:
        return [f.report for f in self.files]

    @property
    def duration_s(self) -> float:
        return sum(f.report.file.duration_s for f in self.files)

    def summary(self) -> str:
        """``book.wav``, or ``12 files book-01.wav ... book-12.wav``."""
        if len(self.files) == 1:
            return str(self.files[0].path)
        return f"{len(self.files)} files {self.files[0].path} ... {self.files[-1].path.name}"

    def describe(self) -> str:
        return "\n".join([f.report.describe() for f in self.files] + [f"warning: {w}" for w in self.warnings])

    def to_dict(self) -> dict:
        return {"files": [{"path": str(f.path), "subtitles": str(f.subtitles) if f.subtitles else None,
                           "chapters": [vars(c) for c in f.chapters], "report": f.report.to_dict()}
                          for f in self.files],
                "warnings": list(self.warnings)}


def numbered_paths(out: Path, count: int, numbered: bool) -> list[Path]:
    """``out`` itself, or ``stem-01.ext``, ``stem-02.ext``, ... next to it for a split export."""
    if not numbered:
        return [out]
    width = max(2, len(str(count)))
    return [out.with_name(f"{out.stem}-{n:0{width}d}{out.suffix}") for n in range(1, count + 1)]


def _check_space(paths: list[Path], total_bytes: int) -> None:
    """Refuse up front when the destination clearly cannot hold the export (the encoders' own errors catch
    the rest, and the check after writing catches a file cut short)."""
    folder = paths[0].parent
    try:
        st = os.statvfs(folder)
    except OSError as e:
        raise WriteError(describe_os_error(paths[0], e)) from e
    if st.f_flag & os.ST_RDONLY or not os.access(folder, os.W_OK):
        raise WriteError(describe_os_error(paths[0], OSError(errno.EACCES, os.strerror(errno.EACCES))))
    if st.f_bavail * st.f_frsize < total_bytes:
        raise WriteError(describe_os_error(paths[0], OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))


def _estimated_bytes(spec: FormatSpec, frames: int, channels: int, rate: int, kbps: int | None) -> int:
    if spec.lossy:
        return int(frames / rate * (kbps or 320) * 125 * 1.1) + (1 << 16)
    width = {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}[spec.sf_subtype]
    return frames * channels * width + (1 << 16)


def _corrections(report: LoudnessReport, preset: Preset, channels: int) -> tuple[float, float]:
    """(dB the written file's peak is over the preset's rule, dB its level is under the target), measured on
    the decoded file: what a lossy encoder changed. (0, 0) when nothing needs doing."""
    if not preset.masters:
        return 0.0, 0.0
    levels = report.levels
    peak = levels.sample_peak_dbfs if preset.peak_kind == "sample" else levels.true_peak_dbtp
    level = levels.rms_db if preset.measure == "rms" else levels.integrated_lufs
    shortfall = preset.target(channels) - level if level is not None else 0.0
    return max(0.0, peak - preset.peak_max_db), shortfall if abs(shortfall) > LEVEL_SLACK_DB else 0.0


def _decode_checked(tmp: Path, final: Path, frames: int, opts: EncodeOptions, channels: int) -> Decoded:
    decoded = read_audio(tmp)
    if decoded.audio.shape[0] != frames or decoded.sample_rate != opts.sample_rate or decoded.channels != channels:
        raise WriteError(f"{final} was not written completely ({decoded.audio.shape[0]} of {frames} samples at "
                         f"{decoded.sample_rate} Hz came back); the disk may be full. Nothing was replaced.")
    return decoded


def write_audio_file(tmp: Path, final: Path, audio: np.ndarray, opts: EncodeOptions, preset: Preset,
                     meta: Metadata, chapters: list[Chapter], cancel: CancelToken) -> LoudnessReport:
    """Master ``audio`` [N, C], encode it into ``tmp``, read it back and report on it (as ``final``)."""
    ceiling, trim = preset.ceiling_dbtp, 0.0
    for _ in range(ENCODE_TRIES):
        mastered = master(audio, opts.sample_rate, preset, ceiling_dbtp=ceiling, trim_db=trim, cancel=cancel)
        encode(tmp, mastered.audio, opts, meta, chapters, cancel)
        write_tags(tmp, opts.spec, meta, chapters)
        decoded = _decode_checked(tmp, final, audio.shape[0], opts, audio.shape[1])
        facts = FileFacts(str(final), opts.spec.name, opts.spec.label, opts.sample_rate, audio.shape[1],
                          audio.shape[0] / opts.sample_rate, opts.bitrate_kbps)
        report = LoudnessReport.make(facts, measure(decoded.audio, decoded.sample_rate, cancel), preset,
                                     mastered.gain_db, mastered.limited_db)
        excess, shortfall = _corrections(report, preset, audio.shape[1])
        if not excess and not shortfall:
            break
        if excess:
            ceiling -= excess + 0.1
        trim += shortfall
    return report


def _file_warnings(report: LoudnessReport, preset: Preset, audio: np.ndarray, spec: FormatSpec) -> list[str]:
    """What the user should hear about one written file: clipping without mastering, a preset not met."""
    name = Path(report.file.path).name
    if not preset.masters:
        return _clip_warning(audio, spec, name)
    if report.preset_pass:
        return []
    failed = ", ".join(f"{r.name} {r.value}" for r in report.preset_rules if not r.passed)
    hint = " (a lossy encoder moved it; a higher --bitrate helps)" if spec.lossy else ""
    return [f"{name} does not meet the {preset.name} preset: {failed}{hint}."]


def _clip_warning(audio: np.ndarray, spec: FormatSpec, name: str) -> list[str]:
    over = int(np.count_nonzero(np.abs(audio) > 1.0)) if not spec.float_samples else 0
    return [f"{name}: {over} samples were over full scale and were clipped; master it (e.g. --master acx) "
            "to keep the peaks."] if over else []


def _to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """[N, C] float32 with ``channels`` columns: mono copied to both sides, stereo averaged to mono."""
    x = audio[:, None] if audio.ndim == 1 else audio
    if x.shape[1] == channels:
        return np.ascontiguousarray(x, dtype=np.float32)
    if channels == 2 and x.shape[1] == 1:
        return np.repeat(x, 2, axis=1).astype(np.float32)
    return x.mean(axis=1, keepdims=True).astype(np.float32)


def _resampled(audio: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    from ..frontend.audio import resample_hq

    return audio if rate == new_rate else resample_hq(audio, rate, new_rate)


def _file_meta(meta: Metadata, plan: FilePlan, count: int) -> Metadata:
    if count == 1:
        return meta
    return replace(meta, title=plan.title or meta.title, album=meta.album or meta.title, track=plan.number,
                   tracks=count)


def _options(spec: FormatSpec, rate: int, channels: int, kbps: int | None) -> EncodeOptions:
    check_rate(spec, rate)
    check_channels(channels)
    return EncodeOptions(spec, rate, check_bitrate(spec, rate, channels, kbps))


def check_settings(out: Path, settings: ExportSettings) -> tuple[EncodeOptions, Preset]:
    """What ``settings`` mean for a timeline export to ``out``; every typed error a bad option can cause, before
    anything is generated or written (``timbre synth`` calls this before it synthesizes)."""
    spec = resolve_format(out, settings.format)
    opts = _options(spec, settings.sample_rate or NATIVE_RATE, settings.channels or 1, settings.bitrate_kbps)
    preset = get_preset(settings.master)
    if settings.subtitles is not None:
        subtitle_format(settings.subtitles)
        if Path(settings.subtitles).resolve() == Path(out).resolve():
            raise ExportError("The subtitles and the audio cannot be the same file; give the subtitles their own name.")
    if settings.split not in SPLITS:
        raise ExportError(f"Unknown split {settings.split!r}; use one of {', '.join(SPLITS)}.")
    read_cover(settings.metadata.cover)  # pauses and padding check themselves when they are made
    return opts, preset


def export_timeline(timeline: Timeline, out: str | Path, settings: ExportSettings = ExportSettings(), *,
                    cancel: CancelToken = NEVER_CANCELLED,
                    progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Write ``timeline`` to ``out`` (one file, or numbered files on a split) as ``settings`` say.

    progress(done, total) is called after each file is encoded. Raises ExportError / UnsupportedFormatError
    for bad settings (before anything is written), WriteError for a file system that refuses, Cancelled."""
    out = Path(out)
    opts, preset = check_settings(out, settings)
    spec, channels = opts.spec, settings.channels or 1
    sub_kind = subtitle_format(settings.subtitles) if settings.subtitles else None
    plans = plan_files(timeline, settings.split, settings.pauses,
                       settings.padding if settings.padding is not None else preset.padding)
    numbered = settings.split != "none"
    paths = numbered_paths(out, len(plans), numbered)
    subs = numbered_paths(Path(settings.subtitles), len(plans), numbered) if settings.subtitles else [None] * len(plans)
    ratio = opts.sample_rate / timeline.sample_rate
    _check_space(paths, sum(_estimated_bytes(spec, int(p.length * ratio) + 1, channels, opts.sample_rate,
                                             opts.bitrate_kbps) for p in plans))
    files, warnings = [], []
    with contextlib.ExitStack() as stack:
        for plan, path, sub in zip(plans, paths, subs):
            cancel.raise_if_cancelled("The export")
            audio = _to_channels(_resampled(plan.render(timeline), timeline.sample_rate, opts.sample_rate), channels)
            length_s = audio.shape[0] / opts.sample_rate
            chapters = [Chapter(m.title, m.start / plan.sample_rate, min(m.end / plan.sample_rate, length_s))
                        for m in plan.chapters]
            meta = _file_meta(settings.metadata, plan, len(plans))
            tmp = stack.enter_context(atomic_path(path, suffix=path.suffix))
            report = write_audio_file(tmp, path, audio, opts, preset, meta, chapters, cancel)
            warnings += _file_warnings(report, preset, audio, spec)
            if sub is not None:
                text = render_subtitles(sub_kind, cues(plan, timeline), settings.subtitle_speakers)
                stack.enter_context(atomic_path(sub, suffix=sub.suffix)).write_text(text, encoding="utf-8")
            files.append(ExportedFile(path, report, tuple(chapters), sub))
            if progress is not None:
                progress(len(files), len(plans))
        cancel.raise_if_cancelled("The export")
    if settings.metadata.cover is not None and not spec.cover:
        warnings.append(f"{spec.label} files cannot hold a cover image; it was left out.")
    if any(f.chapters for f in files) and not spec.chapters:
        warnings.append(f"{spec.label} files cannot hold chapter marks; use M4B, MP3 or FLAC for them.")
    return ExportResult(tuple(files), tuple(warnings))


def master_file(src: str | Path, out: str | Path, settings: ExportSettings = ExportSettings(master="acx"), *,
                cancel: CancelToken = NEVER_CANCELLED) -> ExportResult:
    """Master an existing audio file ``src`` into ``out`` (any format Timbre writes; ``out`` may be ``src``:
    it is replaced only once the new file is complete)."""
    out = Path(out)
    spec = resolve_format(out, settings.format)
    decoded = read_audio(src)
    if decoded.channels > 2:
        raise ExportError(f"{Path(src).name} has {decoded.channels} channels; Timbre masters mono and stereo files.")
    if decoded.audio.shape[0] == 0:
        raise ExportError(f"{Path(src).name} holds no samples.")
    channels = settings.channels or decoded.channels
    rate = settings.sample_rate or decoded.sample_rate
    opts = _options(spec, rate, channels, settings.bitrate_kbps)
    preset = get_preset(settings.master)
    audio = _to_channels(_resampled(decoded.audio, decoded.sample_rate, rate), channels)
    pad = settings.padding or Padding()
    audio = np.concatenate([np.zeros((int(round(pad.head_s * rate)), channels), np.float32), audio,
                            np.zeros((int(round(pad.tail_s * rate)), channels), np.float32)])
    _check_space([out], _estimated_bytes(spec, audio.shape[0], channels, rate, opts.bitrate_kbps))
    with atomic_path(out, suffix=out.suffix) as tmp:
        report = write_audio_file(tmp, out, audio, opts, preset, settings.metadata, [], cancel)
        cancel.raise_if_cancelled("The export")
    return ExportResult((ExportedFile(out, report),), tuple(_file_warnings(report, preset, audio, spec)))
