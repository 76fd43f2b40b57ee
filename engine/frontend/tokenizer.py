"""The CosyVoice 2 text tokenizer: Qwen2 byte-level BPE plus CosyVoice's special tokens.

The official code loads ``CosyVoice-BlankEN`` with ``transformers.AutoTokenizer`` (which converts
``vocab.json`` + ``merges.txt`` into a fast Qwen2 tokenizer) and then calls ``add_special_tokens``
with ``<|endoftext|>`` and 19 CosyVoice tags. We rebuild the same tokenizer with the ``tokenizers``
library alone, piece by piece, so the app does not need ``transformers``:

* model: byte-level BPE from ``vocab.json`` / ``merges.txt`` (no unk token, no dropout). The
  official ``merges.txt`` deliberately lacks most multi-character Chinese merges, so Chinese is
  tokenised per character; reading the folder's own files (never a stock Qwen2 ``tokenizer.json``)
  keeps that.
* normaliser NFC, then the Qwen2 split regex, then the byte-to-unicode mapping.
* added tokens: those in ``tokenizer_config.json``'s ``added_tokens_decoder`` at their declared ids,
  then the CosyVoice list in its official order. ``tokenizers`` gives each new token the next free
  id, exactly like ``transformers``' ``add_special_tokens``; we check the declared ids came out right.

Special tokens match anywhere in the text (not normalised, no strip) and are never split.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE

from ..errors import ModelFolderError, TextInputError

# Qwen2's pre-tokenisation pattern (contractions, letter runs with one leading non-letter, single
# digits, punctuation runs, newlines, other whitespace). Single digits are why "2024" is 4 tokens.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

EOS_TOKEN = "<|endoftext|>"

# CosyVoice2Tokenizer's additional_special_tokens, in the official order (the order fixes the ids).
COSYVOICE2_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|im_start|>", "<|im_end|>", "<|endofprompt|>",
    "[breath]", "<strong>", "</strong>", "[noise]",
    "[laughter]", "[cough]", "[clucking]", "[accent]",
    "[quick_breath]",
    "<laughter>", "</laughter>",
    "[hissing]", "[sigh]", "[vocalized-noise]",
    "[lipsmack]", "[mn]",
)

# The instruction/prompt separator used by CosyVoice 2's instruct mode.
END_OF_PROMPT = "<|endofprompt|>"


@dataclass(frozen=True)
class FineGrainedTag:
    """A paralinguistic tag the app offers. ``close`` is set for tags that wrap a selection."""

    token: str
    label: str
    close: str | None = None

    @property
    def wraps_selection(self) -> bool:
        return self.close is not None


# The tags the app's text editor offers (all are single special tokens the LM was trained with).
FINE_GRAINED_TAGS: tuple[FineGrainedTag, ...] = (
    FineGrainedTag("[breath]", "Breath"),
    FineGrainedTag("[laughter]", "Laugh"),
    FineGrainedTag("<strong>", "Emphasis", "</strong>"),
    FineGrainedTag("<laughter>", "Laughing while speaking", "</laughter>"),
    FineGrainedTag("[noise]", "Noise"),
    FineGrainedTag("[cough]", "Cough"),
    FineGrainedTag("[clucking]", "Tongue click"),
    FineGrainedTag("[accent]", "Accent"),
    FineGrainedTag("[quick_breath]", "Quick breath"),
    FineGrainedTag("[hissing]", "Hiss"),
    FineGrainedTag("[sigh]", "Sigh"),
    FineGrainedTag("[vocalized-noise]", "Vocal noise"),
    FineGrainedTag("[lipsmack]", "Lip smack"),
    FineGrainedTag("[mn]", "Hum (mn)"),
)

_REQUIRED_FILES = ("vocab.json", "merges.txt")


class TextTokenizer:
    """Qwen2 BPE + CosyVoice 2 specials. Build it with :func:`load_tokenizer`."""

    def __init__(self, tokenizer: Tokenizer, special_ids: dict[str, int], folder: Path):
        self._tok = tokenizer
        self.special_ids: dict[str, int] = dict(special_ids)
        self.folder = folder
        self._size = tokenizer.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self._size

    @property
    def eos_id(self) -> int:
        return self.special_ids[EOS_TOKEN]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no BOS/EOS added), like ``CosyVoice2Tokenizer.encode``."""
        if not isinstance(text, str):
            raise TextInputError(f"Text to tokenize must be a string, not {type(text).__name__}.")
        try:
            return self._tok.encode(text, add_special_tokens=False).ids
        except Exception as e:  # the Rust side rejects strings Python can hold but UTF-8 cannot
            raise TextInputError(
                f"The text cannot be tokenized ({type(e).__name__}: {e}); remove unusual characters "
                "such as unpaired surrogates and try again."
            ) from e

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` with special tokens skipped (the official ``skip_special_tokens=True``)."""
        return self._tok.decode(self._checked_ids(ids), skip_special_tokens=True)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        """Byte-level token strings (e.g. ``"Ġworld"``) of ``ids``."""
        return [self._tok.id_to_token(i) for i in self._checked_ids(ids)]

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    def _checked_ids(self, ids: list[int]) -> list[int]:
        out = [int(i) for i in ids]
        for i in out:
            if not 0 <= i < self._size:
                raise TextInputError(f"Token id {i} is outside this tokenizer's range 0..{self._size - 1}.")
        return out


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFolderError(f"{path} cannot be read as JSON ({e}); re-download the model.") from e
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path} should hold a JSON object; re-download the model.")
    return data


def _declared_added_tokens(folder: Path) -> list[tuple[int, str]]:
    """``(id, content)`` of tokenizer_config.json's added_tokens_decoder, sorted by id (may be empty)."""
    cfg_path = folder / "tokenizer_config.json"
    if not cfg_path.is_file():
        return []
    decoder = _read_json(cfg_path).get("added_tokens_decoder", {}) or {}
    try:
        declared = sorted((int(k), str(v["content"])) for k, v in decoder.items())
    except (TypeError, ValueError, KeyError) as e:
        raise ModelFolderError(f"{cfg_path} has a malformed added_tokens_decoder ({e}); re-download the model.") from e
    return declared


def load_tokenizer(folder: str | Path, specials: Sequence[str] = COSYVOICE2_SPECIAL_TOKENS) -> TextTokenizer:
    """Build the CosyVoice tokenizer from a ``CosyVoice-BlankEN``-style folder.

    ``folder`` holds ``vocab.json`` and ``merges.txt`` (and usually ``tokenizer_config.json``).
    ``specials``: the model family's additional special tokens in their official order (CosyVoice 2's by
    default; CosyVoice 3's are :data:`engine.frontend.cosyvoice3_tokens.COSYVOICE3_SPECIAL_TOKENS`).
    Raises :class:`ModelFolderError` when files are missing or corrupt.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"Tokenizer folder {folder} does not exist; check the model folder.")
    missing = [n for n in _REQUIRED_FILES if not (folder / n).is_file()]
    if missing:
        raise ModelFolderError(f"Tokenizer folder {folder} lacks {', '.join(missing)}; re-download the model.")
    vocab = _read_json(folder / "vocab.json")  # validated here so a corrupt file gets a clear message
    try:
        model = BPE.from_file(
            str(folder / "vocab.json"), str(folder / "merges.txt"),
            dropout=None, unk_token=None, continuing_subword_prefix="", end_of_word_suffix="",
            fuse_unk=False, byte_fallback=False,
        )
    except Exception as e:  # tokenizers raises plain Exception for malformed merges
        raise ModelFolderError(f"{folder} has unreadable vocab.json/merges.txt ({e}); re-download the model.") from e

    tok = Tokenizer(model)
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)

    def add(content: str) -> int:
        tok.add_special_tokens([AddedToken(content, special=True, normalized=False,
                                           lstrip=False, rstrip=False, single_word=False)])
        return tok.token_to_id(content)

    # The declared added tokens must land on their declared ids; they do when they follow the
    # vocabulary without gaps, which is how every Qwen2 folder is laid out.
    for want_id, content in _declared_added_tokens(folder):
        got = add(content)
        if got != want_id:
            raise ModelFolderError(
                f"{folder / 'tokenizer_config.json'} declares {content!r} as id {want_id}, but it would get "
                f"id {got} after a vocabulary of {len(vocab)} entries; the tokenizer files do not belong together."
            )
    special_ids = {EOS_TOKEN: add(EOS_TOKEN)}
    for content in specials:
        special_ids[content] = add(content)
    return TextTokenizer(tok, special_ids, folder)
