"""``timbre download``: download (or resume, or check offline) the model folder."""
from __future__ import annotations

import sys
import time

from .common import bar


def register(sub) -> None:
    from ..hub import DEFAULT_REPO_ID

    d = sub.add_parser("download", help="download (or resume) the model")
    d.add_argument("--repo", default=DEFAULT_REPO_ID)
    d.add_argument("--dest", default=None, help="put the files in this folder")
    d.add_argument("--cache-dir", default=None, help="models folder (default: user data dir)")
    d.add_argument("--endpoint", default=None, help="hub URL (default: $HF_ENDPOINT or huggingface.co)")
    d.add_argument("--offline", action="store_true", help="only check what is already downloaded")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=run)


def run(args) -> int:
    from ..hub import DownloadProgress, download_model

    last = [0.0]

    def progress(p: DownloadProgress) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.2 and p.bytes_done < p.bytes_total:
            return
        last[0] = now
        mb, tot = p.bytes_done / 1e6, p.bytes_total / 1e6
        print(f"\r{bar(p.files_done, p.files_total)} files, {mb:.1f}/{tot:.1f} MB {p.current_file[:40]:<40}",
              end="", file=sys.stderr, flush=True)

    path = download_model(args.repo, local_dir=args.dest, cache_dir=args.cache_dir, endpoint=args.endpoint,
                          offline=args.offline, progress=None if args.quiet else progress)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"model ready in {path}")
    return 0
