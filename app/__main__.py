"""``python -m app [FILE...]`` / ``timbre-app``: start the studio (the first file, if any, is opened: a ``.timbre``
project, or an audio file as the reference voice; that is how "Open with Timbre" in a file manager arrives), or
``--self-test`` to check a machine end to end."""
from __future__ import annotations

import argparse
import logging
import sys

from .settings import data_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="timbre-app", description="Timbre voice-cloning studio")
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="a .timbre project to open, or an audio file to import as the reference voice "
                             "(further files are ignored)")
    parser.add_argument("--self-test", action="store_true",
                        help="start the real window offscreen, make a tiny model, import a reference, save a "
                             "voice, stream a line to the default output, save and reopen the project, export "
                             "through the export dialog; exit 0 on success")
    parser.add_argument("--model", metavar="DIR", help="--self-test: use this model folder instead of a tiny one")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.self_test:
        from .selftest import run_self_test

        return run_self_test(args.model)
    try:
        data_dir().mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"timbre-app: cannot create the data folder {data_dir()}: {error}", file=sys.stderr)
        return 2
    from .application import run

    return run(files=args.files)


if __name__ == "__main__":
    sys.exit(main())
