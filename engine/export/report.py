"""The per-file report: what a written file measures, whether it meets its preset and each ACX rule.

A :class:`LoudnessReport` is a plain value: ``describe()`` is the text the CLI prints and the studio
shows, ``to_dict()``/``to_json()`` the machine-readable form. It is always measured on the file as written
(decoded back), so what it says is what a listener or a platform's checker gets.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .levels import Levels
from .presets import PRESETS, Preset

ACX_RMS = (-23.0, -18.0)
ACX_PEAK_DB = -3.0
ACX_NOISE_DB = -60.0
ACX_HEAD_S = (0.5, 1.0)
ACX_TAIL_S = (1.0, 5.0)
ACX_MAX_MINUTES = 120.0
ACX_MP3_KBPS = 192
ACX_RATE = 44100


@dataclass(frozen=True)
class Rule:
    """One check: ``name``, whether it ``passed``, the measured ``value`` and the ``requirement`` in words."""

    name: str
    passed: bool
    value: str
    requirement: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))  # numpy comparisons give numpy bools

    def line(self) -> str:
        return f"{'pass' if self.passed else 'FAIL'}  {self.name}: {self.value} ({self.requirement})"


@dataclass(frozen=True)
class FileFacts:
    """What the file is: path, format name and label, rate, channels, length, bitrate (kbps) and whether
    that bitrate varies (Timbre writes MP3 at a constant bitrate; ACX accepts only that)."""

    path: str
    format: str
    format_label: str
    sample_rate: int
    channels: int
    duration_s: float
    bitrate_kbps: int | None = None
    vbr: bool = False


def _between(value: float, lo: float, hi: float) -> bool:
    return lo <= round(value, 1) <= hi  # ACX's checker shows one decimal; -18.04 dB reads -18.0 and passes


def _format_words(facts: FileFacts) -> str:
    rate = f", {facts.bitrate_kbps} kbps{' variable' if facts.vbr else ''}" if facts.bitrate_kbps else ""
    return f"{facts.format_label}{rate}, {facts.sample_rate} Hz"


def acx_rules(levels: Levels, facts: FileFacts) -> tuple[Rule, ...]:
    """Every ACX submission rule a single file can be checked against."""
    mp3_ok = (facts.format == "mp3" and not facts.vbr and (facts.bitrate_kbps or 0) >= ACX_MP3_KBPS
              and facts.sample_rate == ACX_RATE)
    return (
        Rule("RMS", _between(levels.rms_db, *ACX_RMS), f"{levels.rms_db:.1f} dB", "between -23 and -18 dB"),
        Rule("peak", round(levels.sample_peak_dbfs, 1) <= ACX_PEAK_DB, f"{levels.sample_peak_dbfs:.1f} dBFS",
             "at most -3 dBFS"),
        Rule("noise floor", round(levels.noise_floor_db, 1) <= ACX_NOISE_DB, f"{levels.noise_floor_db:.1f} dB",
             "at most -60 dB"),
        Rule("head room tone", ACX_HEAD_S[0] <= round(levels.head_s, 2) <= ACX_HEAD_S[1], f"{levels.head_s:.2f} s",
             "0.5 to 1 s before the first words"),
        Rule("tail room tone", ACX_TAIL_S[0] <= round(levels.tail_s, 2) <= ACX_TAIL_S[1], f"{levels.tail_s:.2f} s",
             "1 to 5 s after the last words"),
        Rule("length", levels.duration_s <= ACX_MAX_MINUTES * 60, f"{levels.duration_s / 60:.1f} min",
             "at most 120 minutes per file"),
        Rule("format", mp3_ok, _format_words(facts), "192 kbps or more constant-bitrate MP3 at 44.1 kHz"),
    )


def preset_rules(levels: Levels, preset: Preset, facts: FileFacts) -> tuple[Rule, ...]:
    """The loudness and peak rules of ``preset`` (ACX: its RMS, peak and noise-floor rules)."""
    if not preset.masters:
        return ()
    if preset.name == "acx":
        return acx_rules(levels, facts)[:3]
    lo, hi = preset.accept(facts.channels)
    lufs = levels.integrated_lufs
    loud = Rule("integrated loudness", lufs is not None and _between(lufs, lo, hi),
                "unmeasurable (under 0.4 s)" if lufs is None else f"{lufs:.1f} LUFS",
                f"{preset.target(facts.channels):.0f} LUFS, {lo:.1f} to {hi:.1f}")
    peak = Rule("true peak", round(levels.true_peak_dbtp, 1) <= preset.peak_max_db, f"{levels.true_peak_dbtp:.1f} dBTP",
                f"at most {preset.peak_max_db:.0f} dBTP")
    return loud, peak


@dataclass(frozen=True)
class LoudnessReport:
    """The report of one file (see the module docstring). gain_db/limited_db: what mastering did."""

    file: FileFacts
    levels: Levels
    preset: str
    preset_rules: tuple[Rule, ...]
    acx_rules: tuple[Rule, ...]
    gain_db: float = 0.0
    limited_db: float = 0.0

    @classmethod
    def make(cls, facts: FileFacts, levels: Levels, preset: Preset, gain_db: float = 0.0,
             limited_db: float = 0.0) -> "LoudnessReport":
        return cls(facts, levels, preset.name, preset_rules(levels, preset, facts), acx_rules(levels, facts),
                   gain_db, limited_db)

    @property
    def preset_pass(self) -> bool:
        """The file meets its preset (always true for ``none``)."""
        return all(r.passed for r in self.preset_rules)

    @property
    def acx_pass(self) -> bool:
        return all(r.passed for r in self.acx_rules)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["preset_pass"], d["acx_pass"] = self.preset_pass, self.acx_pass
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def describe(self) -> str:
        f, v = self.file, self.levels
        rate = f"{f.bitrate_kbps} kbps, " if f.bitrate_kbps else ""
        lufs = "-" if v.integrated_lufs is None else f"{v.integrated_lufs:.1f}"
        lines = [
            f"{f.path}: {f.format_label}, {rate}{f.sample_rate} Hz, {'mono' if f.channels == 1 else 'stereo'}, "
            f"{v.duration_s:.2f} s",
            f"  integrated {lufs} LUFS | RMS {v.rms_db:.1f} dB | true peak {v.true_peak_dbtp:.1f} dBTP | "
            f"sample peak {v.sample_peak_dbfs:.1f} dBFS | noise floor {v.noise_floor_db:.1f} dB",
        ]
        if self.preset_rules:
            label = PRESETS[self.preset].label if self.preset in PRESETS else self.preset
            lines.append(f"  preset {self.preset} ({label}): {'meets it' if self.preset_pass else 'DOES NOT meet it'}"
                         f" (gain {self.gain_db:+.1f} dB, limited {self.limited_db:.1f} dB)")
        lines.append(f"  ACX: {'all rules pass' if self.acx_pass else 'not ready for ACX'}")
        lines += [f"    {r.line()}" for r in self.acx_rules]
        return "\n".join(lines)
