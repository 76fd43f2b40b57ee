"""Lines keep their identity (and so their takes) when the script is edited.

A script is re-parsed after every edit; its lines are matched to the project's line records in order
(``difflib``'s longest matching runs over the lines' keys): an unchanged line keeps its id, and so does an
edited one that stands where it stood and still reads mostly the same (its takes are kept and become stale,
since they say the old text). Lines that left the script are retired with their takes, so that undoing a
deletion (or pasting the line back) finds them again by their exact key.
"""
from __future__ import annotations

import difflib
from typing import Sequence

from .model import LineRecord, new_id

Key = tuple[str, str, str]
EDITED_SIMILARITY = 0.6  # difflib ratio of the old and new text above which an edited line is the same line


def _similar(a: Key, b: Key) -> bool:
    return a[0] == b[0] and difflib.SequenceMatcher(None, a[2], b[2], autojunk=False).ratio() >= EDITED_SIMILARITY


def match_lines(current: Sequence[LineRecord], retired: Sequence[LineRecord],
                keys: Sequence[Key]) -> tuple[list[LineRecord], list[LineRecord]]:
    """(records for ``keys`` in order, the retired records after the edit). Records keep their takes; a matched
    record's key becomes the new one."""
    out: list[LineRecord | None] = [None] * len(keys)
    used: set[int] = set()
    old_keys = [r.key for r in current]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old_keys, list(keys), autojunk=False).get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                out[j] = current[i]
                used.add(i)
        elif tag == "replace":
            for j in range(j1, j2):
                for i in range(i1, i2):
                    if i not in used and _similar(old_keys[i], keys[j]):
                        out[j] = current[i]
                        used.add(i)
                        break
    pool = [r for i, r in enumerate(current) if i not in used] + list(retired)
    for j, key in enumerate(keys):
        if out[j] is None:
            k = next((n for n, r in enumerate(pool) if r.key == key), None)
            out[j] = pool.pop(k) if k is not None else LineRecord(new_id(), key)
    records = [LineRecord(r.id, key, r.takes, r.chosen) for r, key in zip(out, keys)]  # type: ignore[union-attr]
    return records, [r for r in pool if r.takes]
