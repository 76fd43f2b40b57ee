"""Mastering presets: the loudness a platform asks for and the peak ceiling it allows.

| preset   | measure            | target (mono / stereo) | accepted        | peak rule       | limiter ceiling |
|----------|--------------------|------------------------|-----------------|-----------------|-----------------|
| acx      | RMS (whole file)   | -20 dB                 | -23 .. -18 dB   | sample <= -3 dB | -3.5 dBTP       |
| podcast  | integrated LUFS    | -19 / -16 LUFS         | target +- 1 LU  | true <= -1 dBTP | -1.5 dBTP       |
| ebu-r128 | integrated LUFS    | -23 LUFS               | target +- 0.5 LU| true <= -1 dBTP | -1.5 dBTP       |
| none     | (nothing changed)  |                        |                 |                 |                 |

ACX (Audible): each file between -23 and -18 dB RMS, peaks at or below -3 dBFS, noise floor at most -60 dB,
0.5-1 s of room tone at the head and 1-5 s at the tail, at most 120 minutes, 192 kbps+ CBR MP3 at 44.1 kHz.
The target sits mid-range. Podcasts (Apple, Spotify guidance): -16 LUFS stereo, -19 LUFS mono (the same
programme: BS.1770 adds the two channels' power, +3 dB), true peak -1 dBTP. EBU R 128: -23 LUFS +- 0.5 LU,
true peak -1 dBTP. Each limiter ceiling is 0.5 dB under its rule so that a lossy encoder's small overshoot
stays inside it; the exporter measures the decoded file and lowers the ceiling if it did not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ExportError
from .layout import Padding


@dataclass(frozen=True)
class Preset:
    """measure: what the target is in (``rms`` dB or integrated ``lufs``; None = no mastering).
    accept: the (low, high) range that meets the preset, around the target for the channel count."""

    name: str
    label: str
    measure: Literal["rms", "lufs"] | None = None
    target_mono: float = 0.0
    target_stereo: float = 0.0
    below: float = 0.0      # accepted range: target - below .. target + above
    above: float = 0.0
    peak_kind: Literal["sample", "true"] = "true"
    peak_max_db: float = 0.0
    ceiling_dbtp: float = 0.0
    padding: Padding = Padding()

    @property
    def masters(self) -> bool:
        return self.measure is not None

    def target(self, channels: int) -> float:
        return self.target_stereo if channels == 2 else self.target_mono

    def accept(self, channels: int) -> tuple[float, float]:
        t = self.target(channels)
        return t - self.below, t + self.above


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("none", "no mastering"),
    Preset("acx", "ACX / Audible audiobook", "rms", -20.0, -20.0, 3.0, 2.0, "sample", -3.0, -3.5,
           padding=Padding(head_s=0.75, tail_s=2.0)),
    Preset("podcast", "podcast (-16 LUFS stereo, -19 LUFS mono)", "lufs", -19.0, -16.0, 1.0, 1.0, "true", -1.0, -1.5),
    Preset("ebu-r128", "EBU R 128 broadcast (-23 LUFS)", "lufs", -23.0, -23.0, 0.5, 0.5, "true", -1.0, -1.5),
)}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)


def get_preset(name: str | Preset) -> Preset:
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ExportError(f"Unknown mastering preset {name!r}; use one of {', '.join(PRESET_NAMES)}.") from None
