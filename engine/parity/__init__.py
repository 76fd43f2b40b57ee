"""Parity checks against goldens made by the official CosyVoice code.

A fixture folder has the layout of ``../shared/parity``: ``model/`` (tiny official-layout model),
``goldens/`` (``*.npz``, ``*.json``, ``noise_floor.json``), ``wavs/`` and optionally ``qwen2-tokenizer/``.
The family of ``model/`` (CosyVoice 2 or 3, :func:`engine.config.model_family`) picks the stage modules:
each stage has a module with ``checks(fx) -> Iterator[CheckResult]`` (CosyVoice 2's in this package,
CosyVoice 3's in :mod:`engine.parity.cosyvoice3`, the family-independent ones shared); a module yields
nothing for goldens the folder does not have, and never depends on this set's particular sizes. Float checks go through
:meth:`Fixture.check` / :meth:`Fixture.check_wave`, which bound each key by the tolerance policy of
:mod:`engine.parity.tolerance`; integers are exact.

Run: ``python -m engine.parity DIR``.
"""
from __future__ import annotations

import importlib
import json
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import tolerance
from .tolerance import Family

# Stage modules, in pipeline order. Each is ``engine.parity.<name>`` with a ``checks`` function.
CHECK_MODULES = (
    "tokenizer",
    "text",
    "features",
    "frontend",
    "sampling",
    "lm",
    "flow",
    "hift",
    "token2wav",
    "e2e",
)
# CosyVoice 3: its own modules (engine.parity.cosyvoice3.<name>) where the goldens or networks differ, the
# CosyVoice 2 ones where the computation is the same (features but the mel's fmax, the samplers).
CV3_CHECK_MODULES = ("tokenizer", "text", "features", "frontend", "sampling", "lm", "flow", "hift", "token2wav",
                     "e2e", "shapes")
_CV3_SHARED = frozenset({"features", "sampling"})
STAGES = tuple(dict.fromkeys(CHECK_MODULES + CV3_CHECK_MODULES))


def stage_modules(family: str) -> list[tuple[str, str]]:
    """(stage, module name) of every stage run for a model of ``family``, in pipeline order."""
    from ..config import COSYVOICE3

    if family != COSYVOICE3:
        return [(stage, f"{__name__}.{stage}") for stage in CHECK_MODULES]
    return [(stage, f"{__name__}.{stage}" if stage in _CV3_SHARED else f"{__name__}.cosyvoice3.{stage}")
            for stage in CV3_CHECK_MODULES]


@dataclass(frozen=True)
class CheckResult:
    name: str
    max_abs_err: float
    tol: float
    passed: bool
    detail: str = ""

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        err = "exact" if self.tol == 0 and self.passed else f"{self.max_abs_err:.3e} <= {self.tol:.1e}"
        tail = f"  ({self.detail})" if self.detail else ""
        return f"{self.name:<64} {err:>20}  {status}{tail}"


