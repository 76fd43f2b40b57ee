"""Model download from the Hugging Face Hub (or a mirror): progress, resume, cancel, one writer, verify.

Why not ``snapshot_download``: recent huggingface-hub versions download into a process-unique temp file that
is deleted when the download fails, so an interrupted multi-GB download starts over, and its transfer cannot
be cancelled promptly (see :mod:`engine.hub_transfer`). We use huggingface-hub for the URLs and auth headers,
and keep the partial file ourselves (``<dest>/.timbre-download/<file>.part``, named from OUR file list, never
from anything the server sends), continuing it with a ``Range`` request.

One writer per folder: a download holds the folder's lock (:mod:`engine.folder_lock`) from its first request
to its last write, so a second download into the same folder (the CLI while the studio downloads) waits or
is refused with :class:`ModelBusyError` instead of appending to the same ``.part``.

Every file is checked against the hub's ETag before it is moved into place (``os.replace``): the sha256 of an
LFS file, the git blob sha1 of a small one, so wrong bytes of the right size are caught. The sha256 of each
file is kept in a manifest (:mod:`engine.model_manifest`) that :func:`verify_model` checks on demand.

Only the files the engine needs are fetched: the official repo also holds a ~1 GB
``CosyVoice-BlankEN/model.safetensors`` that ``llm.pt`` overwrites entirely.

Both model families download the same way (:data:`KNOWN_REPOS`): ``FunAudioLLM/CosyVoice2-0.5B`` (the default)
and ``FunAudioLLM/Fun-CosyVoice3-0.5B-2512``; :func:`model_files` lists what each needs (the YAML and the speech
tokenizer differ). Another repo id gets the file list of the family its name says (:func:`repo_family`).

:func:`download_model` runs in the caller's thread (each HTTP exchange on a short-lived helper thread, so a
cancel lands at once); the app calls it from its worker and cancels it with a :class:`CancelToken` from the
UI thread.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import quote

from . import model_manifest as mf
from .checkpoints import REQUIRED_FILES, check_model_folder, required_files
from .config import COSYVOICE2, COSYVOICE3, FAMILY_FILES
from .errors import NEVER_CANCELLED, CancelToken, DownloadError, ModelBusyError, ModelFolderError, TimbreError

if TYPE_CHECKING:
    from .hub_transfer import Metadata

DEFAULT_REPO_ID = "FunAudioLLM/CosyVoice2-0.5B"
COSYVOICE3_REPO_ID = "FunAudioLLM/Fun-CosyVoice3-0.5B-2512"
KNOWN_REPOS: dict[str, str] = {DEFAULT_REPO_ID: COSYVOICE2, COSYVOICE3_REPO_ID: COSYVOICE3}  # repo id -> family
APP_NAME = "Timbre"


def model_files(family: str = COSYVOICE2) -> tuple[str, ...]:
    """What the engine reads from a model folder of ``family``. tokenizer_config.json holds the Qwen2 added tokens."""
    return tuple(required_files(family)) + ("CosyVoice-BlankEN/tokenizer_config.json",)


def repo_family(repo_id: str) -> str:
    """The family of a repo id: the known ones by name, others by whether the name says CosyVoice 3."""
    if repo_id in KNOWN_REPOS:
        return KNOWN_REPOS[repo_id]
    name = repo_id.rsplit("/", 1)[-1].lower().replace("-", "").replace("_", "")
    return COSYVOICE3 if "cosyvoice3" in name else COSYVOICE2


MODEL_FILES: tuple[str, ...] = model_files(COSYVOICE2)
MODEL_FILES_COSYVOICE3: tuple[str, ...] = model_files(COSYVOICE3)

# owner/name as the hub allows them (huggingface_hub.utils.validate_repo_id): no "--" or ".." anywhere.
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")


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
    """``owner/name`` that is not a local path, existing or meant.

    A relative path is never taken for a repo id when it exists, nor when its first part is an existing
    folder (``models/CosyVoice2`` with a ``models`` folder here is a missing local folder, not a repo)."""
    s = str(source)
    if _REPO_ID.fullmatch(s) is None or "--" in s or ".." in s:
        return False
    return not Path(s).expanduser().exists() and not Path(s.split("/")[0]).exists()


def verify_model_folder(model_dir: str | Path, *, deep: bool = True) -> Path:
    """Check that every required file is there and loads; return the folder.

    ``deep`` also opens each checkpoint (memory-mapped, cheap) and parses each ONNX graph, so a
    truncated file is reported here rather than half-way through loading the engine.
    Raises :class:`ModelFolderError` / :class:`CheckpointError` / :class:`ConfigError` /
    :class:`OnnxModelError` naming the bad file.
    """
    from .config import load_model_config, model_family

    model_dir = check_model_folder(model_dir)
    load_model_config(model_dir)
    speech_tokenizer = FAMILY_FILES[model_family(model_dir)][1]
    if deep:
        from .checkpoints import read_state_dict
        from .errors import OnnxModelError

        for name in ("llm.pt", "flow.pt", "hift.pt"):
            read_state_dict(model_dir / name)  # parses and checks it; the tensors are dropped at once
        import onnx

        for name in ("campplus.onnx", speech_tokenizer):
            try:
                onnx.load(str(model_dir / name), load_external_data=False)
            except Exception as e:  # onnx raises DecodeError and friends for corrupt protobufs
                raise OnnxModelError(
                    f"{name} in {model_dir} cannot be parsed ({type(e).__name__}). "
                    "Delete it and download the model again."
                ) from e
    return model_dir


def verify_model(model_dir: str | Path, *, cancel: CancelToken = NEVER_CANCELLED,
                 progress: Callable[[int, int], None] | None = None, wait: bool = False) -> mf.VerifyReport:
    """"Verify model": re-hash every file against the download manifest, then check every file parses.

    ``progress(bytes_done, bytes_total)`` is called in this thread as blocks are hashed. A folder Timbre did not
    download has no manifest; its report says so and covers only the structural check. Damaged files are dropped
    from the manifest, so the next :func:`download_model` fetches exactly those again. Holds the folder's lock
    (busy: :class:`ModelBusyError`, or wait with ``wait=True``).
    """
    folder = Path(model_dir)
    check_model_folder(folder)
    if mf.state_dir(folder).is_dir():
        with _writer(folder, wait=wait, cancel=cancel):
            report = mf.verify_download(folder, full=True, cancel=cancel, progress=progress)
    else:
        report = mf.VerifyReport(folder, False)
    if not report.problems:
        try:
            verify_model_folder(folder, deep=True)
        except TimbreError as e:
            report = replace(report, problems=(("", str(e)),))
    return report


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------
def _writer(dest: Path, *, wait: bool, cancel: CancelToken, on_wait: Callable[[], None] | None = None):
    from .folder_lock import exclusive

    def busy() -> ModelBusyError:
        return ModelBusyError(f"Another Timbre download is writing to {dest} right now (the studio or another "
                              "`timbre download`). Wait for it to finish, or cancel it, then try again.")

    return exclusive(mf.lock_path(dest), busy=busy, wait=float("inf") if wait else 0.0, cancel=cancel,
                     on_wait=on_wait)


def _checked_rel(path: str) -> str:
    """A file path from the caller's list, refused unless it stays inside the model folder."""
    p = PurePosixPath(path)
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts) or "\\" in path:
        raise DownloadError(f"{path!r} is not a file path inside a model folder.")
    return str(p)


