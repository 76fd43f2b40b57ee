"""`python -m engine.parity DIR` on the copied fixtures: every stage's goldens, one line per check."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import os

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

# Another CPU on this one: ATen's scalar kernels (torch.randn, interpolation and reductions round differently),
# MKL's SSE4.2 FFT/GEMM and oneDNN's SSE4.1 convolutions, one thread. The goldens come from an AMD EPYC with
# AVX-512; an Intel Xeon picks other MKL kernels again. The tolerance policy must hold on all of them.
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41",
             "OMP_NUM_THREADS": "1"}


def run_parity(path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.parity", str(path), *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, env={**os.environ, **(env or {})})


@pytest.mark.slow
@pytest.mark.parametrize("dispatch", [{}, OTHER_CPU], ids=["this-cpu", "other-kernels"])
def test_every_golden_passes(parity_dir: Path, dispatch: dict[str, str]) -> None:
    proc = run_parity(parity_dir, env=dispatch)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert m, lines[-1]
    failures = [ln for ln in lines[:-1] if ln.rstrip().endswith("FAIL") or " FAIL " in ln]
    assert int(m.group(2)) == 0 and proc.returncode == 0, "\n".join(failures) or proc.stdout[-3000:]
    assert int(m.group(1)) == len(lines) - 1
    # Every stage of the pipeline is checked (a module that silently yields nothing would hide a gap).
    from engine.parity import CHECK_MODULES
    for stage in CHECK_MODULES:
        assert any(ln.startswith(stage) for ln in lines[:-1]), f"no check line for stage {stage!r}"


def test_a_corrupted_golden_fails_with_non_zero_exit(parity_dir: Path, tmp_path: Path) -> None:
    """The command is not vacuous: perturb one float golden and it must report FAIL."""
    fx = tmp_path / "fx"
    shutil.copytree(parity_dir, fx, ignore=shutil.ignore_patterns("*.npz"))
    # Keep only the HiFT golden (fast), with its f0 perturbed.
    for f in (fx / "goldens").glob("*.json"):
        if f.name not in ("meta.json", "inventory.json"):
            f.unlink()
    data = dict(np.load(parity_dir / "goldens" / "hift.npz"))
    data["f0"] = data["f0"] + 1.0
    np.savez(fx / "goldens" / "hift.npz", **data)
    proc = run_parity(fx, "--only", "hift")
    assert proc.returncode != 0
    assert re.search(r"^\d+ passed, [1-9]\d* failed$", proc.stdout.strip().splitlines()[-1], re.M)
    assert any("FAIL" in ln for ln in proc.stdout.splitlines())


def test_not_a_fixture_folder(tmp_path: Path) -> None:
    proc = run_parity(tmp_path)
    assert proc.returncode == 2 and "not a parity fixture folder" in proc.stderr
