"""Performed lines: the creator's own reading, re-voiced into a cast member's voice (voice conversion).

The official CosyVoice 2 VC path, with no LM: the recording's speech tokens (25 Hz, what was said and how -
timing, pauses, emphasis) go straight to the flow, which renders them in the voice's prompt (its tokens, mel
and speaker embedding), and HiFT makes the waveform. So the take is as long as the recording and keeps its
timing::

    recording ─► speech tokenizer ─► source tokens ─┐
    voice: prompt tokens + prompt mel + x-vector ───┴─► flow ─► HiFT ─► take (24 kHz)

It runs the engine's own objects (:meth:`Frontend.vc <engine.frontend.frontend.Frontend.vc>` for the inputs,
:class:`~engine.token2wav.Token2Wav` and :func:`~engine.token2wav.speak` for flow + HiFT, the engine's CPU
plan), as one non-streamed call: a recording is at most 30 s (the speech tokenizer's limit).
"""
from __future__ import annotations

import numpy as np
import torch

from .errors import NEVER_CANCELLED, AudioInputError, CancelToken
from .rng import PortableRandom, Stream, check_seed
from .voices import Voice


def convert_voice(engine, audio: np.ndarray, sample_rate: int, voice: Voice, *, seed: int = 0,
                  cancel: CancelToken = NEVER_CANCELLED) -> np.ndarray:
    """``audio`` (float [N] or [N, channels] at ``sample_rate``, at most 30 s) spoken in ``voice`` ->
    float32 [M] at the engine's rate, M = 2 * 480 samples per source token (the source's length).

    ``seed`` picks the flow noise and HiFT's excitation (portable streams, :mod:`engine.rng`). Raises
    AudioInputError for unusable audio, Cancelled within one flow or HiFT stage of ``cancel``."""
    from .cpu_threads import SentenceThreads
    from .frontend.frontend import PromptFeatures
    from .token2wav import FlowPrompt, Token2Wav, speak
    from .vocoder.source import DrawnNoise
    from .watchdog import Watchdog, WatchedTokens

    seed = check_seed(seed)
    if not isinstance(voice, Voice):
        raise AudioInputError("Converting a recording needs a voice to convert it into.")
    e = engine
    prompt = PromptFeatures(voice.speech_tokens.reshape(1, -1).to(torch.int32),
                            voice.speech_feat.reshape(1, -1, voice.speech_feat.shape[-1]).float(),
                            voice.embedding.reshape(1, -1).float()).trimmed(e.cfg.token_mel_ratio)
    inputs = e.frontend.vc(np.asarray(audio), int(sample_rate), prompt)
    source = [int(t) for t in inputs.source_speech_token.reshape(-1).tolist()]
    if not source:
        raise AudioInputError("The recording holds no speech the speech tokenizer could read; record it again.")
    cancel.raise_if_cancelled("The conversion")
    n_frames = e.cfg.token_mel_ratio * (prompt.n_tokens + len(source))
    noise = PortableRandom(seed, Stream.FLOW_NOISE).normal([n_frames, 80]).T[None]
    flow_prompt = FlowPrompt(inputs.flow_prompt_speech_token.to(e.device),
                             inputs.prompt_speech_feat.to(e.device, e.dtype),
                             inputs.flow_embedding.to(e.device, e.dtype), noise.to(e.device))
    t2w = Token2Wav(e.flow, e.hift, e.stream_plan(False), flow_prompt,
                    noise=DrawnNoise(PortableRandom(seed, Stream.HIFT_NOISE)), stop=cancel)
    tokens = WatchedTokens(iter(source), Watchdog(enabled=False), len(source))  # no LM: nothing can run away
    with SentenceThreads(e.cpu, tokens, streamed=False, split_rows=False, stop=cancel) as threads:
        pieces = [piece.wave.numpy() for piece in speak(tokens, t2w, threads)]
    return np.concatenate(pieces).astype(np.float32, copy=False)