class Fixture:
    """Lazy access to one fixture folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.model_dir = self.root / "model"
        self.goldens_dir = self.root / "goldens"
        self.wavs_dir = self.root / "wavs"
        self.qwen2_tokenizer_dir = self.root / "qwen2-tokenizer"
        self._npz: dict[str, Any] = {}

    def has(self, name: str) -> bool:
        return (self.goldens_dir / name).is_file()

    def npz(self, name: str) -> Any:
        """``np.load`` of ``goldens/<name>`` (cached)."""
        if name not in self._npz:
            self._npz[name] = np.load(self.goldens_dir / name, allow_pickle=False)
        return self._npz[name]

    def json(self, name: str) -> Any:
        return json.loads((self.goldens_dir / name).read_text(encoding="utf-8"))

    @cached_property
    def meta(self) -> dict:
        return self.json("meta.json") if self.has("meta.json") else {}

    @cached_property
    def family(self) -> str:
        """``cosyvoice2`` or ``cosyvoice3``, from the files of ``model/``."""
        from ..config import model_family

        return model_family(self.model_dir)

    @cached_property
    def config(self):
        """The typed config of ``model/`` (:class:`ModelConfig` or :class:`CosyVoice3Config`)."""
        from ..config import load_model_config

        return load_model_config(self.model_dir)

    @property
    def speech_tokenizer_path(self) -> Path:
        from ..config import FAMILY_FILES

        return self.model_dir / FAMILY_FILES[self.family][1]

    def spread(self, file: str, key: str) -> float:
        """``noise_floor.json``'s spread of ``file:key`` (0 when the set has none for it)."""
        return tolerance.spread(self.goldens_dir, file, key) or 0.0

    def check(self, name: str, got: Any, file: str, key: str, family: Family, *, want: Any = None,
              spread: float | None = None) -> CheckResult:
        """``got`` against golden ``file:key`` (or ``want``, e.g. a slice of it) within the family's bound.

        bound = max(family floor, 4 x spread), the spread being the key's noise floor unless given."""
        want = self.npz(file)[key] if want is None else want
        s = self.spread(file, key) if spread is None else spread
        return compare(name, got, want, family.bound(s))

    def check_wave(self, name: str, got: Any, file: str, key: str, family: Family, *, want: Any = None,
                   spread: float | None = None) -> Iterator[CheckResult]:
        """:meth:`check` plus, for a family with a ``rel_l2`` bound, the relative L2 error."""
        want = self.npz(file)[key] if want is None else want
        first = self.check(name, got, file, key, family, want=want, spread=spread)
        yield first
        limit = family.rel_l2
        if limit is not None and np.isfinite(first.max_abs_err):
            err = tolerance.rel_l2(_numpy(got).reshape(np.shape(want)), want)
            yield CheckResult(f"{name} (rel L2)", err, limit, err <= limit)


def _numpy(x: Any) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)


def compare(name: str, got: Any, want: Any, tol: float = 0.0) -> CheckResult:
    """Compare arrays: exact for integer/bool goldens (tol ignored), max-abs-error <= ``tol`` otherwise.

    Float checks should name their bound through :meth:`Fixture.check` (the tolerance policy)."""
    g = _numpy(got)
    w = np.asarray(want)
    if g.shape != w.shape:
        # Allow a leading singleton batch difference; anything else is a real mismatch.
        if g.squeeze().shape == w.squeeze().shape and g.size == w.size:
            g = g.reshape(w.shape)
        else:
            return CheckResult(name, float("inf"), tol, False, f"shape {g.shape} != golden {w.shape}")
    if w.dtype.kind in "iub":
        bad = int(np.count_nonzero(g.astype(np.int64) != w.astype(np.int64)))
        err = float(np.max(np.abs(g.astype(np.int64) - w.astype(np.int64)))) if w.size else 0.0
        return CheckResult(name, err, 0.0, bad == 0, f"{bad} of {w.size} differ" if bad else "")
    if w.size == 0:
        return CheckResult(name, 0.0, tol, True)
    if not np.all(np.isfinite(g)):
        return CheckResult(name, float("inf"), tol, False, "non-finite values")
    err = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64))))
    return CheckResult(name, err, tol, err <= tol)


def equal(name: str, got: Any, want: Any) -> CheckResult:
    """Exact equality of plain Python values (strings, lists of ids, ...)."""
    ok = got == want
    return CheckResult(name, 0.0 if ok else float("inf"), 0.0, ok, "" if ok else f"got {got!r:.200} want {want!r:.200}")


def run_checks(root: str | Path, only: str | None = None) -> list[CheckResult]:
    """Run every stage's checks found in ``root`` (the stages of its model's family); a crashing stage becomes
    one failed check."""
    fx = Fixture(root)
    results: list[CheckResult] = []
    for mod_name, module in stage_modules(fx.family):
        if only and mod_name != only:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:
                continue  # stage not implemented in this build
            raise
        try:
            for res in mod.checks(fx):
                results.append(res)
        except Exception as e:  # report, keep going with the other stages
            tb = traceback.format_exc(limit=3).strip().splitlines()[-1]
            results.append(CheckResult(f"{mod_name}: crashed", float("inf"), 0.0, False, f"{type(e).__name__}: {e} | {tb}"))
    return results
