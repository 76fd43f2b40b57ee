"""A voice's tensors on disk (safetensors, never pickle): reading them safely, and the one-file export form.

An exported voice is ONE ``.safetensors`` file whose header metadata holds the voice's JSON, so any
safetensors reader can open it. Everything read is checked before use (:mod:`engine.voice_checks`); the
tensors' shapes are checked from the header before any tensor is read, so a crafted multi-GB file is refused
without reading it.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .errors import VoiceLibraryError
from .voice_checks import EMBEDDING_SIZE, MAX_PROMPT_TOKENS, MEL_BINS, TENSOR_KEYS, TOKEN_MEL_RATIO

EXPORT_SUFFIX = ".safetensors"
META_KEY = "timbre_voice"  # safetensors header key holding the JSON in exported files
MAX_META_BYTES = 1 << 20  # a voice's JSON (name, transcript, notes) is a few KB
_MAX_ELEMENTS = {"speech_tokens": MAX_PROMPT_TOKENS, "speech_feat": TOKEN_MEL_RATIO * MAX_PROMPT_TOKENS * MEL_BINS,
                 "embedding": EMBEDDING_SIZE}


def read_tensors(path: Path, where: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The three voice tensors of a safetensors file and its header metadata (typed errors only)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            keys = set(f.keys())
            missing = [k for k in TENSOR_KEYS if k not in keys]
            if missing:
                raise VoiceLibraryError(f"{where} lacks {', '.join(missing)}; it is not a Timbre voice file.")
            for k in TENSOR_KEYS:
                n = 1
                for d in f.get_slice(k).get_shape():
                    n *= d
                if n > _MAX_ELEMENTS[k]:
                    raise VoiceLibraryError(f"{where} has a {k} of {n} values, more than a 30 s clip gives "
                                            f"({_MAX_ELEMENTS[k]}); it was not made by Timbre.")
            return {k: f.get_tensor(k) for k in TENSOR_KEYS}, metadata
    except (OSError, SafetensorError) as e:
        raise VoiceLibraryError(f"{where} cannot be read ({e}).") from e


def write_voice_file(voice, dest: str | Path) -> Path:
    """One-file form of a voice (atomic, the user's file mode); ``.safetensors`` is added if missing."""
    from safetensors.torch import save_file

    from .atomic import WriteError, atomic_write
    from .voice_checks import check_voice_tensors

    dest = Path(dest)
    if dest.suffix != EXPORT_SUFFIX:
        dest = dest.with_name(dest.name + EXPORT_SUFFIX)
    tensors = voice._tensors()
    check_voice_tensors(tensors, f"Voice {voice.name!r}")
    meta = {META_KEY: json.dumps(voice._meta(), ensure_ascii=False)}
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(dest, lambda tmp: save_file(tensors, str(tmp), metadata=meta), suffix=EXPORT_SUFFIX)
    except (OSError, WriteError) as e:
        raise VoiceLibraryError(f"Cannot write {dest}: {getattr(e, 'strerror', None) or e}") from e


def read_voice_file(src: str | Path):
    """The voice in a file made by :func:`write_voice_file`, checked fully (tensors, name, transcript)."""
    from .voices import voice_from

    src = Path(src)
    if not src.is_file():
        raise VoiceLibraryError(f"Voice file {src} does not exist.")
    tensors, metadata = read_tensors(src, src.name)
    meta_json = metadata.get(META_KEY)
    if meta_json is None:
        raise VoiceLibraryError(f"{src.name} has no Timbre voice metadata; export voices from Timbre.")
    if len(meta_json) > MAX_META_BYTES:
        raise VoiceLibraryError(f"{src.name} has voice metadata of {len(meta_json)} bytes; it was not made by Timbre.")
    try:
        meta = json.loads(meta_json)
    except (ValueError, RecursionError) as e:
        raise VoiceLibraryError(f"{src.name} has damaged voice metadata.") from e
    return voice_from(meta, tensors, src.name)
