"""What one synthesis request does differently per model family, in one object an engine builds once.

:class:`~engine.engine.SynthesisTask` runs the same loop for CosyVoice 2 and 3 (sentences, frontend, LM,
watchdog, token2wav, seams, cancellation, seeds); the few steps that differ are asked of a
:class:`SynthesisFamily` (as whisper's ``DecodingTask`` asks its logit filters and decoder), never of the
family's name:

===================  ====================================  ==============================================
step                 CosyVoice 2                           CosyVoice 3
===================  ====================================  ==============================================
instruction          normalised + ``<|endofprompt|>``      normalised, then the frontend's system prompt
                                                           ``You are a helpful assistant. ...<|endofprompt|>``
transcript / text    as typed (normalised)                 the frontend adds the mandatory system prompt
LM tokens -> flow    every token                           runs of > 5 silent tokens cut (official llm_job)
vocoder noise        drawn from the request's HiFT stream  none (CausalHiFT's fixed buffers)
token2wav            :class:`engine.token2wav.Token2Wav`   :class:`engine.token2wav_cv3.Token2Wav3`
pronunciation tags   no                                    pinyin and CMU phoneme tokens
===================  ====================================  ==============================================

A family object holds no request state: what a request draws (its noise) is made per request by
:meth:`SynthesisFamily.vocoder_noise` and owned by the task.
"""
from __future__ import annotations

from typing import Iterator

from .config import COSYVOICE2, COSYVOICE3, FAMILY_NAMES
from .errors import ConfigError
from .frontend.tokenizer import END_OF_PROMPT
from .rng import PortableRandom, Stream
from .token2wav import FlowPrompt, PromptStates, StageClock, StreamPlan, Token2Wav
from .vocoder.source import DrawnNoise, Excitation
from .watchdog import WatchedTokens


class SynthesisFamily:
    """CosyVoice 2's way; :class:`CosyVoice3Synthesis` overrides what CosyVoice 3 does otherwise."""

    family = COSYVOICE2
    phoneme_markup = False  # pinyin / CMU phoneme tokens in the text (the tokenizer's pronunciation specials)

    @property
    def name(self) -> str:
        """The family as people read it (``CosyVoice 2``)."""
        return FAMILY_NAMES[self.family]

    def instruction_prompt(self, text_frontend, instruction: str) -> str:
        """The prompt text of instruct mode from what the user typed."""
        return text_frontend.normalize(instruction.replace(END_OF_PROMPT, "").strip()) + END_OF_PROMPT

    def flow_tokens(self, watched: WatchedTokens) -> Iterator[int]:
        """What the flow gets of the LM's tokens, as an iterator whose ``close`` stops the LM."""
        return watched

    def vocoder_noise(self, seed: int) -> Excitation | None:
        """One request's vocoder randomness (its portable HiFT stream, shared by its sentences)."""
        return DrawnNoise(PortableRandom(seed, Stream.HIFT_NOISE))

    def token2wav(self, flow, hift, plan: StreamPlan, prompt: FlowPrompt, *, noise: Excitation | None,
                  speed: float, stop, clock: StageClock, prompt_states: PromptStates | None) -> Token2Wav:
        """One sentence's flow + vocoder calls."""
        return Token2Wav(flow, hift, plan, prompt, noise=noise, speed=speed, stop=stop, clock=clock,
                         prompt_states=prompt_states)


class CosyVoice3Synthesis(SynthesisFamily):
    family = COSYVOICE3
    phoneme_markup = True

    def instruction_prompt(self, text_frontend, instruction: str) -> str:
        """The normalised instruction; the CosyVoice 3 frontend wraps it in the system prompt. An instruction
        already written the official way (with ``<|endofprompt|>``) is passed through as typed."""
        if END_OF_PROMPT in instruction:
            return instruction.strip()
        return text_frontend.normalize(instruction.strip())

    def flow_tokens(self, watched: WatchedTokens) -> Iterator[int]:
        return SilenceCut(watched)

    def vocoder_noise(self, seed: int) -> Excitation | None:
        return None

    def token2wav(self, flow, hift, plan: StreamPlan, prompt: FlowPrompt, *, noise: Excitation | None,
                  speed: float, stop, clock: StageClock, prompt_states: PromptStates | None) -> Token2Wav:
        from .token2wav_cv3 import Token2Wav3

        return Token2Wav3(flow, hift, plan, prompt, speed=speed, stop=stop, clock=clock,
                          prompt_states=prompt_states)


class SilenceCut:
    """``watched`` without the silent tokens past a run of 5 (:func:`~engine.llm.cosyvoice3_lm.drop_long_silences`);
    closing it closes ``watched`` (which stops the LM), also when the LM decodes ahead on a worker thread."""

    def __init__(self, watched: WatchedTokens):
        from .llm.cosyvoice3_lm import drop_long_silences

        self._watched = watched
        self._it = drop_long_silences(watched)

    def __iter__(self) -> "SilenceCut":
        return self

    def __next__(self) -> int:
        return next(self._it)

    def close(self) -> None:
        self._it.close()
        self._watched.close()


_FAMILIES = {f.family: f for f in (SynthesisFamily(), CosyVoice3Synthesis())}


def synthesis_family(family: str) -> SynthesisFamily:
    """The strategy of ``family`` (:data:`engine.config.COSYVOICE2` or :data:`~engine.config.COSYVOICE3`)."""
    try:
        return _FAMILIES[family]
    except KeyError:
        raise ConfigError(f"Unknown model family {family!r}; Timbre speaks with {', '.join(FAMILY_NAMES.values())}.") \
            from None


__all__ = ["CosyVoice3Synthesis", "SilenceCut", "SynthesisFamily", "synthesis_family"]
