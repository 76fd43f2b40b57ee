"""`python -m engine.parity` on the CosyVoice 3 fixtures: every stage of that family, under other CPU kernels too."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_parity_command import OTHER_CPU, run_parity


@pytest.mark.slow
@pytest.mark.parametrize("dispatch", [{}, OTHER_CPU], ids=["this-cpu", "other-kernels"])
def test_every_cosyvoice3_golden_passes(parity_cv3_dir: Path, dispatch: dict[str, str]) -> None:
    proc = run_parity(parity_cv3_dir, env=dispatch)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert m, lines[-1]
    failures = [ln for ln in lines[:-1] if ln.rstrip().endswith("FAIL") or " FAIL " in ln]
    assert int(m.group(2)) == 0 and proc.returncode == 0, "\n".join(failures) or proc.stdout[-3000:]
    from engine.parity import CV3_CHECK_MODULES

    prefixes = {"text": "text_frontend"}
    for stage in CV3_CHECK_MODULES:
        assert any(ln.startswith(prefixes.get(stage, stage)) for ln in lines[:-1]), f"no line for stage {stage!r}"
