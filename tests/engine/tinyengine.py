"""Helpers for the engine tests that run the tiny engine (fixtures ``engine`` and ``voice`` in conftest.py).

The tiny random model never says EOS, so every sentence runs until the watchdog stops it; requests made by
:func:`request` use a tight watchdog (3 speech tokens per text token) to keep each run to a few dozen tokens.
"""
from __future__ import annotations

import numpy as np

from engine import Engine, SynthesisRequest, Watchdog

PROMPT_TEXT = "Hello there, this is a short prompt for voice cloning."
SHORT = Watchdog(max_tokens_per_text_token=3.0)
LONGER = Watchdog(max_tokens_per_text_token=5.0)  # enough tokens for a chunk call + the final call


def request(voice, text: str = "Tiny models talk.", **kw) -> SynthesisRequest:
    kw.setdefault("watchdog", SHORT)
    kw.setdefault("instruction", "Speak softly.")
    return SynthesisRequest(text, voice, **kw)


def run(engine: Engine, req: SynthesisRequest, **kw):
    """(chunks, all samples) of one request."""
    chunks = list(engine.synthesize(req, **kw))
    return chunks, np.concatenate([c.samples for c in chunks])
