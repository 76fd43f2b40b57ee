"""What a downloaded model folder should hold, byte for byte: a sha256 per file, checked on demand.

The downloader writes ``<folder>/.timbre-download/manifest.json`` as each file lands::

    {"format": 2, "repo": "FunAudioLLM/CosyVoice2-0.5B", "commit": "<sha1>",
     "files": {"llm.pt": {"etag": "<hub ETag>", "size": 2023..., "sha256": "<hex>", "stat": [size, mtime_ns,
                          ctime_ns, inode]}, ...},
     "parts": {"llm.pt": "<ETag the .part file was started for>"}}

Every file is checked against the hub's ETag when it arrives: large (LFS) files' ETag is their sha256, small
files' ETag is the git blob sha1 (``sha1(b"blob <size>\\0" + bytes)``), so wrong bytes of the right size are
caught for both. :func:`verify_download` re-hashes every file against the manifest (what "Verify model" and
``timbre download --verify`` run: 3.1 GB in 5-6 s on the shared 2-core machine this was measured on).
``verify_download(full=False)`` is the cheap check run before offline use: a file whose ``stat`` (size, mtime, ctime,
inode) is what it was when last hashed is taken as unchanged (any write through the file system changes ctime,
which programs cannot set back), any other is hashed again. Only silent disk corruption needs the full check.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import NEVER_CANCELLED, CancelToken

STATE_DIR = ".timbre-download"  # the downloader's own folder inside a model folder (manifest, .part files, lock)
MANIFEST_NAME = "manifest.json"
LOCK_NAME = "lock"
FORMAT = 2
_BLOCK = 1 << 20  # hashing reads 1 MiB at a time (cancel is polled per block; larger blocks were not faster)
SHA256_RE = re.compile(r"[0-9a-f]{64}")
SHA1_RE = re.compile(r"[0-9a-f]{40}")


def state_dir(folder: Path) -> Path:
    return Path(folder) / STATE_DIR


def lock_path(folder: Path) -> Path:
    return state_dir(folder) / LOCK_NAME


def stat_key(path: Path) -> list[int]:
    """What changes whenever the file is written, replaced or touched."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


@dataclass
class Manifest:
    repo: str = ""
    commit: str = ""
    files: dict[str, dict] = field(default_factory=dict)  # relative path -> {"etag", "size", "sha256", "stat"}
    parts: dict[str, str] = field(default_factory=dict)  # relative path -> the ETag its .part file belongs to

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "repo": self.repo, "commit": self.commit, "files": self.files,
                           "parts": self.parts}, indent=1, sort_keys=True)


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None if it has none (not downloaded by Timbre) or it cannot be read.

    A manifest written by an older Timbre (no ``format``, no sha256) yields entries without ``sha256``: those
    files are hashed against their ETag again before they are trusted."""
    path = state_dir(folder) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if "format" not in data:  # format 1: {file: {"etag", "commit", "size"}}
        files = {k: {"etag": v.get("etag", ""), "size": v.get("size")} for k, v in data.items() if isinstance(v, dict)}
        return Manifest(files=files)
    files = data.get("files") if isinstance(data.get("files"), dict) else {}
    parts = data.get("parts") if isinstance(data.get("parts"), dict) else {}
    return Manifest(str(data.get("repo", "")), str(data.get("commit", "")),
                    {k: v for k, v in files.items() if isinstance(v, dict)},
                    {k: v for k, v in parts.items() if isinstance(v, str)})


def write_manifest(folder: Path, manifest: Manifest) -> None:
    from .atomic import atomic_write_text

    state_dir(folder).mkdir(parents=True, exist_ok=True)
    atomic_write_text(state_dir(folder) / MANIFEST_NAME, manifest.to_json())


# --------------------------------------------------------------------------------------------
# Hashing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Digest:
    sha256: str
    git_sha1: str  # sha1 of b"blob <size>\0" + bytes: the hub's ETag of a file stored in git (not LFS)
    size: int


def hash_file(path: Path, *, cancel: CancelToken = NEVER_CANCELLED, with_git_sha1: bool = False,
              on_bytes: Callable[[int], None] | None = None) -> Digest:
    """sha256 (and the git blob sha1 if asked) of a file, reading it once; ``cancel`` is polled per MiB."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % size) if with_git_sha1 else None
    with open(path, "rb", buffering=0) as f:
        while block := f.read(_BLOCK):
            cancel.raise_if_cancelled("Checking the model files")
            sha256.update(block)
            if sha1 is not None:
                sha1.update(block)
            if on_bytes is not None:
                on_bytes(len(block))
    return Digest(sha256.hexdigest(), sha1.hexdigest() if sha1 is not None else "", size)


