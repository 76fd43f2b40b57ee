"""The CosyVoice 3 text-speech LM (``CosyVoice3LM``) and the silent-token filter of its model.

The same Qwen2 backbone, decode loop, bistream mixing and samplers as CosyVoice 2 (:class:`SpeechLM`); what
differs is where the special embeddings live and how many ids the head has:

    [ speech_embedding[sos] | text tokens (prompt text ++ text) | speech_embedding[task_id] | prompt speech ]

* no ``llm_embedding``: sos (6561), eos (6562), task_id (6563) and fill (6564) are rows of
  ``speech_embedding``, which, like ``llm_decoder`` (no bias), has ``speech_token_size + 200`` rows;
* every id from 6561 up stops decoding (the official ``stop_token_ids``);
* ``<|endofprompt|>`` must be somewhere in prompt text ++ text (the official code asserts id 151646): the
  system prompt is mandatory in every mode (see :mod:`engine.frontend.cosyvoice3_tokens`);
* bistream: the prompt text up to and including its first ``<|endofprompt|>`` is fed right after sos, the
  rest starts the text queue.

Official quirk kept (README section 14.1): before ``min_len`` the official sampling masks index
``speech_token_size`` - in CosyVoice 2 that was EOS, here it is sos, which the head never predicts anyway.
So min_len does not hold back EOS or the other stop ids: a CosyVoice 3 sentence may end early, as in the
official code. The engine's length limits (max_len, watchdog) are unchanged.

:func:`drop_long_silences` is ``CosyVoice3Model.llm_job``'s filter between the LM and the flow: after more
than 5 consecutive "silent" FSQ tokens, further silent tokens are dropped (the LM itself still saw them).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from torch import Tensor, nn

from ..config import LMConfig
from ..errors import ConfigError, TextInputError
from ..rng import RandomSource
from .sampling import Sampler
from .speech_lm import SPEECH, TEXT, Qwen2Encoder, Row, SpeechLM, TokenIds, _as_list

EXTRA_SPEECH_IDS = 200  # speech_embedding / llm_decoder rows past the speech tokens (hard-coded officially)
END_OF_PROMPT_ID = 151646  # <|endofprompt|> in the official vocabulary (hard-coded officially)
SILENT_TOKENS = frozenset((1, 2, 28, 29, 55, 248, 494, 2241, 2242, 2322, 2323))  # FSQ silence and breath
MAX_SILENT_RUN = 5


class CosyVoice3LM(SpeechLM):
    """Qwen2 backbone + ``speech_embedding`` / ``llm_decoder`` of ``speech_token_size + 200`` rows.

    Parameter names equal the official ``llm.pt`` keys. ``end_of_prompt_id`` is the tokenizer's
    ``<|endofprompt|>`` (151646 for the official vocabulary; a test model's tokenizer may number it otherwise).
    """

    def __init__(self, cfg: LMConfig, end_of_prompt_id: int = END_OF_PROMPT_ID):
        nn.Module.__init__(self)
        hidden = cfg.qwen.hidden_size
        if cfg.llm_input_size != hidden or cfg.llm_output_size != hidden:
            raise ConfigError(f"cosyvoice3.yaml: llm_input_size/llm_output_size ({cfg.llm_input_size}/"
                              f"{cfg.llm_output_size}) differ from the Qwen2 hidden size {hidden} in "
                              "CosyVoice-BlankEN/config.json. Re-download the model.")
        self.cfg = cfg
        n = cfg.speech_token_size
        self.llm = Qwen2Encoder(cfg)
        self.llm_decoder = nn.Linear(hidden, n + EXTRA_SPEECH_IDS, bias=False)
        self.speech_embedding = nn.Embedding(n + EXTRA_SPEECH_IDS, hidden)
        self.sos, self.eos_token, self.task_id, self.fill_token = n, n + 1, n + 2, n + 3
        self.stop_tokens = frozenset(range(n, n + EXTRA_SPEECH_IDS))
        self.sos_row: Row = (SPEECH, self.sos)
        self.task_row: Row = (SPEECH, self.task_id)
        self.masked_before_min_len = n  # the official index (sos here; see the module docstring)
        self.end_of_prompt_id = end_of_prompt_id

    def embedding_tables(self) -> tuple[Tensor | None, Tensor, Tensor]:
        return None, self.speech_embedding.weight, self.qwen.model.embed_tokens.weight

    def mask_before_min_len(self, scores: Tensor) -> Tensor:
        """What the official ``sampling_ids(ignore_eos=True)`` does to log-probabilities [V] (in place)."""
        scores[self.masked_before_min_len] = -float("inf")
        return scores

    def _choose(self, logits: Tensor, out_tokens: list[int], sampler: Sampler, rng: RandomSource,
                allow_eos: bool) -> int:
        if allow_eos:
            return super()._choose(logits, out_tokens, sampler, rng, True)

        def masked(scores: Tensor, decoded: Sequence[int], rng: RandomSource) -> int:
            return sampler(self.mask_before_min_len(scores), decoded, rng)

        return super()._choose(logits, out_tokens, masked, rng, True)

    def generate(self, text: TokenIds, prompt_text: TokenIds = (), prompt_speech: TokenIds = (),
                 **kwargs) -> Iterator[int]:
        """:meth:`SpeechLM.generate` after checking for ``<|endofprompt|>`` (raised here, not at the first token)."""
        self._require_end_of_prompt(_as_list(prompt_text) + _as_list(text))
        return super().generate(text, prompt_text, prompt_speech, **kwargs)

    def _bistream_start(self, prompt_text: list[int]) -> tuple[list[Row], list[int]]:
        self._require_end_of_prompt(prompt_text, "prompt text")
        eop = prompt_text.index(self.end_of_prompt_id) + 1
        return [self.sos_row] + [(TEXT, t) for t in prompt_text[:eop]], list(prompt_text[eop:])

    def _require_end_of_prompt(self, ids: list[int], where: str = "prompt text or text") -> None:
        if self.end_of_prompt_id not in ids:
            raise TextInputError(
                f"CosyVoice 3 needs <|endofprompt|> in the {where} (the system prompt "
                "'You are a helpful assistant.<|endofprompt|>' before the transcript, text or instruction).")


def drop_long_silences(tokens: Iterable[int], silent: frozenset[int] = SILENT_TOKENS,
                       max_run: int = MAX_SILENT_RUN) -> Iterator[int]:
    """``tokens`` without the silent ones that follow ``max_run`` silent tokens in a row (official ``llm_job``)."""
    run = 0
    for token in tokens:
        if token in silent:
            run += 1
            if run > max_run:
                continue
        else:
            run = 0
        yield token


__all__ = ["CosyVoice3LM", "END_OF_PROMPT_ID", "EXTRA_SPEECH_IDS", "MAX_SILENT_RUN", "SILENT_TOKENS",
           "drop_long_silences"]