def _part_path(dest: Path, rel: str) -> Path:
    """``.part`` file of one model file: named from the file's own (checked) path, never from server data."""
    return mf.state_dir(dest) / (quote(rel, safe="") + ".part")


def _hub_error(e: Exception, what: str, repo_id: str) -> DownloadError:
    """Turn HTTP/network errors into one plain sentence."""
    from .hub_transfer import HubHTTPError

    if isinstance(e, HubHTTPError):
        local = "" if "/" not in repo_id else f" (and there is no local folder named {repo_id})"
        if e.code == "RepoNotFound" or (e.status == 401 and not e.code):
            return DownloadError(f"{what}: the repository {repo_id} was not found on the hub{local}. "
                                 "Check the repo id (a private or gated repo needs HF_TOKEN).")
        if e.code == "EntryNotFound" or e.status == 404:
            return DownloadError(f"{what}: the file is not in the repository. Is this a CosyVoice 2 or 3 repo "
                                 f"(like {DEFAULT_REPO_ID} or {COSYVOICE3_REPO_ID})?")
        if e.code == "RevisionNotFound":
            return DownloadError(f"{what}: that revision does not exist.")
        if e.status in (401, 403):
            return DownloadError(f"{what}: the hub refused access (HTTP {e.status}). A gated repo needs HF_TOKEN.")
        return DownloadError(f"{what} failed (HTTP {e.status}). Try again later; partial files are kept.")
    if isinstance(e, TimbreError):
        return DownloadError(f"{what}: {e}") if not isinstance(e, DownloadError) else e
    return DownloadError(f"{what}: cannot reach the hub ({type(e).__name__}: {e}). Check the connection or "
                         "HF_ENDPOINT.")


