"""What travels between the driver and a worker: plain values only (str, int, float, dicts, numpy arrays).

Ray carries arguments and results with its own serializer; sending our dataclasses through it would make the
driver and the worker agree on Python classes, and a worker unpickle them. Instead a line travels as its
fields, a voice as its JSON and its three tensors (checked on arrival by :func:`engine.voices.voice_from`, as an
imported voice file is), and a take as its info's fields and its audio::

    job:   {line_id, text, spoken_text, speaker, voice_id, mode, instruction, seed, speed}
    voice: {"meta": {...voice.json...}, "tensors": {speech_tokens int32 [T], speech_feat float32 [2T, 80],
                                                    embedding float32 [192]}}
    take:  {"info": {...TakeInfo fields...}, "audio": float32 [N]}

:data:`WIRE_VERSION` changes whenever these do, so a machine running another Timbre is refused by name.
"""
from __future__ import annotations

from dataclasses import asdict, fields

import numpy as np
import torch

from ..errors import ClusterError
from ..project.model import LineJob, Take, TakeInfo
from ..voices import Voice, voice_from

WIRE_VERSION = 1
_JOB_FIELDS = tuple(f.name for f in fields(LineJob) if f.name != "voice")
_INFO_FIELDS = frozenset(f.name for f in fields(TakeInfo))


def voice_to_wire(voice: Voice) -> dict:
    return {"meta": voice._meta(), "tensors": {k: t.numpy() for k, t in voice._tensors().items()}}


def voice_from_wire(data: dict) -> Voice:
    """The voice of :func:`voice_to_wire`, its tensors checked (a VoiceLibraryError for a damaged one)."""
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in data["tensors"].items()}  # a copy: Ray's are read-only
    return voice_from(data["meta"], tensors, f"The voice {data['meta'].get('name')!r} sent by the driver")


def job_to_wire(job: LineJob) -> dict:
    """A job without its voice (which travels once per voice, see :func:`voice_to_wire`)."""
    return {name: getattr(job, name) for name in _JOB_FIELDS}


def job_from_wire(data: dict, voice: Voice) -> LineJob:
    return LineJob(**{name: data[name] for name in _JOB_FIELDS}, voice=voice)


def take_to_wire(take: Take) -> dict:
    return {"info": asdict(take.info), "audio": np.ascontiguousarray(take.audio, dtype=np.float32)}


def take_from_wire(data: dict, job: LineJob) -> Take:
    """The take a worker made of ``job``; ClusterError when it is not one (another Timbre, a mixed-up reply)."""
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, dict) or set(info) != _INFO_FIELDS:
        raise ClusterError("A worker answered with something that is not a take: it runs another Timbre version. "
                           "Install the same Timbre on every machine of the cluster.")
    info = TakeInfo(**info)
    audio = np.array(data["audio"], dtype=np.float32)  # a copy the project owns
    if info.line_id != job.line_id or audio.ndim != 1 or audio.shape[0] != info.n_samples:
        raise ClusterError(f"A worker's take of line {job.line_id} does not fit it (line {info.line_id}, "
                           f"{audio.shape} samples for {info.n_samples}); nothing was kept of it.")
    return Take(info, audio)
