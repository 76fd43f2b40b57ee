"""The first-run hardware check: what ``precision="auto"`` and the CPU threading plan are on this machine.

On a CPU the fastest way to run differs from one machine to the next (memory bandwidth per core, bf16 and
int8 kernels, AMX or not), so it is measured here, never assumed: :func:`check_machine` loads the model's fp32
networks (CosyVoice 2 or 3), times every precision and threading candidate on a fixed input at every thread
total it may run with (1 and all of the process's threads; half of them too on more than two) and checks
each faster precision's agreement with fp32 (:mod:`engine.machine_measure`), predicts a streamed 10 s
utterance for every candidate and picks the fastest that agrees (:func:`engine.machine_choice.choose_plan`).
The answer, a :class:`MachinePlan` with its thread total, is cached on disk, keyed by CPU model, core count,
the process's thread count (what the check may use, never what it chose), torch version and the model folder
and family; :meth:`engine.Engine.load` with ``precision="auto"`` on the CPU runs by the cached
plan (:func:`measured_auto`) and otherwise by the static defaults (:func:`engine.precision.pick_precision`,
:func:`engine.cpu_threads.plan_cpu_threads`). Loading never measures by itself: a model load stays as fast,
and its numerics as predictable, as before; the model manager (``ensure_machine_plan``) and
``timbre bench-machine`` run the check (measured before thread totals were candidates: 3.5 minutes at
official size on two cores that other processes kept busy, load 3-4; the 1-thread total adds 8 flow calls to
the 19 of two cores, each slower where the cores are free. The tiny models: 9-65 s on this 2-core machine at
load 2-7, where 2-thread regions stall; flow calls are most of it, see ``details["phases_s"]``).

Call from the model manager::

    plan = ensure_machine_plan(model_dir, progress=lambda what, share: ..., cancel=token)  # cached, or now
    plan.describe()        # "int8 (LM int8 weights + bf16 activations, flow fp32, HiFT fp32), 2 threads, LM
                           #  ahead off, lanes on: predicted RTF 1.80, first audio 4.0 s"
    plan.predicted_rtf     # < 1.0: faster than real time;  plan.busy: measured under load, offer a re-run
    check_machine(model_dir, progress=..., cancel=token)   # "Re-run the hardware check" (replaces the cache)
    # then load (or reload) with precision="auto": Engine.load runs by the cached plan

The cache file is ``<user cache dir>/Timbre/machine-check.json`` (``$TIMBRE_MACHINE_CHECK_CACHE`` overrides
it; ``TIMBRE_MACHINE_CHECK=off`` makes ``auto`` ignore it). A damaged or foreign file is ignored and replaced
by the next check; writes are atomic (:mod:`engine.atomic`).
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import torch

from .atomic import atomic_write_text
from .cpu_threads import CpuPlan, plan_cpu_threads
from .errors import NEVER_CANCELLED, CancelToken
from .machine_choice import Agreement, Candidate, Measurements, choose_plan
from .machine_measure import Progress, measure_networks
from .precision import Precision, precision_name

CHECK_VERSION = 2  # bump when what is measured or predicted changes (2: thread totals); older entries re-measure
CACHE_ENV = "TIMBRE_MACHINE_CHECK_CACHE"
SWITCH_ENV = "TIMBRE_MACHINE_CHECK"  # "off": auto ignores the cache
# The thread count plans are measured for and looked up by unless a caller says otherwise. torch keeps the count
# per OS thread and a new thread starts from the count some other thread set last (the LM-ahead worker sets 1),
# so reading it wherever a check or a load happens to run gave keys that never matched (the studio's check on its
# worker thread against the model manager's lookup). Read once, when the engine is imported.
PROCESS_THREADS = torch.get_num_threads()


@dataclass(frozen=True)
class MachinePlan:
    """What the check chose for one model on this machine, and what it predicts.

    lm / flow: the networks' conversions (``fp32``/``bf16``/``int8w``/``int8``; ``fp32``/``bf16``).
    threads: the intra-op thread total the check chose (measured: 1 can beat all of them where another process
    holds a core or one core gets most of the memory bandwidth); max_threads: the most it tried (the process's
    count, the key's). decode_ahead / flow_lanes: the CPU threading plan over ``threads`` threads. predicted_rtf /
    predicted_first_audio_s: a streamed 10 s utterance with a new 3 s voice prompt, from the measurements.
    candidates: every candidate ranked (each with its prediction and, if not eligible, why).
    check_s: how long the check took; measured_at: when (ISO 8601); key: what it is valid for.
    """

    lm: str
    flow: str
    decode_ahead: bool
    flow_lanes: bool
    threads: int
    max_threads: int
    predicted_rtf: float
    predicted_first_audio_s: float
    candidates: tuple[Candidate, ...]
    agreement: Agreement
    check_s: float
    measured_at: str
    key: tuple[tuple[str, str], ...]
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after the check

    @property
    def busy(self) -> bool:
        """Whether other processes wanted the cores meanwhile (load above the threads the check used): the timings,
        and so the choice, may not hold on the idle machine; the model manager can offer to re-run the check."""
        return max(self.load) > self.max_threads

    @property
    def precision(self) -> Precision:
        """The :class:`Precision` Engine.load runs (``int8/bf16`` names the mix the bench calls so)."""
        lm_name = "int8" if self.lm.startswith("int8") else self.lm
        same = {("fp32", "fp32"), ("bf16", "bf16"), ("int8w", "fp32"), ("int8", "fp32")}
        name = lm_name if (self.lm, self.flow) in same else f"{lm_name}/{self.flow}"
        return Precision(name, self.lm, torch.float32 if self.flow == "fp32" else torch.bfloat16)

    def cpu_plan(self, device: torch.device, decode_ahead: bool | None = None, flow_lanes: bool | None = None
                 ) -> CpuPlan:
        """The threading plan over the measured thread total (:class:`engine.cpu_threads.SentenceThreads` runs each
        sentence with it); an explicit ``decode_ahead``/``flow_lanes`` (Runtime) wins over the measured one."""
        return replace(plan_cpu_threads(device, self.precision,
                                        decode_ahead=self.decode_ahead if decode_ahead is None else decode_ahead,
                                        flow_lanes=self.flow_lanes if flow_lanes is None else flow_lanes,
                                        total=self.threads), measured=True)

    def describe(self) -> str:
        """One line for the model manager."""
        return (f"{self.precision.describe()}, {self.threads} thread{'s' if self.threads != 1 else ''}, LM ahead "
                f"{'on' if self.decode_ahead else 'off'}, lanes "
                f"{'on' if self.flow_lanes else 'off'}: predicted RTF {self.predicted_rtf:.2f}, first audio "
                f"{self.predicted_first_audio_s:.1f} s")

    def to_json(self) -> dict:
        d = asdict(self)
        d["key"] = dict(self.key)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "MachinePlan":
        """Raises KeyError/TypeError/ValueError on anything but what :meth:`to_json` wrote."""
        cands = tuple(Candidate(**c) for c in d["candidates"])
        plan = cls(str(d["lm"]), str(d["flow"]), bool(d["decode_ahead"]), bool(d["flow_lanes"]), int(d["threads"]),
                   int(d["max_threads"]), float(d["predicted_rtf"]), float(d["predicted_first_audio_s"]), cands,
                   Agreement(**d["agreement"]), float(d["check_s"]), str(d["measured_at"]),
                   tuple(sorted((str(k), str(v)) for k, v in dict(d["key"]).items())),
                   (float(d["load"][0]), float(d["load"][1])))
        if plan.lm not in ("fp32", "bf16", "int8w", "int8") or plan.flow not in ("fp32", "bf16"):
            raise ValueError(f"unknown precisions {plan.lm!r}/{plan.flow!r}")
        if not 1 <= plan.threads <= plan.max_threads:
            raise ValueError(f"thread total {plan.threads} outside 1..{plan.max_threads}")
        return plan


# --------------------------------------------------------------------------------------------------------------
# The key and the cache
# --------------------------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key(model_dir: str | Path, family: str, threads: int | None = None) -> tuple[tuple[str, str], ...]:
    """What a plan is valid for: this CPU, core and thread count (the process's, which the check may use; never
    the total it chose), torch, the model folder and family."""
    key = {"cpu": cpu_model(), "cores": str(os.cpu_count()), "threads": str(threads or PROCESS_THREADS),
           "torch": torch.__version__, "model": str(Path(model_dir).resolve()), "family": family,
           "check": str(CHECK_VERSION)}
    return tuple(sorted(key.items()))


def cache_path() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("Timbre", appauthor=False)) / "machine-check.json"


def _read_cache(path: Path) -> dict:
    """The cache's plans by key string; {} for a missing, unreadable or damaged file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    plans = data.get("plans") if isinstance(data, dict) and data.get("version") == CHECK_VERSION else None
    return plans if isinstance(plans, dict) else {}


def _key_text(key: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(key), sort_keys=True)


def cached_plan(model_dir: str | Path, family: str | None = None, *, threads: int | None = None,
                path: Path | None = None) -> MachinePlan | None:
    """The cached plan for this machine and model, or None (never measured, or the entry is damaged)."""
    from .config import model_family

    family = family or model_family(model_dir)
    key = machine_key(model_dir, family, threads)
    entry = _read_cache(path or cache_path()).get(_key_text(key))
    try:
        plan = MachinePlan.from_json(entry) if isinstance(entry, dict) else None
    except (KeyError, TypeError, ValueError):
        return None
    return plan if plan is not None and plan.key == key else None


def store_plan(plan: MachinePlan, path: Path | None = None) -> Path:
    """Add ``plan`` to the cache file (atomically; other entries kept, a damaged file replaced)."""
    path = path or cache_path()
    plans = _read_cache(path)
    plans[_key_text(plan.key)] = plan.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps({"version": CHECK_VERSION, "plans": plans}, indent=1))


