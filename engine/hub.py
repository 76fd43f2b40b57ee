"""Model download from the Hugging Face Hub (or a mirror), with progress, resume, cancel and verify.

Why not ``snapshot_download``: recent huggingface-hub versions download into a process-unique temp
file that is deleted when the download fails, so an interrupted multi-GB download starts over. We
still let huggingface-hub do the HTTP (endpoint, auth headers, redirects, retries, HEAD metadata),
but keep the partial file ourselves (``<dest>/.timbre-download/<file>.<etag>.part``) and ask
``http_get`` to continue it with a ``Range`` request. A file is moved into place (``os.replace``)
only once its size (and sha256 where the ETag is one) matches.

Only the files the engine needs are fetched: the official repo also holds a ~1 GB
``CosyVoice-BlankEN/model.safetensors`` that ``llm.pt`` overwrites entirely.

No threads here: :func:`download_model` runs in the caller's thread; the app calls it from its
worker and cancels it with a :class:`CancelToken` from the UI thread.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .checkpoints import REQUIRED_FILES, check_model_folder
from .errors import CancelToken, DownloadError, ModelFolderError, TimbreError

DEFAULT_REPO_ID = "FunAudioLLM/CosyVoice2-0.5B"
APP_NAME = "Timbre"

# What the engine reads from a model folder. tokenizer_config.json holds the Qwen2 added tokens.
MODEL_FILES: tuple[str, ...] = tuple(REQUIRED_FILES) + ("CosyVoice-BlankEN/tokenizer_config.json",)

_PART_DIR = ".timbre-download"
_MANIFEST = "manifest.json"  # inside _PART_DIR: {file: {"etag": ..., "commit": ..., "size": ...}}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report. ``bytes_total`` counts every file, including ones already present."""

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    current_file: str = ""

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 0.0


ProgressCallback = Callable[[DownloadProgress], None]