def etag_kind(etag: str) -> str:
    """``sha256`` (an LFS file), ``git-sha1`` (a file in git) or ``""`` (cannot be checked against)."""
    if SHA256_RE.fullmatch(etag):
        return "sha256"
    if SHA1_RE.fullmatch(etag):
        return "git-sha1"
    return ""


def matches_etag(digest: Digest, etag: str) -> bool:
    kind = etag_kind(etag)
    return (kind == "sha256" and digest.sha256 == etag) or (kind == "git-sha1" and digest.git_sha1 == etag)


def entry_for(path: Path, etag: str, digest: Digest) -> dict:
    return {"etag": etag, "size": digest.size, "sha256": digest.sha256, "stat": stat_key(path)}


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyReport:
    """The outcome of checking a folder against its manifest. ``problems``: (file, what is wrong)."""

    folder: Path
    has_manifest: bool
    checked: tuple[str, ...] = ()
    problems: tuple[tuple[str, str], ...] = ()
    bytes_hashed: int = 0

    @property
    def ok(self) -> bool:
        """Nothing wrong was found (for a folder without a manifest: only its structure was checked)."""
        return not self.problems

    def describe(self) -> str:
        damaged = [(name, what) for name, what in self.problems if name]
        if damaged:
            bad = "; ".join(f"{name}: {what}" for name, what in damaged)
            return f"{len(damaged)} model file(s) are damaged ({bad}). Download the model again to replace them."
        if self.problems:  # the structural check's own sentence (it names the file and what to do)
            return " ".join(what for _, what in self.problems)
        if not self.has_manifest:
            return (f"{self.folder} was not downloaded by Timbre, so there are no checksums to compare its files "
                    "with; every file is present and can be read.")
        return f"All {len(self.checked)} model files match their download checksums."


def verify_download(folder: Path, *, full: bool = True, cancel: CancelToken = NEVER_CANCELLED,
                    progress: Callable[[int, int], None] | None = None,
                    forget_damaged: bool = True) -> VerifyReport:
    """Check every file of the manifest: present, same size, same sha256.

    ``full=False`` hashes only files whose stat changed since they were last hashed (see the module docstring).
    ``progress(bytes_done, bytes_total)`` is called as blocks are hashed (one file after another: hashing two
    files on two threads was not faster on the 2-core machine this was measured on). ``forget_damaged`` drops
    damaged files from the manifest (and records new stat keys of files that still match), so the next download
    fetches exactly the damaged ones again. The caller holds the folder's lock.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None or not manifest.files:
        return VerifyReport(folder, False)
    problems: dict[str, str] = {}
    todo: list[str] = []
    names = sorted(manifest.files)
    for name, entry in sorted(manifest.files.items()):
        path = folder / name
        if not path.is_file():
            problems[name] = "missing"
        elif entry.get("size") is not None and path.stat().st_size != entry["size"]:
            problems[name] = f"{path.stat().st_size} bytes instead of {entry['size']}"
        elif full or not entry.get("sha256") or entry.get("stat") != stat_key(path):
            todo.append(name)
    total = sum((folder / n).stat().st_size for n in todo)
    done = [0]

    def on_bytes(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    def check(name: str) -> tuple[str, str]:
        entry = manifest.files[name]
        digest = hash_file(folder / name, cancel=cancel, on_bytes=on_bytes,
                           with_git_sha1=etag_kind(entry.get("etag", "")) == "git-sha1")
        expected = entry.get("sha256")
        if expected and digest.sha256 != expected:
            return name, "its sha256 differs from the downloaded file's"
        if not expected and not matches_etag(digest, entry.get("etag", "")):
            return name, "its checksum differs from the hub's"
        manifest.files[name] = entry_for(folder / name, entry.get("etag", ""), digest)
        return name, ""

    for name in todo:
        what = check(name)[1]
        if what:
            problems[name] = what
    if forget_damaged:
        from .atomic import WriteError

        for name in problems:
            manifest.files.pop(name, None)
        try:
            write_manifest(folder, manifest)
        except WriteError:
            pass  # a read-only model folder: the report stands; nothing could be downloaded there anyway
    return VerifyReport(folder, True, tuple(names), tuple(sorted(problems.items())), total)