def _remote_files(http, repo_id: str, files: tuple[str, ...], *, endpoint: str, revision: str, headers: dict,
                  cancel: CancelToken) -> tuple[str, list[tuple[str, Metadata]]]:
    """(commit, [(file, Metadata)]), every file pinned to the commit of the first answer."""
    import httpx
    from huggingface_hub import hf_hub_url

    from .hub_transfer import head

    remotes, commit = [], revision
    for path in files:
        url = hf_hub_url(repo_id, path, revision=commit, endpoint=endpoint)
        try:
            meta = head(http, url, headers, cancel)
        except (DownloadError, httpx.HTTPError) as e:
            raise _hub_error(e, f"Looking up {path} in {repo_id}", repo_id) from e
        if not meta.etag:
            raise DownloadError(f"{endpoint} sent no ETag for {path}; it does not look like a Hugging Face hub.")
        if not mf.etag_kind(meta.etag):
            raise DownloadError(f"{endpoint} sent an ETag for {path} that is not a checksum ({meta.etag[:20]!r}), so "
                                "the download could not be verified. Is HF_ENDPOINT a Hugging Face hub?")
        if meta.commit and commit == revision:
            commit = meta.commit
        remotes.append((path, meta))
    return commit, remotes


def _already_there(dest: Path, rel: str, etag: str, size: int | None, manifest: mf.Manifest,
                   cancel: CancelToken) -> bool:
    """Whether ``dest/rel`` already holds the remote file (trusted from the manifest, or hashed now)."""
    target = dest / rel
    if not target.is_file() or (size is not None and target.stat().st_size != size):
        return False
    entry = manifest.files.get(rel, {})
    if entry.get("etag") == etag and entry.get("sha256") and entry.get("stat") == mf.stat_key(target):
        return True
    digest = mf.hash_file(target, cancel=cancel, with_git_sha1=mf.etag_kind(etag) == "git-sha1")
    if not mf.matches_etag(digest, etag):
        return False
    manifest.files[rel] = mf.entry_for(target, etag, digest)
    return True


