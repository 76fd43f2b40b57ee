"""``timbre bench-machine``: the hardware check that decides what ``--precision auto`` runs on this CPU.

    timbre bench-machine --model DIR|REPO [--threads N] [--show] [--json]

Measures the model's (CosyVoice 2 or 3) LM, flow and vocoder in every precision, threading plan and thread
total (1 and all ``--threads``; half of them too on more than two) on a fixed input, checks the faster
precisions' agreement with fp32, prints every candidate's predicted real-time factor and caches the winner
(:mod:`engine.machine_check`); ``--show`` prints the cached plan without measuring.
"""
from __future__ import annotations

import json
import os
import sys

from .common import fail


def register(sub) -> None:
    from ..hub import DEFAULT_REPO_ID

    b = sub.add_parser("bench-machine", help="measure this CPU once so that --precision auto picks the fastest "
                                             "precision and threading that agree with fp32")
    b.add_argument("--model", default=os.environ.get("TIMBRE_MODEL", DEFAULT_REPO_ID),
                   help="model folder or Hugging Face repo id (default: $TIMBRE_MODEL or %(default)s)")
    b.add_argument("--offline", action="store_true", help="never use the network")
    b.add_argument("--threads", type=int, default=None, help="the most torch threads to plan for; fewer are measured too (default: torch's count)")
    b.add_argument("--show", action="store_true", help="print the cached plan; measure nothing")
    b.add_argument("--json", action="store_true", help="print the plan as JSON")
    b.set_defaults(func=run)


def run(args) -> int:
    from ..hub import resolve_model_dir
    from ..machine_check import cache_path, cached_plan, check_machine

    if args.threads is not None and args.threads < 1:
        return fail("--threads must be at least 1")
    model_dir = resolve_model_dir(args.model, offline=args.offline)
    if args.show:
        plan = cached_plan(model_dir, threads=args.threads)
        if plan is None:
            return fail(f"no hardware check is cached for {model_dir} on this machine; run "
                        "`timbre bench-machine` without --show")
    else:
        def progress(what: str, share: float) -> None:
            print(f"\r[{share:4.0%}] measuring {what:<40}", end="", file=sys.stderr, flush=True)

        plan = check_machine(model_dir, threads=args.threads, progress=progress)
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(plan.to_json(), indent=1))
        return 0
    print(f"auto on this machine: {plan.describe()}")
    print(f"(checked {plan.measured_at} in {plan.check_s:.0f} s; {plan.threads} of {plan.max_threads} threads; "
          f"cached in {cache_path()})")
    if plan.busy:
        print(f"warning: the machine was busy during the check (load average {plan.load[0]} -> {plan.load[1]} on "
              f"{plan.max_threads} threads); re-run `timbre bench-machine` when it is idle for a plan that holds then")
    a = plan.agreement
    print(f"candidates (a faster precision must agree with fp32 on >= {a.min_token_agreement:.0%} of LM tokens and "
          f"within {a.max_mel_error} log-mel; within {a.margin:.0%} of the fastest the more accurate wins):")
    for c in plan.candidates:
        print(f"  {c.describe()}")
    return 0
