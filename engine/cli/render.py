"""``timbre render``: a narration script with a cast, line by line, to an audio file (engine.project, engine.export).

    timbre render book.md -o book.m4b --cast Narrator=Me --cast Ann=Ann --split chapter --master acx
    timbre render --project book.timbre -o book.m4b --resume        # after an interruption

Every take is kept as it is made: in the project's autosave (crash-safe, see engine.project.autosave) and, with
``--project``, in the project file at the end. ``--resume`` makes only the lines that have no current take
(an interrupted render's takes are current), so a killed render goes on where it stopped. Without
``--project`` the takes live in an autosave named after the output file until the export is written.
``--cluster ADDRESS`` makes the lines on a Ray cluster instead (engine.cluster); the takes come back here.
"""
from __future__ import annotations

import contextlib
import hashlib
import sys
import time
from pathlib import Path

from ..checks.best_of import check_takes
from ..errors import ClusterError, TimbreError
from ..export.cli_options import OUT_HELP, add_export_options, check_export_args, export_from_args
from ..rng import check_seed
from .common import (add_model_options, add_voices_dir_option, bar, check_output_path, engine_options, load_engine,
                     voice_library, warn)


def register(sub) -> None:
    s = sub.add_parser("render", help="render a narration script (cast, directions, pauses) to an audio file")
    s.add_argument("script", nargs="?", help="UTF-8 script file (see README: Narration projects); "
                                             "default: the --project's script")
    s.add_argument("-o", "--out", required=True, help=OUT_HELP)
    s.add_argument("--cast", action="append", default=[], metavar="NAME=VOICE",
                   help="speak NAME's lines in the saved voice VOICE (repeat for each; Narrator for unnamed lines)")
    s.add_argument("--project", type=Path, help="a .timbre project to render from and keep the takes in "
                                                "(made if missing)")
    s.add_argument("--resume", action="store_true",
                   help="make only the lines without a current take (continue an interrupted render)")
    add_model_options(s)
    add_voices_dir_option(s)
    s.add_argument("--seed", type=int, default=0, help="seed of every line's take (default %(default)s)")
    s.add_argument("--speed", type=float, default=1.0)
    s.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    s.add_argument("--best-of", type=int, default=1, metavar="N",
                   help="per line, up to N takes with new seeds until one passes the take checks (engine.checks); "
                        "every take is kept in the project, the one chosen is the first that passed or the best")
    s.add_argument("--cluster", metavar="ADDRESS", help="make the lines on the Ray cluster whose head is at ADDRESS "
                   "(HOST:PORT, or auto: the cluster this machine is in); needs timbre[cluster], see README")
    s.add_argument("--workers-per-node", type=int, metavar="N",
                   help="with --cluster: engines per machine, sharing its CPUs equally (default 1)")
    add_export_options(s)
    s.set_defaults(func=run)


def parse_cast(items: list[str]) -> list[tuple[str, str]]:
    """``["Ann=Voice A", ...]`` -> ``[("Ann", "Voice A"), ...]`` (TimbreError for a malformed item)."""
    out = []
    for item in items:
        name, sep, voice = item.partition("=")
        if not sep or not name.strip() or not voice.strip():
            raise TimbreError(f"--cast {item!r}: write NAME=VOICE, e.g. --cast Ann=MyVoice.")
        out.append((name.strip(), voice.strip()))
    return out


def open_project(args):
    """The project to render: the --project file (or a new one), or one named after -o; with whatever an
    interrupted render left in its autosave folded in. Returns (project, takes recovered)."""
    from ..project import Project, find_autosave

    if args.project is not None and args.project.exists():
        project = Project.open(args.project)
    else:
        implicit = hashlib.sha256(str(Path(args.out).expanduser().resolve()).encode()).hexdigest()[:16]
        project = Project.new(project_id=None if args.project else implicit)
    left = find_autosave(project.id)
    if left is not None:
        project.close()
        project = Project.recover(left)
    if args.project is not None:
        project.path = args.project
    return project, left.n_takes if left else 0


def _script_text(args) -> str | None:
    if args.script is None:
        return None
    try:
        return Path(args.script).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TimbreError(f"Cannot read the script {args.script}: {getattr(e, 'strerror', None) or e}.") from e


def prepare(args, project) -> None:
    """Script and cast from the command line into the project; typed errors for a script that cannot render."""
    from ..pronunciation import load_global_pronunciations

    text = _script_text(args)
    if text is None and not project.script_text.strip():
        raise TimbreError("Which script? Give a script file, or a --project that has one.")
    if text is not None:
        project.set_script(text)
    library = voice_library(args) if args.cast else None
    for name, voice in parse_cast(args.cast):
        project.set_cast(name, library.load(voice))
    project.global_pronunciations = load_global_pronunciations()
    project.script.check()