# --------------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------------
def plan_from(m: Measurements | Sequence[Measurements], key: tuple[tuple[str, str], ...], check_s: float,
              agreement: Agreement = Agreement(), load: tuple[float, float] = (0.0, 0.0)) -> MachinePlan:
    """The :class:`MachinePlan` the measurements (one per thread total) choose (pure:
    :func:`engine.machine_choice.choose_plan`)."""
    every = (m,) if isinstance(m, Measurements) else tuple(m)
    winner, ranked = choose_plan(every, agreement)
    return MachinePlan(winner.lm, winner.flow, winner.decode_ahead, winner.flow_lanes, winner.threads,
                       max(x.total_threads for x in every), winner.predicted_rtf, winner.first_audio_s, ranked,
                       agreement, round(check_s, 2), time.strftime("%Y-%m-%dT%H:%M:%S%z"), key, load)


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0


def check_machine(model_dir: str | Path, *, threads: int | None = None, agreement: Agreement = Agreement(),
                  progress: Progress | None = None, cancel: CancelToken = NEVER_CANCELLED,
                  path: Path | None = None, lm_tokens: int = 24) -> MachinePlan:
    """Measure this machine on the CosyVoice 2 or 3 model in ``model_dir`` now, cache the plan and return it (CPU
    only). ``threads``: the most threads to plan for (default: the process's count); the check also tries fewer
    and the plan says which total won. The process's thread count is the same afterwards."""
    from .config import model_family
    from .families import load_networks

    t0, load = time.perf_counter(), load_average()
    family = model_family(model_dir)
    threads = threads or PROCESS_THREADS
    nets = load_networks(model_dir, "cpu")
    ms, _ = measure_networks(nets.lm, nets.flow, nets.hift, nets.config, threads=threads, lm_tokens=lm_tokens,
                             agreement=agreement, progress=progress, cancel=cancel)
    plan = plan_from(ms, machine_key(model_dir, family, threads), time.perf_counter() - t0, agreement,
                     (load, load_average()))
    store_plan(plan, path)
    return plan


def ensure_machine_plan(model_dir: str | Path, **kwargs) -> MachinePlan:
    """The cached plan, or :func:`check_machine` now (what the model manager calls on first use)."""
    plan = cached_plan(model_dir, threads=kwargs.get("threads"), path=kwargs.get("path"))
    return plan if plan is not None else check_machine(model_dir, **kwargs)


def measured_auto(model_dir: str | Path, device: torch.device, precision, *, threads: int | None = None
                  ) -> MachinePlan | None:
    """For :meth:`Engine.load`: the cached plan when ``precision`` is ``auto`` on the CPU, else None.
    ``threads``: the thread count the plan is keyed by (default: this thread's torch count)."""
    if device.type != "cpu" or precision_name(precision) != "auto":
        return None
    if os.environ.get(SWITCH_ENV, "").strip().lower() == "off":
        return None
    return cached_plan(model_dir, threads=threads)


__all__ = ["MachinePlan", "cache_path", "cached_plan", "check_machine", "ensure_machine_plan", "machine_key",
           "measured_auto", "plan_from", "store_plan"]
