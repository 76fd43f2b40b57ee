"""Optional packages of the checks (the ``checks`` extra), imported by name when a check first needs them.

Each check's model is optional: without its package that check says "not installed" and the others run.
Imports go through :func:`optional_module` rather than ``import`` statements, for two reasons: a missing
package becomes a :class:`~engine.errors.CheckModelMissing` naming the extra to install, and the app bundle's
import analysis (PyInstaller follows every ``import`` statement, also inside functions) does not pull
~300 MB of ASR/VAD/speaker/quality dependencies into the bundle through ``timbre check``.
"""
from __future__ import annotations

import importlib
import warnings

from ..errors import CheckModelMissing

INSTALL_HINT = "install the checks extra: pip install 'timbre[checks]'"

# module -> the PyPI package that provides it (for the message)
PACKAGES = {
    "silero_vad": "silero-vad",
    "pocketsphinx": "pocketsphinx",
    "jiwer": "jiwer",
    "resemblyzer": "resemblyzer",
    "speechmos.dnsmos": "speechmos (with librosa and requests)",
    "faster_whisper": "faster-whisper",
}


def optional_module(name: str):
    """Import ``name`` or raise :class:`CheckModelMissing` saying which package to install."""
    try:
        with warnings.catch_warnings():
            # webrtcvad (resemblyzer's VAD) imports pkg_resources, which warns that it is deprecated.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            # resemblyzer imports scipy.ndimage.morphology, which SciPy deprecated
            warnings.filterwarnings("ignore", message=".*scipy.ndimage.morphology", category=DeprecationWarning)
            return importlib.import_module(name)
    except ImportError as e:  # the package, or one of the undeclared dependencies it imports, is missing
        package = PACKAGES.get(name, name)
        raise CheckModelMissing(f"{package} is not installed ({e.name or e}); {INSTALL_HINT}.") from e
