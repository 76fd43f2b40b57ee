"""What a voice may be called, when two names are the same voice, and the folder a name is stored in.

- One name, one spelling: names are stored in Unicode NFC, and compared caselessly after canonical folding
  (``é`` typed as one code point or as ``e`` + combining accent is the same voice; so are ``Ada`` and ``ADA``).
- Refused: control characters, bidirectional controls (they make a name display as something else, e.g.
  ``voice‮gpj.exe``), names Windows reserves for devices (``CON``, ``NUL``, ``COM1``, ... also with an
  extension: Windows cannot open a folder called ``con`` or ``con.voice``), and names longer than
  :data:`MAX_NAME_BYTES` bytes of UTF-8 (file systems limit bytes, not characters: 80 CJK characters are 240
  bytes).
- The folder name (slug) is a portable spelling of the name, cut to :data:`MAX_SLUG_BYTES` bytes; the real
  name stays in the voice's JSON, so two names may share a slug ("Race A", "Race_A": the second gets "-2").
"""
from __future__ import annotations

import re
import unicodedata

from .errors import VoiceLibraryError

MAX_NAME_BYTES = 200
MAX_SLUG_BYTES = 120  # + "-NNN" stays far below NAME_MAX (255 bytes on ext4, APFS, NTFS)
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"}
)


def check_name(name: object) -> str:
    """The name as stored (stripped, NFC), or :class:`VoiceLibraryError` saying what to change."""
    if not isinstance(name, str) or not name.strip():
        raise VoiceLibraryError("A voice needs a name. Type a name for it.")
    name = unicodedata.normalize("NFC", name.strip())
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise VoiceLibraryError(f"That voice name is too long ({len(name.encode('utf-8'))} bytes of UTF-8; at most "
                                f"{MAX_NAME_BYTES}, about {MAX_NAME_BYTES} Latin or {MAX_NAME_BYTES // 3} CJK "
                                "characters). Pick a shorter name.")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise VoiceLibraryError("A voice name cannot contain control characters (tabs, line breaks, ...).")
    if any(c in _BIDI_CONTROLS for c in name):
        raise VoiceLibraryError("A voice name cannot contain invisible text-direction characters. Retype the name.")
    stem = name.split(".")[0].rstrip(" ").upper()
    if stem in _WINDOWS_RESERVED:
        raise VoiceLibraryError(f"{name!r} is a name Windows reserves for a device; pick another name.")
    return name


def name_key(name: str) -> str:
    """What two names must share to be the same voice (canonical caseless matching, Unicode 3.13 D145)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", name.strip()).casefold())


def slug(name: str) -> str:
    """A portable folder name for a voice name."""
    s = unicodedata.normalize("NFKC", name).strip()
    s = re.sub(r"[^\w.-]+", "_", s, flags=re.UNICODE).strip("._") or "voice"
    while len(s.encode("utf-8")) > MAX_SLUG_BYTES:
        s = s[:-1]
    if s.split(".")[0].upper() in _WINDOWS_RESERVED:  # e.g. "Con!" -> "Con"
        s = f"voice_{s}"
    return s
