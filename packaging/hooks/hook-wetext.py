"""wetext loads its text-normalisation FSTs (en/zh/ja, ~44 MB) from the wetext/fsts folder at import.

The folder has no __init__.py (importlib.resources resolves it as a namespace package), so the
analysis sees no module there and the .fst files must be collected as data. All of them: wetext
loads every language's FSTs when it is imported, not only the ones asked for.
"""
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("wetext", includes=["fsts/**/*.fst"])
