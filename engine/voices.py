"""Saved voices: what the frontend computes once from a prompt recording, kept on disk.

A voice is three tensors + a transcript: the prompt speech tokens (25 Hz), the prompt mel
(24 kHz flow mel, 2 frames per token) and the CAM++ speaker embedding. Making them needs the
ONNX models and a few seconds; loading them is instant.

On disk (never pickle)::

    <library>/<slug>/voice.safetensors   speech_tokens int32 [T], speech_feat float32 [2T, 80],
                                         embedding float32 [192]
    <library>/<slug>/voice.json          name, transcript, language, created, source_clip, ...

Every write goes to a temp folder first and is moved into place with ``os.replace`` so a crash
never leaves half a voice. Export/import use ONE ``.safetensors`` file whose header metadata holds
the JSON (any safetensors reader can open it).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .errors import VoiceLibraryError

FORMAT_VERSION = 1
TENSORS_FILE = "voice.safetensors"
META_FILE = "voice.json"
EXPORT_SUFFIX = ".safetensors"
_TENSOR_KEYS = ("speech_tokens", "speech_feat", "embedding")
_META_KEY = "timbre_voice"  # safetensors header key holding the JSON in exported files


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Voice:
    """A ready-to-use voice prompt.

    ``speech_tokens`` int32 [T]; ``speech_feat`` float32 [T_mel, 80] (T_mel == 2T after the
    frontend's 2:1 trim); ``embedding`` float32 [192]. ``transcript`` is what is said in the clip
    (zero-shot mode puts it in front of the text to speak).
    """

    name: str
    transcript: str
    speech_tokens: torch.Tensor
    speech_feat: torch.Tensor
    embedding: torch.Tensor
    language: str = ""
    created: str = field(default_factory=_now_iso)
    source_clip: str = ""
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. the reference analysis report

    @property
    def duration_s(self) -> float:
        """Length of the prompt clip as the engine uses it (25 tokens per second)."""
        return int(self.speech_tokens.numel()) / 25.0

    def info(self) -> "VoiceInfo":
        return VoiceInfo(self.name, self.language, self.created, self.source_clip, self.transcript,
                         self.duration_s)

    def _meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "transcript": self.transcript,
            "language": self.language,
            "created": self.created,
            "source_clip": self.source_clip,
            "notes": self.notes,
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {
            "speech_tokens": self.speech_tokens.detach().reshape(-1).to(torch.int32).cpu().contiguous(),
            "speech_feat": self.speech_feat.detach().reshape(-1, self.speech_feat.shape[-1])
            .to(torch.float32).cpu().contiguous(),
            "embedding": self.embedding.detach().reshape(-1).to(torch.float32).cpu().contiguous(),
        }


@dataclass(frozen=True)
class VoiceInfo:
    """What a voice list shows, without loading tensors."""

    name: str
    language: str
    created: str
    source_clip: str
    transcript: str
    duration_s: float


def _slug(name: str) -> str:
    """A portable folder name for a voice name (the real name stays in the JSON)."""
    s = unicodedata.normalize("NFKC", name).strip()
    s = re.sub(r"[^\w.-]+", "_", s, flags=re.UNICODE).strip("._")
    return (s or "voice")[:80]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise VoiceLibraryError("A voice needs a name. Type a name for it.")
    name = name.strip()
    if len(name) > 120:
        raise VoiceLibraryError("That voice name is too long (120 characters at most).")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise VoiceLibraryError("A voice name cannot contain control characters.")
    return name


def _validate(tensors: dict[str, torch.Tensor], where: str) -> None:
    missing = [k for k in _TENSOR_KEYS if k not in tensors]
    if missing:
        raise VoiceLibraryError(f"{where} lacks {', '.join(missing)}; it is not a Timbre voice file.")
    tok, feat, emb = (tensors[k] for k in _TENSOR_KEYS)
    if tok.dim() != 1 or tok.numel() == 0 or tok.dtype != torch.int32:
        raise VoiceLibraryError(f"{where} has bad speech tokens {tuple(tok.shape)} {tok.dtype}.")
    if feat.dim() != 2 or feat.shape[0] == 0 or not torch.isfinite(feat).all():
        raise VoiceLibraryError(f"{where} has a bad prompt mel {tuple(feat.shape)}.")
    if emb.dim() != 1 or emb.numel() == 0 or not torch.isfinite(emb).all():
        raise VoiceLibraryError(f"{where} has a bad speaker embedding {tuple(emb.shape)}.")


def _voice_from(meta: dict, tensors: dict[str, torch.Tensor], where: str) -> Voice:
    _validate(tensors, where)
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise VoiceLibraryError(f"{where} has no voice name in its metadata; it is not a Timbre voice file.")
    if int(meta.get("format", 1)) > FORMAT_VERSION:
        raise VoiceLibraryError(f"{where} was made by a newer Timbre (format {meta['format']}). Update Timbre.")
    return Voice(
        name=meta["name"],
        transcript=str(meta.get("transcript", "")),
        speech_tokens=tensors["speech_tokens"],
        speech_feat=tensors["speech_feat"],
        embedding=tensors["embedding"],
        language=str(meta.get("language", "")),
        created=str(meta.get("created", "")),
        source_clip=str(meta.get("source_clip", "")),
        notes=dict(meta.get("notes") or {}),
    )


def default_voices_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("Timbre", appauthor=False)) / "voices"


class VoiceLibrary:
    """A folder of saved voices. Names are unique (case-insensitive)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_voices_dir()

    # ---- reading ---------------------------------------------------------------------------
    def _entries(self) -> list[tuple[Path, dict]]:
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(self.root.iterdir()):
            meta_path = d / META_FILE
            if d.name.startswith(".") or not meta_path.is_file():
                continue
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a damaged entry must not hide the others; load() reports it by name
            if isinstance(meta, dict) and isinstance(meta.get("name"), str):
                out.append((d, meta))
        return out

    def _find(self, name: str) -> tuple[Path, dict] | None:
        key = name.strip().casefold()
        for d, meta in self._entries():
            if meta["name"].casefold() == key:
                return d, meta
        return None

    def _need(self, name: str) -> tuple[Path, dict]:
        found = self._find(name)
        if found is None:
            known = ", ".join(i.name for i in self.list()) or "none saved yet"
            raise VoiceLibraryError(f"No voice named {name!r} in {self.root} (voices: {known}).")
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def list(self) -> list[VoiceInfo]:
        """Every saved voice, sorted by name."""
        infos = []
        for d, meta in self._entries():
            n_tokens = 0
            try:
                from safetensors import safe_open

                with safe_open(str(d / TENSORS_FILE), framework="pt") as f:
                    n_tokens = f.get_slice("speech_tokens").get_shape()[0]
            except Exception:  # noqa: BLE001 - a listing shows duration 0 for a damaged file
                n_tokens = 0
            infos.append(VoiceInfo(meta["name"], str(meta.get("language", "")), str(meta.get("created", "")),
                                   str(meta.get("source_clip", "")), str(meta.get("transcript", "")),
                                   n_tokens / 25.0))
        return sorted(infos, key=lambda i: i.name.casefold())

    def load(self, name: str) -> Voice:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        d, meta = self._need(name)
        try:
            tensors = load_file(str(d / TENSORS_FILE))
        except (OSError, SafetensorError) as e:
            raise VoiceLibraryError(f"Voice {name!r} is damaged ({e}). Delete it and make it again.") from e
        return _voice_from(meta, tensors, f"Voice {name!r}")

    # ---- writing ---------------------------------------------------------------------------
    def _write_dir(self, voice: Voice, target: Path) -> None:
        """Write a voice folder atomically: temp folder in the library, then os.replace."""
        from safetensors.torch import save_file

        tensors = voice._tensors()
        _validate(tensors, f"Voice {voice.name!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            save_file(tensors, str(tmp / TENSORS_FILE))
            (tmp / META_FILE).write_text(json.dumps(voice._meta(), ensure_ascii=False, indent=1), encoding="utf-8")
            if target.exists():
                trash = Path(tempfile.mkdtemp(prefix=".old-", dir=self.root))
                os.replace(target, trash / "v")
                os.replace(tmp, target)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(tmp, target)
        except OSError as e:
            raise VoiceLibraryError(f"Cannot save voice {voice.name!r} in {self.root}: {e.strerror or e}.") from e
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _free_dir(self, name: str) -> Path:
        base = _slug(name)
        cand, i = self.root / base, 2
        while cand.exists():
            cand, i = self.root / f"{base}-{i}", i + 1
        return cand

    def save(self, voice: Voice, *, overwrite: bool = False) -> VoiceInfo:
        """Add a voice; an existing voice of that name is replaced only with ``overwrite``."""
        name = _check_name(voice.name)
        voice = replace(voice, name=name)
        found = self._find(name)
        if found is not None and not overwrite:
            raise VoiceLibraryError(f"A voice named {name!r} already exists. Pick another name or replace it.")
        self._write_dir(voice, found[0] if found else self._free_dir(name))
        return voice.info()

    def rename(self, old: str, new: str) -> VoiceInfo:
        new = _check_name(new)
        d, meta = self._need(old)
        other = self._find(new)
        if other is not None and other[0] != d:
            raise VoiceLibraryError(f"A voice named {new!r} already exists. Pick another name.")
        voice = replace(self.load(old), name=new)
        target = self._free_dir(new) if _slug(new) != d.name else d
        self._write_dir(voice, target)
        if target != d:
            shutil.rmtree(d, ignore_errors=True)
        return voice.info()

    def delete(self, name: str) -> None:
        d, _ = self._need(name)
        try:
            # Move aside first (atomic) so a half-deleted voice never shows up in list().
            trash = Path(tempfile.mkdtemp(prefix=".old-", dir=self.root))
            os.replace(d, trash / "v")
            shutil.rmtree(trash, ignore_errors=True)
        except OSError as e:
            raise VoiceLibraryError(f"Cannot delete voice {name!r}: {e.strerror or e}.") from e

    # ---- one-file export/import ------------------------------------------------------------
    def export(self, name: str, dest: str | Path) -> Path:
        """Write the voice as one ``.safetensors`` file (JSON in its header); return the path."""
        voice = self.load(name)
        return write_voice_file(voice, dest)

    def import_file(self, src: str | Path, *, name: str | None = None, overwrite: bool = False) -> VoiceInfo:
        """Add a voice from a file made by :meth:`export`, optionally under another name."""
        voice = read_voice_file(src)
        if name is not None:
            voice = replace(voice, name=name)
        return self.save(voice, overwrite=overwrite)


def write_voice_file(voice: Voice, dest: str | Path) -> Path:
    """One-file form of a voice (atomic: temp file in the same folder + os.replace)."""
    from safetensors.torch import save_file

    dest = Path(dest)
    if dest.suffix != EXPORT_SUFFIX:
        dest = dest.with_name(dest.name + EXPORT_SUFFIX)
    tensors = voice._tensors()
    _validate(tensors, f"Voice {voice.name!r}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=EXPORT_SUFFIX, dir=dest.parent)
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={_META_KEY: json.dumps(voice._meta(), ensure_ascii=False)})
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        raise VoiceLibraryError(f"Cannot write {dest}: {e.strerror or e}.") from e
    return dest


def read_voice_file(src: str | Path) -> Voice:
    from safetensors import SafetensorError, safe_open

    src = Path(src)
    if not src.is_file():
        raise VoiceLibraryError(f"Voice file {src} does not exist.")
    try:
        with safe_open(str(src), framework="pt") as f:
            meta_json = (f.metadata() or {}).get(_META_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError) as e:
        raise VoiceLibraryError(f"{src.name} is not a voice file Timbre can read ({e}).") from e
    if meta_json is None:
        raise VoiceLibraryError(f"{src.name} has no Timbre voice metadata; export voices from Timbre.")
    try:
        meta = json.loads(meta_json)
    except ValueError as e:
        raise VoiceLibraryError(f"{src.name} has damaged voice metadata.") from e
    return _voice_from(meta, tensors, src.name)
