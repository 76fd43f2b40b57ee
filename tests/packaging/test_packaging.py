"""Packaging: the bundle checker's rules, the launcher's dispatch, the spec's data list and the
Linux installer, all without running PyInstaller (a build takes minutes; CI runs
`bash packaging/build.sh --self-test` for that)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"
sys.path.insert(0, str(PACKAGING))

import check_bundle  # noqa: E402


def fake_bundle(tmp: Path, platform: str = "linux") -> Path:
    """A folder laid out like dist/Timbre with one file for every required pattern."""
    bundle = tmp / "Timbre"
    internal = bundle / "_internal"
    internal.mkdir(parents=True)
    (bundle / "Timbre").write_text("#!/bin/sh\n")
    shutil.copytree(RESOURCES, internal / "resources", ignore=shutil.ignore_patterns("screenshots"))
    for pattern in check_bundle.REQUIRED + check_bundle.REQUIRED_LINUX:
        if pattern.startswith("resources/"):
            continue
        path = internal / pattern.replace("*", "x")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0")
    return bundle


def test_a_complete_bundle_passes(tmp_path):
    assert check_bundle.problems(fake_bundle(tmp_path), platform="linux") == []
    assert check_bundle.main([str(tmp_path / "Timbre")]) == 0


@pytest.mark.parametrize("weight", ["llm.pt", "flow.pt", "hift.pt", "campplus.onnx", "model.safetensors",
                                    "speech_tokenizer_v2.onnx"])
def test_model_weights_anywhere_fail_the_check(tmp_path, weight):
    bundle = fake_bundle(tmp_path)
    nested = bundle / "_internal" / "some_package" / "models" / weight
    nested.parent.mkdir(parents=True)
    nested.write_bytes(b"\0" * 16)
    found = check_bundle.problems(bundle, platform="linux")
    assert found == [f"model weights must not be bundled: some_package/models/{weight}"]


@pytest.mark.parametrize("extra, rule", [
    ("tests/app/test_studio.py", "tests/*"),
    ("resources/screenshots/studio.png", "resources/screenshots/*"),
    ("engine/parity/flow.py", "engine/parity/*"),
    ("torch/include/ATen/ATen.h", "torch/include/*"),
    ("PySide6/Qt/lib/libQt6Quick.so.6", "*libQt6Quick*"),
    ("PySide6/Qt/plugins/qmltooling/libqmldbg_tcp.so", "*/plugins/qmltooling/*"),
])
def test_dev_files_and_unused_qt_modules_fail_the_check(tmp_path, extra, rule):
    bundle = fake_bundle(tmp_path)
    path = bundle / "_internal" / extra
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0")
    found = check_bundle.problems(bundle, platform="linux")
    assert len(found) == 1 and found[0].startswith(f"must not be bundled: {rule} (1 files")


def test_missing_resources_and_executable_are_named(tmp_path):
    bundle = fake_bundle(tmp_path)
    shutil.rmtree(bundle / "_internal" / "resources" / "tiny_tokenizer")
    (bundle / "Timbre").unlink()
    found = check_bundle.problems(bundle, platform="linux")
    assert "the executable Timbre is missing" in found
    assert "required file missing: resources/tiny_tokenizer/vocab.json" in found
    assert check_bundle.main([str(bundle)]) == 1


def test_size_budget(tmp_path):
    bundle = fake_bundle(tmp_path)
    (bundle / "_internal" / "big.bin").write_bytes(b"\0" * (2 * 2**20))
    found = check_bundle.problems(bundle, max_mb=1, platform="linux")
    assert len(found) == 1 and found[0].startswith("the bundle is 2 MB, over the 1 MB budget")
    assert check_bundle.problems(bundle, max_mb=10, platform="linux") == []


def test_not_built_yet(tmp_path):
    assert check_bundle.problems(tmp_path / "nothing") == [
        f"{tmp_path / 'nothing'} is not a folder; build it first (bash packaging/build.sh)"]


def test_spec_bundles_every_resource_folder_the_app_reads_but_not_screenshots():
    spec = (PACKAGING / "timbre.spec").read_text(encoding="utf-8")
    bundled = set(re.findall(r'"resources/([\w.-]+)"', spec))
    on_disk = {p.name for p in RESOURCES.iterdir() if p.is_dir()} - {"screenshots"}
    assert on_disk <= bundled, f"resource folders missing from timbre.spec datas: {on_disk - bundled}"
    assert "screenshots" not in bundled
    assert "timbre.desktop" in spec


def run_launcher(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TIMBRE_DATA_DIR=str(tmp / "data"),
               TIMBRE_CONFIG_DIR=str(tmp / "config"))
    return subprocess.run([sys.executable, str(PACKAGING / "launcher.py"), *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=120)


def test_launcher_sends_cli_to_the_engine_command_line(tmp_path):
    done = run_launcher("cli", "voices", "list", "--voices-dir", str(tmp_path / "voices"), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no voices" in done.stdout.lower()
    usage = run_launcher("cli", "no-such-command", tmp=tmp_path)
    assert usage.returncode == 2 and "timbre" in usage.stderr


def test_launcher_without_cli_is_the_studio(tmp_path):
    done = run_launcher("--help", tmp=tmp_path)
    assert done.returncode == 0
    assert "--self-test" in done.stdout and "timbre-app" in done.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktop integration")
def test_install_linux_puts_menu_entry_icons_and_commands_and_uninstalls(tmp_path):
    bundle = tmp_path / "Timbre"
    (bundle / "_internal").mkdir(parents=True)
    shutil.copytree(RESOURCES, bundle / "_internal" / "resources", ignore=shutil.ignore_patterns("screenshots"))
    exe = bundle / "Timbre"
    exe.write_text('#!/bin/sh\necho "Timbre got: $*"\n')
    exe.chmod(0o755)
    shutil.copy(PACKAGING / "install-linux.sh", bundle / "install-linux.sh")
    prefix = tmp_path / "prefix with space"
    env = dict(os.environ, PATH=os.environ.get("PATH", ""))

    subprocess.run(["bash", str(bundle / "install-linux.sh"), "--prefix", str(prefix)], check=True, env=env,
                   capture_output=True, text=True)

    lib = prefix / "lib" / "timbre"
    assert (lib / "Timbre").is_file()
    assert (prefix / "bin" / "timbre-app").resolve() == (lib / "Timbre").resolve()
    cli = subprocess.run([str(prefix / "bin" / "timbre"), "voices", "list"], capture_output=True, text=True,
                         check=True)
    assert cli.stdout.strip() == "Timbre got: cli voices list"
    icons = prefix / "share" / "icons" / "hicolor"
    assert (icons / "scalable" / "apps" / "timbre.svg").read_bytes() == (RESOURCES / "icons" / "timbre.svg").read_bytes()
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert (icons / f"{size}x{size}" / "apps" / "timbre.png").is_file()
    desktop = (prefix / "share" / "applications" / "timbre.desktop").read_text(encoding="utf-8")
    exec_line = next(line for line in desktop.splitlines() if line.startswith("Exec="))
    assert exec_line.startswith(f'Exec="{lib / "Timbre"}"')
    assert "Icon=timbre" in desktop
    if shutil.which("desktop-file-validate"):
        validated = subprocess.run(["desktop-file-validate", str(prefix / "share/applications/timbre.desktop")],
                                   capture_output=True, text=True)
        assert validated.returncode == 0, validated.stdout + validated.stderr

    subprocess.run(["bash", str(bundle / "install-linux.sh"), "--uninstall", "--prefix", str(prefix)],
                   check=True, env=env, capture_output=True)
    assert not lib.exists() and not (prefix / "bin" / "timbre").exists()
    assert not (icons / "256x256" / "apps" / "timbre.png").exists()
    assert not (prefix / "share" / "applications" / "timbre.desktop").exists()


def test_icons_exist_at_every_size_and_are_square_pngs_of_that_size():
    for size in (16, 32, 48, 64, 128, 256, 512):
        data = (RESOURCES / "icons" / f"timbre-{size}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == (size, size)
    svg = (RESOURCES / "icons" / "timbre.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "viewBox" in svg
