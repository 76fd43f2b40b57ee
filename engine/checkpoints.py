"""Loading the official checkpoints: ``torch.load(weights_only=True, mmap=True)`` + strict loading.

Every failure is turned into a :class:`CheckpointError` (or :class:`ModelFolderError` for a
missing file) that names the file and says what to do.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from .config import COSYVOICE2, COSYVOICE3, FAMILY_FILES, model_family
from .errors import CheckpointError, ModelFolderError

DOWNLOAD_NAMES = {COSYVOICE2: "CosyVoice2-0.5B", COSYVOICE3: "Fun-CosyVoice3-0.5B"}  # what to download again


def required_files(family: str = COSYVOICE2) -> tuple[str, ...]:
    """The files a model folder of ``family`` must hold (the family's YAML and speech tokenizer differ)."""
    yaml_name, speech_tokenizer = FAMILY_FILES[family]
    return (yaml_name, "llm.pt", "flow.pt", "hift.pt", "campplus.onnx", speech_tokenizer,
            "CosyVoice-BlankEN/config.json", "CosyVoice-BlankEN/vocab.json", "CosyVoice-BlankEN/merges.txt")


REQUIRED_FILES = required_files(COSYVOICE2)


def check_model_folder(model_dir: str | Path, family: str | None = None) -> Path:
    """Raise :class:`ModelFolderError` naming every required file the folder lacks.

    ``family``: what the folder should be; by default what its YAML says (CosyVoice 2 when it has none, so an
    empty folder is told what a CosyVoice 2 folder holds; both YAMLs raise ModelFamilyError)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelFolderError(f"Model folder {model_dir} does not exist. Download the model or pick its folder.")
    if family is None:
        has_yaml = any((model_dir / yaml_name).is_file() for yaml_name, _ in FAMILY_FILES.values())
        family = model_family(model_dir) if has_yaml else COSYVOICE2
    missing = [f for f in required_files(family) if not (model_dir / f).is_file()]
    if missing:
        raise ModelFolderError(
            f"Model folder {model_dir} is incomplete: missing {', '.join(missing)}. "
            f"Download {DOWNLOAD_NAMES[family]} again or pick the complete folder."
        )
    return model_dir


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely (no pickle code execution) and memory-mapped where possible."""
    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"Missing checkpoint {path}. Download the model again or pick the complete folder.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes). Delete it and download the model again.")
    try:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            # Old (non-zip) checkpoints cannot be memory-mapped; read them normally.
            if "mmap" not in str(e):
                raise
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt/truncated zip archives
        raise CheckpointError(
            f"{path.name} cannot be read: it is truncated or corrupt ({type(e).__name__}: {e}). "
            "Delete it and download the model again."
        ) from e
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path.name} does not hold a state_dict of tensors. Is this the right file?")
    return dict(sd)


def _kind(t: torch.Tensor) -> str:
    return "complex" if t.is_complex() else "float" if t.is_floating_point() else "integer/bool"


def check_fits(module: nn.Module, state_dict: Mapping[str, torch.Tensor], file_name: str) -> None:
    """Raise :class:`CheckpointError` unless ``state_dict`` has exactly the module's keys, shapes and kinds.

    Works on a module built on the meta device, so call it BEFORE allocating (``to_empty``): a config
    that asks for a huge network is then refused by the checkpoint's real shapes, not by running out of
    memory. Kinds: a float parameter needs float values (an integer or bool tensor assigned as a weight
    would make every later matmul fail)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    wrong_kind = [f"{k}: file {_kind(state_dict[k])} vs model {_kind(own[k])}"
                  for k in own if k in state_dict and _kind(state_dict[k]) != _kind(own[k])]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches (e.g. {'; '.join(mismatched[:3])})")
    if wrong_kind:
        problems.append(f"{len(wrong_kind)} values of the wrong kind (e.g. {'; '.join(wrong_kind[:3])})")
    if problems:
        raise CheckpointError(
            f"{file_name} does not fit the network described by cosyvoice2.yaml: {'; '.join(problems)}. "
            "The checkpoint and the YAML come from different models; download the model again."
        )


def load_into(module: nn.Module, state_dict: Mapping[str, torch.Tensor], file_name: str,
              assign: bool = False) -> None:
    """``load_state_dict(strict=True)`` after :func:`check_fits`, with its error that lists what does not fit.

    ``assign=True`` makes the file's (memory-mapped) tensors the module's parameters instead of
    copying into them: use it for modules built on the meta device (no second copy in memory).
    """
    check_fits(module, state_dict, file_name)
    module.load_state_dict(state_dict, strict=True, assign=assign)


_LEGACY_WN = re.compile(r"^(.*)\.weight_([gv])$")


def normalize_hift_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map every hift.pt key style to torch's current weight-norm naming without a prefix.

    Accepted: legacy ``weight_g``/``weight_v`` or ``parametrizations.weight.original0/1``, each with
    or without a ``generator.`` prefix (the official loader strips that prefix too).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("generator."):
            key = key[len("generator."):]
        m = _LEGACY_WN.match(key)
        if m:
            key = f"{m.group(1)}.parametrizations.weight.original{0 if m.group(2) == 'g' else 1}"
        out[key] = value
    return out