def default_models_dir() -> Path:
    """Where downloaded models live by default: ``<platform user data dir>/Timbre/models``."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"


def model_dir_for(repo_id: str, cache_dir: str | Path | None = None) -> Path:
    """The folder a repo id is downloaded into (``<cache_dir>/<owner>--<name>``)."""
    root = Path(cache_dir) if cache_dir is not None else default_models_dir()
    return root / repo_id.replace("/", "--")


def looks_like_repo_id(source: str | Path) -> bool:
    """``owner/name`` that is not an existing local path."""
    s = str(source)
    return (
        not Path(s).expanduser().exists()
        and re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", s) is not None
    )


def verify_model_folder(model_dir: str | Path, *, deep: bool = True) -> Path:
    """Check that every required file is there and loads; return the folder.

    ``deep`` also opens each checkpoint (memory-mapped, cheap) and parses each ONNX graph, so a
    truncated file is reported here rather than half-way through loading the engine.
    Raises :class:`ModelFolderError` / :class:`CheckpointError` / :class:`ConfigError` /
    :class:`OnnxModelError` naming the bad file.
    """
    from .config import load_config

    model_dir = check_model_folder(model_dir)
    load_config(model_dir)
    if deep:
        from .checkpoints import read_state_dict
        from .errors import OnnxModelError

        for name in ("llm.pt", "flow.pt", "hift.pt"):
            read_state_dict(model_dir / name)  # parses and checks it; the tensors are dropped at once
        import onnx

        for name in ("campplus.onnx", "speech_tokenizer_v2.onnx"):
            try:
                onnx.load(str(model_dir / name), load_external_data=False)
            except Exception as e:  # onnx raises DecodeError and friends for corrupt protobufs
                raise OnnxModelError(
                    f"{name} in {model_dir} cannot be parsed ({type(e).__name__}). "
                    "Delete it and download the model again."
                ) from e
    return model_dir


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Remote:
    path: str
    url: str
    etag: str
    size: int | None


class _CountingFile:
    """File wrapper handed to ``http_get``: counts bytes, reports progress, honours cancel.

    Raising :class:`Cancelled` from ``write`` aborts ``http_get`` (it only retries network
    errors); the partial file stays on disk for the next attempt to resume.
    """

    def __init__(self, f, on_bytes: Callable[[int], None], cancel: CancelToken | None):
        self._f = f
        self._on_bytes = on_bytes
        self._cancel = cancel

    def write(self, data: bytes) -> int:
        if self._cancel is not None:
            self._cancel.raise_if_cancelled("The download")
        n = self._f.write(data)
        self._on_bytes(len(data))
        return n

    def seek(self, *args):
        return self._f.seek(*args)

    def tell(self) -> int:
        return self._f.tell()

    def truncate(self, *args):
        # http_get truncates when a server ignores Range and restarts from byte 0.
        pos = self._f.truncate(*args)
        self._on_bytes(None)  # type: ignore[arg-type]  # resync the counter from the file size
        return pos

    def flush(self) -> None:
        self._f.flush()


def _read_manifest(dest: Path) -> dict:
    try:
        return json.loads((dest / _PART_DIR / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_manifest(dest: Path, manifest: dict) -> None:
    path = dest / _PART_DIR / _MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _silent_tqdm():
    """A tqdm class that draws nothing (we report progress through our own callback)."""
    from tqdm.auto import tqdm

    class _Silent(tqdm):  # type: ignore[misc,valid-type]
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return _Silent


def _http_get(url: str, f, *, resume_size: int, headers: dict, expected_size: int | None) -> None:
    from huggingface_hub.file_download import http_get

    kwargs = dict(resume_size=resume_size, headers=headers, expected_size=expected_size)
    params = inspect.signature(http_get).parameters
    if "tqdm_class" in params:
        kwargs["tqdm_class"] = _silent_tqdm()
    if "displayed_filename" in params:
        kwargs["displayed_filename"] = url.rsplit("/", 1)[-1]
    http_get(url, f, **kwargs)


def _hub_error(e: Exception, what: str) -> DownloadError:
    """Turn huggingface-hub / httpx errors into one plain sentence."""
    name = type(e).__name__
    if "RepositoryNotFound" in name:
        return DownloadError(f"{what}: the repository was not found on the hub. Check the repo id.")
    if "EntryNotFound" in name:
        return DownloadError(f"{what}: the file is not in the repository. Is this a CosyVoice 2 repo?")
    if "RevisionNotFound" in name:
        return DownloadError(f"{what}: that revision does not exist.")
    if "OfflineMode" in name:
        return DownloadError(f"{what}: HF_HUB_OFFLINE is set, so nothing can be downloaded.")
    if "Connect" in name or "Timeout" in name or "Network" in name:
        return DownloadError(f"{what}: cannot reach the hub ({e}). Check the connection or HF_ENDPOINT.")
    return DownloadError(f"{what} failed ({name}: {e}). Try again; partial files are kept and resumed.")


def download_model(
    repo_id: str = DEFAULT_REPO_ID,
    *,
    local_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    revision: str = "main",
    token: str | bool | None = None,
    files: Iterable[str] = MODEL_FILES,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    offline: bool = False,
    verify: bool = True,
) -> Path:
    """Download (or resume) the model files of ``repo_id`` and return the verified folder.

    Destination: ``local_dir`` if given, else ``<cache_dir or default_models_dir()>/<owner>--<name>``.
    ``endpoint`` defaults to ``$HF_ENDPOINT`` (read now, not at import), then huggingface.co.
    ``offline=True`` never touches the network: the folder must already be complete.
    Files already present with the same ETag are not fetched again. ``progress`` is called in this
    thread after every received block; ``cancel`` raises :class:`Cancelled` within one block.
    """
    dest = Path(local_dir) if local_dir is not None else model_dir_for(repo_id, cache_dir)
    files = tuple(files)
    if offline:
        try:
            return verify_model_folder(dest, deep=verify) if verify else check_model_folder(dest)
        except ModelFolderError as e:
            raise DownloadError(
                f"Offline mode: the model {repo_id} is not (completely) downloaded in {dest}. "
                f"Connect and download it first. ({e})"
            ) from e
    if cancel is not None:
        cancel.raise_if_cancelled("The download")

    try:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.file_download import get_hf_file_metadata
        from huggingface_hub.utils import build_hf_headers
    except ImportError as e:  # pragma: no cover - it is a declared dependency
        raise DownloadError("huggingface-hub is not installed; pip install huggingface-hub.") from e

    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    headers = build_hf_headers(token=token)

    # 1. Metadata of every file, pinned to one commit so a push mid-download cannot mix versions.
    remotes: list[_Remote] = []
    commit = revision
    for path in files:
        if cancel is not None:
            cancel.raise_if_cancelled("The download")
        url = hf_hub_url(repo_id, path, revision=commit, endpoint=endpoint)
        try:
            meta = get_hf_file_metadata(url, token=token, headers=dict(headers))
        except TimbreError:
            raise
        except Exception as e:  # huggingface-hub raises HTTP, network and metadata errors
            raise _hub_error(e, f"Looking up {path} in {repo_id}") from e
        if not meta.etag:
            raise DownloadError(f"{endpoint} sent no ETag for {path}; it does not look like a Hugging Face hub.")
        if meta.commit_hash and commit == revision:
            commit = meta.commit_hash
        remotes.append(_Remote(path, meta.location or url, meta.etag, meta.size))

    # 2. Transfer, resuming partial files.
    manifest = _read_manifest(dest)
    total = sum(r.size or 0 for r in remotes)
    state = {"done": 0, "files": 0}

    def report(current: str) -> None:
        if progress is not None:
            progress(DownloadProgress(state["done"], total, state["files"], len(remotes), current))

    todo: list[_Remote] = []
    for r in remotes:
        target = dest / r.path
        entry = manifest.get(r.path, {})
        if target.is_file() and entry.get("etag") == r.etag and (r.size is None or target.stat().st_size == r.size):
            state["done"] += r.size or target.stat().st_size
            state["files"] += 1
        else:
            todo.append(r)
    report("")

    for r in todo:
        target = dest / r.path
        part = dest / _PART_DIR / f"{r.path.replace('/', '__')}.{r.etag[:16]}.part"
        part.parent.mkdir(parents=True, exist_ok=True)
        resume = part.stat().st_size if part.is_file() else 0
        if r.size is not None and resume > r.size:  # stale junk: start over
            part.unlink()
            resume = 0
        base = state["done"]
        state["done"] = base + resume
        report(r.path)

        with open(part, "ab") as raw:

            def on_bytes(n: int | None, _raw=raw, _base=base, _r=r) -> None:
                if n is None:
                    _raw.flush()
                    state["done"] = _base + _raw.tell()
                else:
                    state["done"] += n
                report(_r.path)

            try:
                _http_get(r.url, _CountingFile(raw, on_bytes, cancel), resume_size=resume,
                          headers=dict(headers), expected_size=r.size)
            except TimbreError:
                raise
            except Exception as e:
                raise _hub_error(e, f"Downloading {r.path}") from e

        size = part.stat().st_size
        if r.size is not None and size != r.size:
            raise DownloadError(f"{r.path}: got {size} bytes, expected {r.size}. Try the download again.")
        if _SHA256.fullmatch(r.etag) and _sha256(part) != r.etag:
            part.unlink()
            raise DownloadError(f"{r.path}: checksum mismatch (corrupt transfer). Try the download again.")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)
        manifest[r.path] = {"etag": r.etag, "commit": commit, "size": size}
        _write_manifest(dest, manifest)
        state["files"] += 1
        state["done"] = base + size
        report(r.path)

    return verify_model_folder(dest, deep=True) if verify else dest


def resolve_model_dir(
    source: str | Path,
    *,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    offline: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """A local model folder as is, or a repo id downloaded first (offline: must be there already)."""
    if looks_like_repo_id(source):
        return download_model(str(source), cache_dir=cache_dir, endpoint=endpoint, offline=offline,
                              progress=progress, cancel=cancel, verify=False)
    return check_model_folder(Path(source).expanduser())
