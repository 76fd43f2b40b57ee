"""Entry point of the bundled Timbre (PyInstaller): the studio, or the engine's command line.

    Timbre                      the studio (same options as ``python -m app``, e.g. ``--self-test``)
    Timbre cli synth ...        the engine CLI (same as ``timbre`` / ``python -m engine``)

One executable serves both so the bundle holds torch and Qt once; a second EXE would need a
second (slow) analysis for no gain.
"""
from __future__ import annotations

import multiprocessing
import sys


def main(argv: list[str] | None = None) -> int:
    # A frozen program re-executes itself for multiprocessing children (torch may spawn them);
    # freeze_support turns those runs into workers instead of a second studio window.
    multiprocessing.freeze_support()
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["cli"]:
        from engine.cli import main as cli_main

        return cli_main(args[1:])
    from app.__main__ import main as app_main

    return app_main(args)


if __name__ == "__main__":
    sys.exit(main())
