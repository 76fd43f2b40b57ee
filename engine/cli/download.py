"""``timbre download``: download (or resume, or check offline, or verify) the model folder."""
from __future__ import annotations

import sys
import time

from .common import bar


def register(sub) -> None:
    from ..hub import DEFAULT_REPO_ID

    d = sub.add_parser("download", help="download (or resume, or verify) the model")
    d.add_argument("--repo", default=DEFAULT_REPO_ID)
    d.add_argument("--dest", default=None, help="put the files in this folder")
    d.add_argument("--cache-dir", default=None, help="models folder (default: user data dir)")
    d.add_argument("--endpoint", default=None, help="hub URL (default: $HF_ENDPOINT or huggingface.co)")
    d.add_argument("--offline", action="store_true", help="only check what is already downloaded")
    d.add_argument("--verify", action="store_true",
                   help="re-hash every file of the downloaded model against its download checksums (no network)")
    d.add_argument("--wait", action="store_true",
                   help="if another download is writing to the folder, wait for it instead of stopping")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=run)


def _throttled(draw):
    """A progress callback that redraws at most 5 times a second (and always at the end)."""
    last = [0.0]

    def progress(done: int, total: int, *rest) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.2 and done < total:
            return
        last[0] = now
        draw(done, total, *rest)

    return progress


def run(args) -> int:
    from ..hub import download_model, model_dir_for

    if args.verify:
        return _verify(args.dest or model_dir_for(args.repo, args.cache_dir), args)

    def draw(done: int, total: int, files_done: int, files_total: int, current: str) -> None:
        print(f"\r{bar(files_done, files_total)} files, {done / 1e6:.1f}/{total / 1e6:.1f} MB {current[:40]:<40}",
              end="", file=sys.stderr, flush=True)

    progress = _throttled(draw)
    path = download_model(args.repo, local_dir=args.dest, cache_dir=args.cache_dir, endpoint=args.endpoint,
                          offline=args.offline, wait=args.wait,
                          progress=None if args.quiet else lambda p: progress(
                              p.bytes_done, p.bytes_total, p.files_done, p.files_total, p.current_file))
    if not args.quiet:
        print(file=sys.stderr)
    print(f"model ready in {path}")
    return 0


def _verify(folder, args) -> int:
    from ..hub import verify_model

    def draw(done: int, total: int) -> None:
        print(f"\rchecking {bar(done >> 20, total >> 20)} MB", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    report = verify_model(folder, wait=args.wait, progress=None if args.quiet else _throttled(draw))
    if not args.quiet and report.bytes_hashed:
        print(file=sys.stderr)
    if report.problems:
        from .common import fail

        return fail(" ".join(report.describe().split()))
    seconds = time.perf_counter() - t0
    print(f"{report.describe()} ({report.bytes_hashed / 1e6:.0f} MB hashed in {seconds:.1f} s; {folder})")
    return 0
