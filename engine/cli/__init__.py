"""``timbre``: the command line of the engine, one module per command.

    timbre synth --model DIR|REPO --prompt me.wav --transcript "..." --text "Hello." -o out.wav
    timbre synth --model DIR --voice Me --text-file chapter.txt --mode cross_lingual -o out.wav
    timbre voices add Me --model DIR --prompt me.wav --transcript "..."   | list | remove | export | import
    timbre render script.md -o book.m4b --cast Narrator=Me --cast Ann=Ann [--project P.timbre] [--resume]
    timbre download [--repo ID] [--dest DIR] [--endpoint URL] [--offline]
    timbre master IN [-o OUT] [--preset acx|podcast|ebu-r128|none] [--json]   (loudness report, mastering)
    timbre serve --model DIR [--voices-dir D] [--host 127.0.0.1] [--port 8000]   (OpenAI audio API)
    timbre check take.wav --text "..." [--prompt me.wav | --voice Me --model DIR] [--json]   (take checks)

Every failure the user can fix is one line on stderr and exit status 1 (2 for usage errors). A command is a
module here with ``register(subparsers)``, which adds its parser and sets ``func``; :data:`COMMANDS` lists them
in the order ``timbre --help`` shows.
"""
from __future__ import annotations

import argparse

from ..errors import TimbreError
from . import check, download, master, render, serve, synth, voices
from .common import fail, write_wav

COMMANDS = (synth, render, check, master, voices, download, serve)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="timbre", description="Timbre voice cloning (CosyVoice 2) from the command line.")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return fail("interrupted")
    except TimbreError as e:
        return fail(" ".join(str(e).split()))  # one line, whatever the message held


__all__ = ["COMMANDS", "build_parser", "main", "write_wav"]