def download_model(
    repo_id: str = DEFAULT_REPO_ID,
    *,
    local_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    revision: str = "main",
    token: str | bool | None = None,
    files: Iterable[str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    offline: bool = False,
    verify: bool = True,
    wait: bool = False,
) -> Path:
    """Download (or resume) the model files of ``repo_id`` and return the verified folder.

    Destination: ``local_dir`` if given, else ``<cache_dir or default_models_dir()>/<owner>--<name>``.
    ``endpoint`` defaults to ``$HF_ENDPOINT`` (read now, not at import), then huggingface.co.
    ``offline=True`` (or ``$HF_HUB_OFFLINE``) never touches the network: the folder must be complete, and files
    changed since they were downloaded are hashed again. Files already present with the hub's checksum are not
    fetched again. ``files``: what to fetch (default: :func:`model_files` of the repo's :func:`repo_family`).
    ``progress`` is called in this thread at least every 0.1 s while bytes arrive; ``cancel``
    raises :class:`Cancelled` within ~0.1 s, keeping every byte received for the next run. Another download
    into the same folder: :class:`ModelBusyError` at once, or with ``wait=True`` wait for it to end.
    """
    dest = Path(local_dir) if local_dir is not None else model_dir_for(repo_id, cache_dir)
    files = tuple(_checked_rel(f) for f in (model_files(repo_family(repo_id)) if files is None else files))
    cancel = cancel if cancel is not None else NEVER_CANCELLED
    if offline or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return _check_offline(dest, repo_id, verify=verify, cancel=cancel)
    cancel.raise_if_cancelled("The download")

    def waiting() -> None:
        if progress is not None:
            progress(DownloadProgress(0, 0, 0, len(files), "waiting for another download into this folder"))

    with _writer(dest, wait=wait, cancel=cancel, on_wait=waiting):
        _download_locked(dest, repo_id, files, endpoint=endpoint, revision=revision, token=token,
                         progress=progress, cancel=cancel)
    return verify_model_folder(dest, deep=True) if verify else dest


def _check_offline(dest: Path, repo_id: str, *, verify: bool, cancel: CancelToken) -> Path:
    try:
        check_model_folder(dest)
        report = mf.VerifyReport(dest, False)
        if mf.state_dir(dest).is_dir():
            with _writer(dest, wait=False, cancel=cancel):
                report = mf.verify_download(dest, full=False, cancel=cancel)
        if report.problems:
            raise ModelFolderError(report.describe())
        return verify_model_folder(dest, deep=True) if verify else dest
    except ModelBusyError:
        raise
    except ModelFolderError as e:
        raise DownloadError(
            f"Offline mode: the model {repo_id} is not (completely) downloaded in {dest}. "
            f"Connect and download it first. ({e})"
        ) from e


def _download_locked(dest: Path, repo_id: str, files: tuple[str, ...], *, endpoint: str | None, revision: str,
                     token: str | bool | None, progress: ProgressCallback | None, cancel: CancelToken) -> None:
    from huggingface_hub.utils import build_hf_headers

    from .hub_transfer import client, fetch

    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    headers = build_hf_headers(token=token)
    with client() as http:
        # 1. Metadata of every file, pinned to one commit so a push mid-download cannot mix versions.
        commit, remotes = _remote_files(http, repo_id, files, endpoint=endpoint, revision=revision,
                                        headers=headers, cancel=cancel)
        manifest = mf.read_manifest(dest) or mf.Manifest()
        manifest.repo, manifest.commit = repo_id, commit
        total = sum(meta.size or 0 for _, meta in remotes)
        state = {"done": 0, "files": 0}

        def report(current: str) -> None:
            if progress is not None:
                progress(DownloadProgress(state["done"], total, state["files"], len(remotes), current))

        # 2. What is already in place (hashed against the hub's checksum unless the manifest vouches for it).
        todo = []
        for rel, meta in remotes:
            if _already_there(dest, rel, meta.etag, meta.size, manifest, cancel):
                state["done"] += meta.size or (dest / rel).stat().st_size
                state["files"] += 1
            else:
                todo.append((rel, meta))
        mf.write_manifest(dest, manifest)  # the files just found to match are vouched for from now on
        report("")

        # 3. Transfer, resuming partial files that belong to the same remote file.
        for rel, meta in todo:
            part = _part_path(dest, rel)
            if part.exists() and (manifest.parts.get(rel) != meta.etag or
                                  (meta.size is not None and part.stat().st_size > meta.size)):
                part.unlink()  # from another version of the file, or junk: start over
            manifest.parts[rel] = meta.etag
            mf.write_manifest(dest, manifest)
            base = state["done"]

            def on_size(n: int, _base=base, _rel=rel) -> None:
                state["done"] = _base + n
                report(_rel)

            try:
                fetch(http, meta.url, part, dict(headers), expected_size=meta.size, cancel=cancel, on_size=on_size)
            except DownloadError as e:
                raise _hub_error(e, f"Downloading {rel}", repo_id) from e
            _finish(dest, rel, part, meta.etag, manifest)
            state["files"] += 1
            state["done"] = base + (dest / rel).stat().st_size
            report(rel)


def _finish(dest: Path, rel: str, part: Path, etag: str, manifest: mf.Manifest) -> None:
    """Check a complete ``.part`` against the hub's checksum, move it into place, record it."""
    digest = mf.hash_file(part, with_git_sha1=mf.etag_kind(etag) == "git-sha1")
    if not mf.matches_etag(digest, etag):
        part.unlink()
        manifest.parts.pop(rel, None)
        mf.write_manifest(dest, manifest)
        raise DownloadError(f"{rel}: the received bytes do not match the hub's checksum (corrupt transfer). "
                            "Try the download again.")
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, target)
    manifest.parts.pop(rel, None)
    manifest.files[rel] = mf.entry_for(target, etag, digest)
    mf.write_manifest(dest, manifest)


def resolve_model_dir(
    source: str | Path,
    *,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    offline: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """A local model folder as is, or a repo id downloaded first (offline: must be there already).

    Only :func:`looks_like_repo_id` strings go to the hub; any other missing path is a
    :class:`ModelFolderError` naming it."""
    if looks_like_repo_id(source):
        return download_model(str(source), cache_dir=cache_dir, endpoint=endpoint, offline=offline,
                              progress=progress, cancel=cancel, verify=False)
    return check_model_folder(Path(source).expanduser())
