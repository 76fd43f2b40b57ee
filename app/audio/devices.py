"""PortAudio device discovery, imported lazily so a machine without PortAudio still runs the UI."""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from engine import TimbreError


class AudioDeviceError(TimbreError):
    """No usable audio device (or no PortAudio library)."""


_sd: ModuleType | None = None


def sounddevice() -> ModuleType:
    """The sounddevice module, or AudioDeviceError saying how to get PortAudio."""
    global _sd
    if _sd is None:
        try:
            import sounddevice as sd  # noqa: PLC0415 - lazy on purpose
        except OSError as error:
            raise AudioDeviceError(
                f"The PortAudio library is missing ({error}). Install it "
                "(Debian/Ubuntu: sudo apt-get install libportaudio2) and restart Timbre."
            ) from error
        _sd = sd
    return _sd


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float


def list_devices(kind: str) -> list[DeviceInfo]:
    """Devices that can record (kind="input") or play (kind="output"); [] without PortAudio."""
    try:
        sd = sounddevice()
        raw = sd.query_devices()
    except (AudioDeviceError, OSError):
        return []
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    return [
        DeviceInfo(i, d["name"], d["max_input_channels"], d["max_output_channels"], d["default_samplerate"])
        for i, d in enumerate(raw)
        if d[key] > 0
    ]


def has_device(kind: str) -> bool:
    """True when PortAudio is present and has a default device of this kind ("input"/"output")."""
    try:
        sd = sounddevice()
    except AudioDeviceError:
        return False
    try:
        sd.query_devices(kind=kind)
    except (sd.PortAudioError, ValueError):
        return False
    return True


def no_device_reason(kind: str) -> str | None:
    """Why audio of this kind cannot work here, or None when it can."""
    try:
        sd = sounddevice()
    except AudioDeviceError as error:
        return str(error)
    try:
        sd.query_devices(kind=kind)
    except (sd.PortAudioError, ValueError) as error:
        return f"No default audio {kind} device ({error}). Pick one in Settings or connect one."
    return None


def resolve(name: str | None, kind: str) -> int | None:
    """Index of the device called ``name`` (None/unknown -> the system default, i.e. None)."""
    if not name:
        return None
    for device in list_devices(kind):
        if device.name == name:
            return device.index
    return None


def output_lost() -> None:
    """The sound server went away under an open stream (JACK stopped): PortAudio's own clean-up at exit would then
    abort the process (pa_jack's Terminate asserts), so it is skipped; the operating system frees what is left."""
    import atexit

    if _sd is not None:
        atexit.unregister(_sd._exit_handler)