def run(args) -> int:
    from ..export.cli_options import settings_from_args
    from ..project import export_settings_to_json

    check_output_path(args.out)
    check_export_args(args)
    check_seed(args.seed)
    check_takes(args.best_of)
    if args.best_of > 1 and args.cluster is not None:
        raise TimbreError("--best-of checks takes on this machine; render with --cluster or with --best-of, not both.")
    check_cluster_args(args)
    project, recovered = open_project(args)
    try:
        prepare(args, project)
        if args.project is not None and project.modified:
            project.save()  # the file exists from the start, so a resume finds its autosave by the project's id
        project.attach_autosave()
        jobs = project.jobs("pending" if args.resume else "all", seed=args.seed, speed=args.speed)
        if recovered and not args.resume:
            warn(f"an interrupted render left {recovered} takes; they are kept, and --resume continues from them")
        wall, warnings = render_jobs(args, project, jobs)
        project.set_export(export_settings_to_json(settings_from_args(args)))
        result = export_from_args(args, project.timeline())
        if args.project is not None:
            project.save()
        else:
            project.discard_autosave()
    except KeyboardInterrupt:
        project.autosave()
        warn("interrupted; the takes made so far are kept: run the same command with --resume to go on")
        raise
    finally:
        project.close()
    for w in warnings:
        warn(w)
    made = f"{len(jobs)} of {len(project.rows())} lines made" if args.resume else f"{len(jobs)} lines made"
    print(f"wrote {result.summary()} ({result.duration_s:.2f} s audio) | {made} in {wall:.2f} s")
    return 0


def render_jobs(args, project, jobs) -> tuple[float, list[str]]:
    """Make a take for each job, keeping each one in the project (and its autosave) as soon as it is made."""
    t0 = time.perf_counter()
    if not jobs:
        return 0.0, []
    show_bar = sys.stderr.isatty() or args.progress
    warnings = []
    lines = cluster_takes(args, jobs) if args.cluster is not None else local_takes(args, jobs)
    with contextlib.closing(lines):  # a cluster's workers stop as soon as the loop ends, however it ends
        for n, (takes, chosen) in enumerate(lines, start=1):
            for k, take in enumerate(takes):
                project.add_take(take, choose=k == chosen)
            project.autosave()
            if takes[chosen].info.watchdog:
                warnings.append(f"line {takes[chosen].info.text[:30]!r}: {takes[chosen].info.watchdog}")
            if show_bar:
                print("\r" + bar(n, len(jobs)), end="", file=sys.stderr, flush=True)
    if show_bar:
        print(file=sys.stderr)
    return time.perf_counter() - t0, warnings


def local_takes(args, jobs):
    """Per job in order, (its takes, index of the chosen one), made by one engine in this process: one take, or
    with --best-of up to N checked takes (engine.project.best_of_line)."""
    from ..project import best_of_line, synthesize_line

    engine = load_engine(args)
    if args.best_of == 1:
        for job in jobs:
            yield (synthesize_line(engine, job),), 0
        return
    from ..checks import TakeChecker

    checker = TakeChecker(model_dir=engine.model_dir)
    for job in jobs:
        takes, chosen = best_of_line(engine, job, args.best_of, checker)
        passed = "passed" if (takes[chosen].info.checks or {}).get("verdict") != "fail" else "none passed, the best kept"
        print(f"\rtimbre: line {job.text[:30]!r}: take {chosen + 1} of {len(takes)} ({passed})", file=sys.stderr)
        yield takes, chosen


def check_cluster_args(args) -> None:
    """With --cluster: Ray present (else how to install it), a head answering at the address and a sensible
    --workers-per-node, all before the project is touched."""
    if args.cluster is None:
        if args.workers_per_node is not None:
            raise TimbreError("--workers-per-node is for --cluster: give the cluster's address too.")
        return
    if args.workers_per_node is not None and args.workers_per_node < 1:
        raise TimbreError(f"--workers-per-node {args.workers_per_node}: give at least 1.")
    try:
        from ..cluster import check_reachable, require_ray
    except ModuleNotFoundError as e:  # the standalone app is built without engine.cluster (packaging/timbre.spec)
        if e.name != "engine.cluster":
            raise
        raise ClusterError('This Timbre build has no --cluster: install Timbre with pip, pip install '
                           '"timbre[cluster]", to render on a cluster.') from e
    require_ray()
    check_reachable(args.cluster)


def cluster_takes(args, jobs):
    """Per job, in the order they finish on the --cluster (engine.cluster), its one take (chosen)."""
    from ..cluster import cluster_takes as on_cluster

    takes = on_cluster(args.cluster, engine_options(args), jobs, per_node=args.workers_per_node or 1)
    try:
        for take in takes:
            yield (take,), 0
    finally:
        takes.close()
