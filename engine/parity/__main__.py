"""``python -m engine.parity DIR [--only STAGE]``: run every parity check found in DIR."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from . import STAGES, run_checks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.parity", description=__doc__)
    p.add_argument("dir", type=Path, help="fixture folder (model/, goldens/, wavs/, qwen2-tokenizer/)")
    p.add_argument("--only", choices=STAGES, help="run one stage only")
    args = p.parse_args(argv)
    if not (args.dir / "goldens").is_dir() or not (args.dir / "model").is_dir():
        print(f"error: {args.dir} has no goldens/ and model/ folders; it is not a parity fixture folder",
              file=sys.stderr)
        return 2
    torch.set_grad_enabled(False)
    if not (args.dir / "goldens" / "noise_floor.json").is_file():
        print("note: goldens/noise_floor.json is missing: float bounds are the family floors only "
              "(engine/parity/tolerance.py), which other CPUs may exceed for HiFT waveforms", file=sys.stderr)
    results = run_checks(args.dir, args.only)
    for r in results:
        print(r.line(), flush=True)
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
