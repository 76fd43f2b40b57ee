"""``timbre voices``: add (from a recording), list, remove, rename, export and import saved voices."""
from __future__ import annotations

from pathlib import Path

from ..config import FAMILY_NAMES
from ..errors import TimbreError
from .common import add_model_options, add_voices_dir_option, load_engine, voice_library


def register(sub) -> None:
    v = sub.add_parser("voices", help="manage saved voices")
    vs = v.add_subparsers(dest="action", required=True)
    va = vs.add_parser("add", help="make a voice from a recording and save it")
    va.add_argument("name")
    va.add_argument("--prompt", required=True)
    va.add_argument("--transcript", default="")
    va.add_argument("--language", default="")
    va.add_argument("--overwrite", action="store_true")
    add_model_options(va)
    add_voices_dir_option(va)
    for name, extra in (("list", ()), ("remove", ("name",)), ("rename", ("name", "new_name")),
                        ("export", ("name", "file"))):
        sp = vs.add_parser(name)
        for a in extra:
            sp.add_argument(a)
        add_voices_dir_option(sp)
    vi = vs.add_parser("import")
    vi.add_argument("file")
    vi.add_argument("--name", default=None)
    vi.add_argument("--overwrite", action="store_true")
    add_voices_dir_option(vi)
    v.set_defaults(func=run)


def run(args) -> int:
    lib = voice_library(args)
    if args.action == "list":
        infos = lib.list()
        if not infos:
            print(f"no voices in {lib.root}")
        for i in infos:
            lang = f" [{i.language}]" if i.language else ""
            family = FAMILY_NAMES.get(i.family, i.family)
            print(f"{i.name}{lang}  {family}  {i.duration_s:.1f} s  {i.created}  {i.transcript[:60]!r}")
        return 0
    if args.action == "add":
        if not Path(args.prompt).is_file():
            raise TimbreError(f"Prompt recording {args.prompt} does not exist.")
        if args.name in lib and not args.overwrite:
            raise TimbreError(f"A voice named {args.name!r} already exists; use --overwrite or another name.")
        engine = load_engine(args)
        voice = engine.make_voice(args.prompt, args.transcript or "", name=args.name, language=args.language or "")
        info = lib.save(voice, overwrite=args.overwrite)
        print(f"added voice {info.name!r} ({info.duration_s:.1f} s prompt, for {engine.family_name})")
        return 0
    if args.action == "remove":
        lib.delete(args.name)
        print(f"removed voice {args.name!r}")
        return 0
    if args.action == "rename":
        info = lib.rename(args.name, args.new_name)
        print(f"renamed to {info.name!r}")
        return 0
    if args.action == "export":
        path = lib.export(args.name, args.file)
        print(f"exported {args.name!r} to {path}")
        return 0
    if args.action == "import":
        info = lib.import_file(args.file, name=args.name, overwrite=args.overwrite)
        print(f"imported voice {info.name!r}")
        return 0
    raise TimbreError(f"Unknown voices action {args.action!r}.")
