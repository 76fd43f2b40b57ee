"""contractions reads its tables from data files inside the package (pkgutil/importlib.resources)."""
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("contractions")
