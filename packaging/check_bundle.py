"""Check a built one-folder bundle: what must be in it, what must never be, and how big it is.

    python packaging/check_bundle.py dist/Timbre [--max-mb 800]

Exit 0 when every rule holds, 1 with one line per problem otherwise. build.sh runs it after each
build so a new dependency that drags in model weights, tests or a Qt module we do not ship fails
the build instead of silently growing the download.
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

# 906 MB measured: torch 2.13 CPU + PySide6-Essentials 6.12 (736 MB before export), PyAV (its FFmpeg: AAC/M4B) ~100 MB
# and scipy (pyloudnorm, the limiter) ~80 MB for production export; 10 % over that is a new dependency to justify.
DEFAULT_MAX_MB = 1000

# Model weights are downloaded by the model manager into the user's data folder, never shipped.
WEIGHT_SUFFIXES = {".pt", ".pth", ".ckpt", ".safetensors", ".onnx", ".gguf", ".ptl"}

# Paths relative to the contents folder (_internal/); '*' matches across '/'.
REQUIRED = [
    "resources/icons/timbre.svg",
    "resources/icons/timbre-256.png",
    "resources/presets/*.json",
    "resources/sample_texts/*.txt",
    "resources/tiny_tokenizer/vocab.json",
    "resources/tiny_tokenizer/merges.txt",
    "resources/timbre.desktop",
    "wetext/fsts/en/tn/tagger.fst",
    "wetext/fsts/zh/tn/tagger.fst",
    "contractions/data/*.json",
    "anyascii/_data/*",
    "inflect/__init__.py",  # typeguard re-reads inflect's source at import
    "PySide6/Qt/plugins/platforms/*offscreen*",
    "PySide6/Qt/plugins/imageformats/*svg*",
    "PySide6/Qt/plugins/iconengines/*svg*",
    "onnxruntime/capi/*onnxruntime*",
]
REQUIRED_LINUX = [
    "PySide6/Qt/plugins/platforms/*xcb*",
    "PySide6/Qt/plugins/platforms/*wayland*",
    "torch/lib/libtorch_cpu*",
]

FORBIDDEN = [
    "tests/*", "*/tests/fixtures/*", "resources/screenshots/*",
    "engine/parity/*", "engine/bench/*", "engine/cluster/*", "ray/*", "app/tools/*",
    "pytest/*", "_pytest/*", "hypothesis/*", "pytestqt/*", "PyInstaller/*",
    "torch/include/*", "torch/test/*", "torch/share/*", "onnx/backend/test/*",
    "*libQt6Qml*", "*libQt6Quick*", "*libQt6WebEngine*", "*libQt63D*", "*libQt6Designer*",
    "*libQt6VirtualKeyboard*", "*libQt6Pdf*", "*/plugins/qmltooling/*", "*/plugins/sqldrivers/*",
    "*/plugins/egldeviceintegrations/*", "*/plugins/designer/*",
    # the system's ALSA (its plugins and config) and GTK must be used, never copies from the build host
    "libasound.so*", "*/platformthemes/*gtk*", "libgtk-*", "libcairo*", "libpango*",
]


def contents_dir(bundle: Path) -> Path:
    """The folder holding the bundled files (PyInstaller >= 6 puts them in _internal/)."""
    internal = bundle / "_internal"
    return internal if internal.is_dir() else bundle


def size_mb(bundle: Path) -> float:
    return sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def problems(bundle: Path, max_mb: float = DEFAULT_MAX_MB, platform: str = sys.platform) -> list[str]:
    """Every rule the bundle at ``bundle`` breaks, one line each (empty: all good)."""
    if not bundle.is_dir():
        return [f"{bundle} is not a folder; build it first (bash packaging/build.sh)"]
    found: list[str] = []
    exe = bundle / ("Timbre.exe" if platform == "win32" else "Timbre")
    if not exe.is_file():
        found.append(f"the executable {exe.name} is missing")
    root = contents_dir(bundle)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    weights = [f for f in files if Path(f).suffix.lower() in WEIGHT_SUFFIXES]
    found += [f"model weights must not be bundled: {f}" for f in weights]

    required = REQUIRED + (REQUIRED_LINUX if platform.startswith("linux") else [])
    for pattern in required:
        if not any(fnmatch.fnmatch(f, pattern) for f in files):
            found.append(f"required file missing: {pattern}")

    for pattern in FORBIDDEN:
        hits = [f for f in files if fnmatch.fnmatch(f, pattern)]
        if hits:
            found.append(f"must not be bundled: {pattern} ({len(hits)} files, e.g. {hits[0]})")

    total = size_mb(bundle)
    if total > max_mb:
        found.append(f"the bundle is {total:.0f} MB, over the {max_mb:.0f} MB budget")
    return found


def largest_parts(bundle: Path, count: int = 8) -> list[tuple[str, float]]:
    """The biggest top-level entries of the contents folder, in MB (for the build log)."""
    root = contents_dir(bundle)
    sizes = []
    for entry in root.iterdir():
        paths = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes.append((entry.name, sum(p.stat().st_size for p in paths if not p.is_symlink()) / 2**20))
    return sorted(sizes, key=lambda s: -s[1])[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="the one-folder bundle, e.g. dist/Timbre")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB, help="size budget (default %(default)s)")
    args = parser.parse_args(argv)
    found = problems(args.bundle, args.max_mb)
    for line in found:
        print(f"check_bundle: {line}", file=sys.stderr)
    if found:
        return 1
    parts = ", ".join(f"{name} {mb:.0f}" for name, mb in largest_parts(args.bundle))
    print(f"check_bundle: ok, {size_mb(args.bundle):.0f} MB (largest, MB: {parts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
