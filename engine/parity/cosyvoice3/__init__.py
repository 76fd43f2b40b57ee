"""CosyVoice 3's parity stages (``python -m engine.parity DIR`` runs them for a CosyVoice 3 ``model/``).

Same layout and tolerance policy as CosyVoice 2's (:mod:`engine.parity`); the CosyVoice 2 modules' helpers are
reused wherever the computation is the same. Goldens are described in the fixture set's README.
"""
from __future__ import annotations

from ...config import QWEN_DIR


def load_tokenizer3(fx):
    """The CosyVoice 3 tokenizer of the fixture's ``model/`` (its tokenizer files are the real ones)."""
    from ...frontend.cosyvoice3_tokens import COSYVOICE3_SPECIAL_TOKENS
    from ...frontend.tokenizer import load_tokenizer

    return load_tokenizer(fx.model_dir / QWEN_DIR, COSYVOICE3_SPECIAL_TOKENS)
