"""The engine's public face: load a model, make voices, synthesize text as a stream of audio chunks.

One synchronous generator per request (its LM may decode ahead on one worker thread, see below)::

    engine = Engine.load("path/to/CosyVoice2-0.5B")          # or a Hugging Face repo id
    voice = engine.make_voice("me.wav", "What I say in the clip.", name="Me")
    for chunk in engine.synthesize(SynthesisRequest("Hello there. How are you?", voice)):
        play(chunk.samples)                                    # float32 [N] at 24 kHz

Per sentence (text split by the text frontend):

    LM (one speech token per step) ─► tokens ─► flow (mel) ─► HiFT (waveform) ─► AudioChunk
                  ▲ cancel + watchdog checked every step      ▲ official streaming schedule

Streaming follows the official ``CosyVoice2Model.tts`` schedule: the first chunk is made as soon as
``25 + pad`` tokens (pad rounds the prompt up to a multiple of 25) plus 3 look-ahead tokens exist,
then hops of 50, 100, 100, ... tokens; the last call takes the rest. Everything that differs between
requests lives in local variables of the generator (token list, flow noise, vocoder state), so
nothing leaks from one call to the next, and the same seed, input and device give the same samples.
The one thing an Engine keeps is a small LRU of post-prompt flow stream states (voice + seed): a pure
function of its key, reused to skip the prompt's flow chunks before a sentence's first audio.

By default the chunks of a streamed sentence come from the incremental flow (each chunk computed once
against cached keys/values, flat cost per chunk) and its last call finishes with the same streaming masks;
``Engine.load(incremental_flow=False)`` gives the reference's recomputing calls and full-attention final
call instead. A non-streamed sentence is always the official non-streaming call. What each precision
choice (fp32, bf16, fp16, int8) runs in is decided in one place, :func:`pick_precision`.

On a CPU with two or more threads a streamed sentence's LM decodes on a worker thread (one core) while
this generator runs the flow and HiFT on the others, and the flow's two guidance rows run on two threads once
the LM is done (:mod:`engine.decode_ahead`, decided by :func:`cpu_threading`): the LM step is bound by memory
bandwidth and loses nothing on one core, the flow is bound by arithmetic. Tokens, flow schedule and thread
counts do not depend on timing, so a request gives the same samples every time.

Randomness: three private streams per request, all from ``request.seed`` (:class:`~engine.rng.PortableRandom`,
the same numbers on every machine): the LM sampler, the flow noise (one fixed buffer per request) and the
HiFT excitation. Separate streams keep the LM tokens independent of how often the vocoder ran, so streamed
and offline runs of one request say the same thing, and a seed means the same take on any CPU or GPU (up to
float rounding).

Runaway generation (a random or confused LM looping) is stopped by a watchdog (too many speech
tokens per text token, or the same short token pattern repeating for seconds). By default the
sentence is cut there and the chunk carries ``watchdog`` (a sentence saying what happened);
``SynthesisRequest.on_runaway="raise"`` raises :class:`GenerationError` instead.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence

import numpy as np
import torch

from .config import ModelConfig, load_config
from .errors import CancelToken, Cancelled, ConfigError, GenerationError, InputError, TextInputError
from .hub import ProgressCallback
from .rng import PortableRandom, RandomSource, Stream, check_seed
from .voices import Voice

Mode = Literal["zero_shot", "cross_lingual", "instruct"]
MODES: tuple[str, ...] = ("zero_shot", "cross_lingual", "instruct")
END_OF_PROMPT = "<|endofprompt|>"
FLOW_NOISE_FRAMES = 15000  # the official fixed buffer: 5 minutes of mel frames (prompt + sentence)

Sampler = Callable[[torch.Tensor, Sequence[int], RandomSource], int]


# --------------------------------------------------------------------------------------------
# Request / result values
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Watchdog:
    """Limits that stop a runaway LM.

    max_tokens_per_text_token: speech tokens allowed per text token (the LM itself stops at 20;
    normal speech needs 3-8). repeat_seconds: a pattern of at most ``repeat_max_period`` tokens
    repeating for this long counts as a loop (25 tokens per second).
    """

    max_tokens_per_text_token: float = 15.0
    repeat_seconds: float = 3.0
    repeat_max_period: int = 4
    enabled: bool = True

    def check(self, tokens: Sequence[int], n_text: int) -> str | None:
        """A sentence explaining why generation must stop, or None."""
        if not self.enabled:
            return None
        n = len(tokens)
        if n > self.max_tokens_per_text_token * max(n_text, 1):
            return (f"stopped after {n} speech tokens for {n_text} text tokens "
                    f"(limit {self.max_tokens_per_text_token:g} per text token)")
        span = int(self.repeat_seconds * 25)
        if n >= span:
            tail = tokens[-span:]
            for period in range(1, self.repeat_max_period + 1):
                if all(tail[i] == tail[i - period] for i in range(period, span)):
                    return f"stopped a loop: a {period}-token pattern repeated for {self.repeat_seconds:g} s"
        return None


@dataclass(frozen=True)
class SynthesisRequest:
    """What to say, in which voice and how.

    mode: ``zero_shot`` (continue the voice's clip: best similarity, same language),
    ``cross_lingual`` (voice only, no transcript: other languages), ``instruct`` (voice +
    ``instruction`` such as "Speak slowly and sadly"; the official instruct2 layout).
    Fine-grained tags (``[laughter]``, ``<strong>...</strong>``) may appear in ``text``.
    speed: tempo factor (1.0 = as generated), also while streaming.
    stream: True = chunks as soon as the streaming schedule allows; False = one chunk per sentence.
    sentence_pause_s: silence inserted between sentences; seam_fade_s: fade at sentence edges.
    """

    text: str
    voice: Voice
    mode: Mode = "zero_shot"
    instruction: str = ""
    speed: float = 1.0
    seed: int = 0
    stream: bool = True
    split_sentences: bool = True
    sentence_pause_s: float = 0.15
    seam_fade_s: float = 0.005
    watchdog: Watchdog = field(default_factory=Watchdog)
    on_runaway: Literal["truncate", "raise"] = "truncate"


@dataclass(frozen=True)
class ChunkTimings:
    """Seconds since the request started when the chunk was emitted, and time spent per stage so far."""

    elapsed_s: float
    lm_s: float
    flow_s: float
    vocoder_s: float


@dataclass(frozen=True)
class AudioChunk:
    """A piece of the answer: ``samples`` float32 [N] mono at ``sample_rate`` (24 kHz).

    is_last: last chunk of the whole request. sentence_end: last chunk of its sentence (the pause
    after it, if any, is included in ``samples``). watchdog: set on a sentence's last chunk when the
    watchdog cut that sentence short (see :class:`Watchdog`).
    """

    samples: np.ndarray
    sample_rate: int
    sentence_index: int
    n_sentences: int
    sentence_text: str
    is_last: bool
    sentence_end: bool
    timings: ChunkTimings
    n_speech_tokens: int = 0
    watchdog: str | None = None

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate


@dataclass
class _Clock:
    """Per-request stage timers (a plain value owned by one generator)."""

    start: float = field(default_factory=time.perf_counter)
    lm: float = 0.0
    flow: float = 0.0
    vocoder: float = 0.0

    def snapshot(self) -> ChunkTimings:
        return ChunkTimings(time.perf_counter() - self.start, self.lm, self.flow, self.vocoder)


@dataclass(frozen=True)
class SentenceAudio:
    """One piece of one sentence's waveform from :func:`speak_tokens` (before seams and pauses)."""

    wave: torch.Tensor  # [N] float32 on CPU
    is_final: bool
    n_tokens: int
    watchdog: str | None = None


# --------------------------------------------------------------------------------------------
# Device and precision
# --------------------------------------------------------------------------------------------
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "int8")
"""What :meth:`Engine.load` (``dtype=``), the CLI (``--dtype``) and the app's precision list accept."""

_PRECISION_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
                      torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """What one precision choice runs each network in (the answer of :func:`pick_precision`).

    name: the concrete choice (never ``auto``). lm: how the LM's weights are converted
    (:func:`engine.llm.speech_lm.convert_lm`'s names, plus ``fp16``). flow: the flow's compute dtype
    (encoder, CFM estimator and its streaming K/V caches). hift: always fp32 (its iSTFT, exp and
    phase sums lose too much in 16 bits).
    """

    name: str
    lm: str
    flow: torch.dtype
    hift: torch.dtype = torch.float32

    def describe(self) -> str:
        """One line for the model manager: ``int8 (LM int8 weights + bf16 activations, flow fp32, HiFT fp32)``."""
        lm = {"int8w": "int8 weights + bf16 activations", "int8": "int8 dynamic"}.get(self.lm, self.lm)
        return f"{self.name} (LM {lm}, flow {_dtype_name(self.flow)}, HiFT {_dtype_name(self.hift)})"


def _dtype_name(dt: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dt, str(dt))


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU. Anything else is checked to exist."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"Unknown device {device!r}; use auto, cpu, cuda or mps.") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA GPU is available; use device 'auto' or 'cpu'.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("MPS was requested but this Mac (or this torch) has no MPS; use 'auto' or 'cpu'.")
    return dev


@lru_cache(maxsize=1)
def _int8_weight_kernel_works() -> bool:
    """Whether this torch build runs the int8-weight x bf16-activation CPU kernel ``int8w`` needs."""
    op = getattr(torch, "_weight_int8pack_mm", None)
    if op is None:
        return False
    try:
        w = torch.ones(8, 32, dtype=torch.int8)
        op(torch.ones(1, 32, dtype=torch.bfloat16), w, torch.ones(8, dtype=torch.bfloat16))
    except (RuntimeError, NotImplementedError):
        return False
    return True


def precision_name(precision: str | torch.dtype) -> str:
    """The canonical name of a precision choice (``auto`` stays ``auto``; ``float32`` -> ``fp32``, ...)."""
    key = precision if isinstance(precision, torch.dtype) else str(precision).strip().lower()
    name = _PRECISION_ALIASES.get(key, key)
    if name not in PRECISIONS:
        raise ConfigError(f"Unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}.")
    return name


def pick_precision(precision: str | torch.dtype = "auto", device: str | torch.device = "cpu") -> Precision:
    """The one place that decides what a precision choice means on a device (engine, CLI and app use it).

    * ``auto``: fp32 on CPU and MPS; on CUDA bf16 if the GPU supports it, else fp16.
    * ``fp32``: every network in float32, like the official code (the parity reference).
    * ``bf16``: LM and flow in bfloat16, HiFT fp32. About half the memory traffic; native speed on CPUs with
      AVX512-BF16/AMX and on recent GPUs, slow emulation on older CPUs.
    * ``fp16``: LM and flow in float16, HiFT fp32. CUDA and MPS only (CPUs have no fast fp16 matmul).
    * ``int8``: CPU only. The LM's decoder-layer Linears hold int8 weights (``convert_lm`` ``int8w``: bf16
      activations, so outlier channels cost no accuracy; falls back to dynamic ``int8`` quantisation when this
      torch lacks that kernel); embeddings and ``llm_decoder`` keep full resolution. Flow and HiFT stay fp32.

    Aliases ``float32``/``bfloat16``/``float16`` and torch dtypes are accepted. Unsupported combinations raise
    :class:`ConfigError` saying what to pick instead.
    """
    dev = pick_device(device) if isinstance(device, str) else device
    name = precision_name(precision)
    if name == "auto":
        if dev.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            name = "fp32"
    if name == "fp16" and dev.type == "cpu":
        raise ConfigError("fp16 is not supported on the CPU; use fp32, bf16 or int8 (or auto).")
    if name == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("This GPU does not support bf16; use fp16 or fp32 (or auto).")
    if name == "int8":
        if dev.type != "cpu":
            raise ConfigError(f"int8 is a CPU precision; on {dev.type} use fp16 or bf16 (or auto).")
        return Precision("int8", "int8w" if _int8_weight_kernel_works() else "int8", torch.float32)
    return Precision(name, name, _TORCH_DTYPES[name])


def pick_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The flow's compute dtype for a precision choice (see :func:`pick_precision`; int8 gives fp32)."""
    return pick_precision(dtype, device).flow


def cpu_threading(device: torch.device, precision: Precision, *, decode_ahead: bool | None = None,
                  flow_lanes: bool | None = None, total: int | None = None) -> tuple[int, int]:
    """(LM worker threads, flow lane threads) for a streamed sentence: what :func:`speak_tokens` gets as
    ``lm_threads`` and ``flow_lane_threads``; 0 turns either off. ``None`` options are decided here.

    Both only pay on a CPU with two or more threads (``total``, default ``torch.get_num_threads()``).
    Flow lanes (the two guidance rows on two threads, half the threads each): on by default there.
    Decoding ahead: on by default unless the LM is int8. It pays when an LM step is slow next to the flow:
    measured for a streamed 10 s utterance at official size on 2 threads, fp32 25.5 s instead of 33.6 s,
    bf16 RTF 1.70 instead of 1.81 (before flow lanes); with the int8 LM (16 ms/token) the flow is the
    bottleneck and running in turn, the flow on both cores, is faster (20.6 s instead of 23.5 s)."""
    from .decode_ahead import split_threads

    total = torch.get_num_threads() if total is None else total
    multi = device.type == "cpu" and total >= 2
    ahead = decode_ahead if decode_ahead is not None else (multi and not precision.lm.startswith("int8"))
    lanes = flow_lanes if flow_lanes is not None else multi
    return (split_threads(total)[0] if ahead else 0), (max(1, total // 2) if lanes else 0)


# --------------------------------------------------------------------------------------------
# Seams
# --------------------------------------------------------------------------------------------
def _fade(x: np.ndarray, n: int, *, fade_in: bool) -> np.ndarray:
    """Raised-cosine fade over the first (fade_in) or last n samples."""
    n = min(n, x.shape[0])
    if n <= 0:
        return x
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float64) + 0.5) / n)).astype(np.float32)
    x = x.copy()
    if fade_in:
        x[:n] *= ramp
    else:
        x[-n:] *= ramp[::-1]
    return x


# --------------------------------------------------------------------------------------------
# The per-sentence core: tokens -> flow -> vocoder on the official schedule
# --------------------------------------------------------------------------------------------
def speak_tokens(
    lm_tokens: Iterator[int],
    *,
    flow,
    hift,
    prompt_token: torch.Tensor,
    prompt_feat: torch.Tensor,
    embedding: torch.Tensor,
    stream: bool,
    speed: float = 1.0,
    n_text: int = 0,
    flow_noise: torch.Tensor | None = None,
    hift_rng: RandomSource | None = None,
    hift_noise=None,
    cancel: CancelToken | None = None,
    watchdog: Watchdog | None = None,
    incremental_flow: bool = False,
    official_final: bool | None = None,
    chunk_size: int = 25,
    pre_lookahead: int = 3,
    max_hop: int = 100,
    token_mel_ratio: int = 2,
    clock: _Clock | None = None,
    on_call: Callable[[dict], None] | None = None,
    start_stream: Callable[[bool, Callable], object] | None = None,
    lm_threads: int = 0,
    flow_lane_threads: int = 0,
) -> Iterator[SentenceAudio]:
    """Turn a stream of LM speech tokens into waveform pieces (one sentence).

    prompt_token [1, P] int, prompt_feat [1, 2P, 80], embedding [1, 192] (the flow prompt).

    Flow computation (the schedule of calls is the official one in every case):

    * ``stream=False``: one official non-streaming call (full attention) over the whole sentence.
    * ``stream=True, incremental_flow=False``: the official chunk calls, each re-running the flow over
      all tokens so far (exact reference output, but chunk k costs O(k)).
    * ``stream=True, incremental_flow=True``: each chunk call encodes/integrates only its new tokens
      (:meth:`Flow.stream_step`, flat cost per chunk); the chunks equal the recomputing ones.

    ``official_final``: whether the last call of a streamed sentence is the reference's full-attention
    pass over the whole sentence (``streaming=False``: every frame sees the future, one O(N) pass, and its
    tail differs from what the chunks' streaming masks would give) or is finished with the streaming masks
    like the chunks were (cheap when incremental). ``None``: official for the recomputing flow (it
    reproduces the reference), streaming masks for the incremental one.

    ``cancel`` is checked after every LM token, between the stages of every flow estimator pass and of
    every HiFT call, and around them. ``on_call`` receives a dict per token2wav call (n_tokens, token_offset, stream, finalize;
    ``stream`` is the attention actually used): the parity check compares it with the official schedule.
    ``start_stream(split_rows, helper)`` (incremental flow only): returns the post-prompt
    :class:`FlowStreamState` for this prompt and ``flow_noise`` (e.g. one kept from an earlier sentence of
    the same voice, see :meth:`Engine.synthesize`); default: ``flow.start_stream`` with ``should_stop``.

    ``lm_threads`` > 0 (streamed sentences only): ``lm_tokens`` is iterated on a worker thread with that many
    intra-op threads (:class:`~engine.decode_ahead.DecodeAhead`), so the LM keeps decoding while this
    generator runs the flow and HiFT on the remaining threads (all of them for the final call), and the
    prompt's flow chunks are computed while the LM produces the first hop. Tokens and schedule are those of
    the single-thread path; only float rounding differs (thread counts change summation order; the choice
    never depends on timing, so a request still gives the same samples every time). ``clock.lm`` is then the
    time spent waiting for tokens. The calling thread's thread count is restored when the sentence ends.

    ``flow_lane_threads`` > 0 (incremental streaming only): the flow's two guidance rows run as separate calls
    (the stream state is made with ``split_rows``; ``start_stream`` must then return such a state), this thread
    running its row with that many intra-op threads and a :class:`~engine.decode_ahead.FlowLane` thread the
    other row whenever no LM worker is decoding (while one is, this thread runs both in turn).
    """
    from .decode_ahead import DecodeAhead, FlowLane, ThreadBudget, split_threads
    from .token2wav import VocoderState, token_hop_schedule, vocode_chunk

    clock = clock or _Clock()
    device = prompt_feat.device
    incremental = incremental_flow and stream  # a non-streamed sentence is one official call either way
    if official_final is None:
        official_final = not incremental
    should_stop = (lambda: cancel.cancelled) if cancel is not None else None
    tokens: list[int] = []
    voc_state = VocoderState()
    hops = token_hop_schedule(int(prompt_token.shape[1]), chunk_size, pre_lookahead, max_hop)
    hop = next(hops)
    token_offset = 0
    flow_state = None
    fed = 0  # tokens handed to the incremental flow so far
    stopped: str | None = None
    budget = ThreadBudget()
    verdict: list[str] = []

    def watched() -> Iterator[int]:
        # The watchdog judges inside the token source, so the LM stops drawing exactly at its verdict even when
        # it decodes ahead on a worker thread: the request's sampler generator carries over to the next
        # sentence, and one token drawn past the cut would change every sentence after it.
        seen: list[int] = []
        try:
            for token in lm_tokens:
                seen.append(int(token))
                yield token
                if watchdog is not None and (v := watchdog.check(seen, n_text)):
                    verdict.append(v)
                    return
        finally:
            close = getattr(lm_tokens, "close", None)
            if close is not None:
                close()  # stop the LM generator now (frees its KV cache), on the thread that ran it

    ahead = DecodeAhead(watched(), lm_threads=lm_threads, should_stop=should_stop) if (
        lm_threads > 0 and stream) else None
    token_source: Iterator[int] = ahead if ahead is not None else watched()
    lane = FlowLane(flow_lane_threads) if flow_lane_threads > 0 and incremental else None

    def use_threads(final: bool, for_flow: bool = False) -> None:
        # Leave the LM worker its cores during the chunk calls; the final call comes after the last token, so
        # it takes them all. Decided by the call, not by whether the worker happens to be done yet: the thread
        # count changes float rounding, so it must not depend on timing (same request => same samples). With
        # a flow lane the flow's rows always run with the lane's count, on whichever thread.
        if for_flow and lane is not None:
            budget.use(lane.threads)
        elif ahead is not None:
            budget.use(budget.total if final else split_threads(budget.total)[1])
        else:
            budget.use(budget.total)

    def helper():  # the lane, when its core is free (no LM worker decoding)
        return lane if lane is not None and (ahead is None or not ahead.decoding) else None

    def tok_tensor(n: int) -> torch.Tensor:
        return torch.tensor([tokens[:n]], dtype=torch.int32, device=device)

    def check_cancel() -> None:
        if cancel is not None:
            cancel.raise_if_cancelled("Synthesis")

    def vocode(mel: torch.Tensor, finalize: bool) -> torch.Tensor:
        nonlocal voc_state
        check_cancel()  # between flow and HiFT: a long sentence's HiFT call can take a second on a CPU
        use_threads(finalize)
        t0 = time.perf_counter()
        wave, voc_state = vocode_chunk(hift, mel, voc_state, finalize=finalize, speed=speed,
                                       noise=hift_noise, rng=hift_rng, should_stop=should_stop)
        clock.vocoder += time.perf_counter() - t0
        check_cancel()
        return wave.reshape(-1).float().cpu()

    def flow_call(n_tokens: int, offset: int, finalize: bool) -> torch.Tensor:
        nonlocal flow_state, fed
        # Chunk calls use the streaming masks; the last call of a streamed sentence too unless official_final.
        streaming = stream and not (finalize and official_final)
        if on_call is not None:
            on_call({"n_tokens": n_tokens, "token_offset": offset, "stream": streaming, "finalize": finalize})
        use_threads(finalize, for_flow=True)
        t0 = time.perf_counter()
        if incremental:
            prompt_state()
            mel, flow_state = flow.stream_step(flow_state, tok_tensor(n_tokens)[:, fed:], finalize=finalize,
                                               reference_final=finalize and official_final,
                                               should_stop=should_stop, helper=helper)
            fed = n_tokens
        else:
            mel = flow.inference(tok_tensor(n_tokens), prompt_token, prompt_feat, embedding,
                                 streaming=streaming, finalize=finalize, noise=flow_noise, should_stop=should_stop)
            mel = mel[:, :, offset * token_mel_ratio:]
        clock.flow += time.perf_counter() - t0
        use_threads(finalize)  # back to the count of what runs next on this thread (HiFT, or the LM in turn)
        return mel

    def prompt_state() -> None:
        nonlocal flow_state
        if flow_state is None:
            if start_stream is not None:
                flow_state = start_stream(lane is not None, helper)
            else:
                flow_state = flow.start_stream(prompt_token, prompt_feat, embedding, noise=flow_noise,
                                               should_stop=should_stop, split_rows=lane is not None, helper=helper)

    def run() -> Iterator[SentenceAudio]:
        nonlocal hop, token_offset, stopped
        t_lm = time.perf_counter()
        try:
            for token in token_source:
                tokens.append(int(token))
                if cancel is not None and cancel.cancelled:
                    break
                if stream and len(tokens) >= hop.n_tokens:
                    clock.lm += time.perf_counter() - t_lm
                    mel = flow_call(hop.n_tokens, token_offset, False)
                    if mel.shape[2] > 0:
                        yield SentenceAudio(vocode(mel, False), False, len(tokens))
                    token_offset += hop.hop
                    hop = next(hops)
                    if cancel is not None:
                        cancel.raise_if_cancelled("Synthesis")
                    t_lm = time.perf_counter()
        finally:
            token_source.close()  # type: ignore[attr-defined]  # stops the LM (and its worker) now
        clock.lm += time.perf_counter() - t_lm
        stopped = verdict[0] if verdict else None
        if cancel is not None:
            cancel.raise_if_cancelled("Synthesis")
        if stopped and watchdog is not None:
            # Cut the loop itself off: drop the repeating tail beyond its first period.
            tokens[:] = _trim_loop(tokens, watchdog)
        if not tokens:
            return
        # The last call takes every token (official: streaming=False, finalize=True; see official_final).
        mel = flow_call(len(tokens), token_offset if stream else 0, True)
        yield SentenceAudio(vocode(mel, True), True, len(tokens), stopped)

    with budget:
        try:
            if ahead is not None and incremental:  # the prompt's chunks while the LM decodes the first hop
                use_threads(False, for_flow=True)
                t0 = time.perf_counter()
                prompt_state()
                clock.flow += time.perf_counter() - t0
            yield from run()
        finally:
            if ahead is not None:
                ahead.close()  # stop the worker before the thread count is restored
            if lane is not None:
                lane.close()


def _trim_loop(tokens: list[int], wd: Watchdog) -> list[int]:
    span = int(wd.repeat_seconds * 25)
    if len(tokens) < span:
        return tokens
    tail = tokens[-span:]
    for period in range(1, wd.repeat_max_period + 1):
        if all(tail[i] == tail[i - period] for i in range(period, span)):
            # Walk back to where the repetition started, keep one period of it.
            start = len(tokens) - span
            while start - period >= 0 and tokens[start - 1] == tokens[start - 1 + period]:
                start -= 1
            return tokens[: start + period]
    return tokens


# --------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------
class Engine:
    """A loaded model: LM + flow + HiFT + frontend on one device. Stateless between requests.

    ``dtype`` is the flow's compute dtype (what prompt features are cast to); ``precision`` says what
    every network runs in (:func:`pick_precision`). Not thread-safe: use it from one thread at a time
    (the app's worker thread).
    """

    def __init__(self, model_dir: Path, cfg: ModelConfig, lm, flow, hift, frontend, text_frontend,
                 device: torch.device, dtype: torch.dtype, incremental_flow: bool = True, *,
                 official_final: bool | None = None, precision: Precision | None = None,
                 decode_ahead: bool | None = None, flow_lanes: bool | None = None):
        self.model_dir = model_dir
        self.cfg = cfg
        self.lm = lm
        self.flow = flow
        self.hift = hift
        self.frontend = frontend
        self.text = text_frontend
        self.device = device
        self.dtype = dtype
        self.precision = precision or Precision(_dtype_name(dtype), _dtype_name(dtype), dtype)
        self.incremental_flow = incremental_flow
        self.official_final = official_final
        self.decode_ahead = decode_ahead
        self.flow_lanes = flow_lanes
        # Post-prompt flow stream states, newest last (see _prompt_state). Each holds the prompt's K/V
        # (at official size in fp32 ~4.4 MB per prompt mel frame), hence only a few.
        self.prompt_state_cache_size = 2
        self._prompt_states: OrderedDict[tuple, object] = OrderedDict()

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @classmethod
    def load(cls, source: str | Path, *, device: str | torch.device = "auto", dtype: str | torch.dtype = "auto",
             cache_dir: str | Path | None = None, endpoint: str | None = None, offline: bool = False,
             progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
             normalizer: str = "wetext", incremental_flow: bool = True,
             official_final: bool | None = None, decode_ahead: bool | None = None,
             flow_lanes: bool | None = None) -> "Engine":
        """Open an official-layout model folder, or download a Hugging Face repo id first.

        dtype: one of :data:`PRECISIONS` (see :func:`pick_precision` for exactly what each runs in):
        ``auto`` (fp32 on CPU and MPS, bf16 or else fp16 on CUDA), ``fp32`` (the reference), ``bf16``
        (LM + flow bf16), ``fp16`` (LM + flow fp16; CUDA/MPS only), ``int8`` (CPU only: LM decoder
        Linears with int8 weights, flow fp32). HiFT always runs in fp32.
        incremental_flow: streamed sentences run the flow chunk by chunk against cached keys/values
        (flat cost per chunk, same chunks as the reference) instead of the reference's calls that
        re-run it over every token so far (chunk k costs O(k)). Non-streamed requests always make the
        official non-streaming call.
        official_final: the last call of a streamed sentence is the reference's full-attention pass
        over the whole sentence (True) or uses the streaming masks like the chunks (False). None:
        official only with ``incremental_flow=False``. See :func:`speak_tokens`.
        decode_ahead: streamed sentences decode the LM on a worker thread while the flow and HiFT run
        (:mod:`engine.decode_ahead`; same tokens, less time). None: on a CPU with two or more threads unless
        the LM is int8 (see :meth:`lm_threads`).
        flow_lanes: streamed sentences run the flow's two guidance rows on two threads
        (:class:`~engine.decode_ahead.FlowLane`). None: on a CPU with two or more threads.
        normalizer: ``wetext`` (default), ``inflect`` (the reference's English fallback) or ``none``.
        """
        from .flow.flow import load_flow
        from .frontend.frontend import Frontend
        from .frontend.text import TextFrontend
        from .hub import resolve_model_dir
        from .llm.speech_lm import convert_lm, load_lm
        from .vocoder.hift import load_hift

        model_dir = resolve_model_dir(source, cache_dir=cache_dir, endpoint=endpoint, offline=offline,
                                      progress=progress, cancel=cancel)
        dev = pick_device(device)
        prec = pick_precision(dtype, dev)
        cfg = load_config(model_dir)
        if prec.lm in _TORCH_DTYPES:
            lm = load_lm(model_dir, cfg, dev, _TORCH_DTYPES[prec.lm])
        else:  # int8 / int8w: quantise the fp32 weights (CPU only, checked by pick_precision)
            lm = convert_lm(load_lm(model_dir, cfg, dev, torch.float32), prec.lm)
        if cancel is not None:
            cancel.raise_if_cancelled("Loading the model")
        flow = load_flow(model_dir, cfg, dev, prec.flow)
        hift = load_hift(model_dir, cfg, dev, prec.hift)
        frontend = Frontend.from_model_dir(model_dir)
        text = TextFrontend(frontend.tokenizer, normalizer)  # type: ignore[arg-type]
        return cls(model_dir, cfg, lm, flow, hift, frontend, text, dev, prec.flow, incremental_flow,
                   official_final=official_final, precision=prec, decode_ahead=decode_ahead,
                   flow_lanes=flow_lanes)

    def flow_lane_threads(self) -> int:
        """Intra-op threads per guidance row for this engine's streamed sentences (0: one batch of both rows);
        see :func:`cpu_threading`."""
        if not self.incremental_flow:
            return 0
        return cpu_threading(self.device, self.precision, decode_ahead=self.decode_ahead,
                             flow_lanes=self.flow_lanes)[1]

    def lm_threads(self) -> int:
        """Intra-op threads for the LM worker of a streamed sentence (0: decode in the calling thread); see
        :func:`cpu_threading`."""
        return cpu_threading(self.device, self.precision, decode_ahead=self.decode_ahead,
                             flow_lanes=self.flow_lanes)[0]

    # ---- voices ----------------------------------------------------------------------------
    def make_voice(self, audio: str | Path | np.ndarray, transcript: str, *, name: str,
                   sample_rate: int | None = None, language: str = "", source_clip: str = "",
                   notes: dict | None = None) -> Voice:
        """Analyse a prompt recording once (speech tokens, prompt mel, speaker embedding)."""
        from .frontend.audio import load_audio

        if isinstance(audio, (str, Path)):
            source_clip = source_clip or Path(audio).name
            audio, sample_rate = load_audio(audio)
        if sample_rate is None:
            raise InputError("Pass the sample rate of the prompt audio array.")
        if not isinstance(transcript, str):
            raise TextInputError("The transcript must be text.")
        p = self.frontend.prompt(audio, int(sample_rate))
        return Voice(name=name, transcript=transcript.strip(), speech_tokens=p.speech_tokens[0].to(torch.int32),
                     speech_feat=p.speech_feat[0].float(), embedding=p.embedding[0].float(), language=language,
                     source_clip=source_clip, notes=dict(notes or {}))

    # ---- synthesis -------------------------------------------------------------------------
    def sentences(self, request: SynthesisRequest) -> list[str]:
        """The pieces ``request.text`` is spoken in (normalised)."""
        if request.split_sentences:
            return list(self.text.split_sentences(request.text))
        return [self.text.normalize(request.text)]

    def _check(self, r: SynthesisRequest) -> None:
        if r.mode not in MODES and r.mode != "instruct2":
            raise InputError(f"Unknown mode {r.mode!r}; use one of {', '.join(MODES)}.")
        if not isinstance(r.voice, Voice):
            raise InputError("A voice is needed: make one from a recording or load a saved one.")
        if not (isinstance(r.speed, (int, float)) and math.isfinite(r.speed) and 0.5 <= r.speed <= 2.0):
            raise InputError(f"Speed must be between 0.5 and 2.0, got {r.speed}.")
        if r.mode == "zero_shot" and not r.voice.transcript.strip():
            raise TextInputError("Zero-shot mode needs the transcript of the voice's clip; "
                                 "type what is said in it, or use cross-lingual mode.")
        if r.mode in ("instruct", "instruct2") and not r.instruction.strip():
            raise TextInputError("Instruct mode needs an instruction, e.g. 'Speak slowly and softly.'")
        if r.sentence_pause_s < 0 or r.seam_fade_s < 0:
            raise InputError("Pause and fade lengths cannot be negative.")

    def _inputs(self, r: SynthesisRequest, sentence: str, prompt):
        fe = self.frontend
        if r.mode == "zero_shot":
            return fe.zero_shot(sentence, self.text.normalize(r.voice.transcript), prompt)
        if r.mode == "cross_lingual":
            return fe.cross_lingual(sentence, prompt)
        instruction = r.instruction.replace(END_OF_PROMPT, "").strip()
        return fe.instruct2(sentence, self.text.normalize(instruction) + END_OF_PROMPT, prompt)

    def synthesize(self, request: SynthesisRequest, *, cancel: CancelToken | None = None,
                   sampler: Sampler | None = None) -> Iterator[AudioChunk]:
        """Speak ``request.text``; yield :class:`AudioChunk` s as they are ready.

        Raises :class:`Cancelled` (cancel token set; within one LM step or one chunk), typed
        input errors before any audio, and :class:`GenerationError` for a runaway with
        ``on_runaway="raise"``.
        """
        from .frontend.frontend import PromptFeatures

        r = request
        self._check(r)
        if cancel is not None:
            cancel.raise_if_cancelled("Synthesis")
        clock = _Clock()
        pieces = self.sentences(r)
        v = r.voice
        prompt = PromptFeatures(v.speech_tokens.reshape(1, -1).to(torch.int32),
                                v.speech_feat.reshape(1, -1, v.speech_feat.shape[-1]).float(),
                                v.embedding.reshape(1, -1).float())
        seed = check_seed(r.seed)
        lm_rng = PortableRandom(seed, Stream.SAMPLER)
        hift_rng = PortableRandom(seed, Stream.HIFT_NOISE)
        flow_noise = PortableRandom(seed, Stream.FLOW_NOISE).normal([1, 80, FLOW_NOISE_FRAMES]).to(self.device)
        sr = self.sample_rate
        fade_n = int(round(r.seam_fade_s * sr))
        pause = np.zeros(int(round(r.sentence_pause_s * sr)), dtype=np.float32)

        for si, sentence in enumerate(pieces):
            inputs = self._inputs(r, sentence, prompt)
            n_text = int(inputs.text.shape[1])
            lm_tokens = self.lm.generate(
                inputs.text.reshape(-1),
                inputs.prompt_text.reshape(-1) if inputs.prompt_text is not None else (),
                inputs.llm_prompt_speech_token.reshape(-1) if inputs.llm_prompt_speech_token is not None else (),
                rng=lm_rng, sampler=sampler)
            first = True
            prompt_token = inputs.flow_prompt_speech_token.to(self.device)
            prompt_feat = inputs.prompt_speech_feat.to(self.device, self.dtype)
            embedding = inputs.flow_embedding.to(self.device, self.dtype)

            def start_stream(split_rows, helper, prompt_token=prompt_token, prompt_feat=prompt_feat,
                             embedding=embedding):
                return self._prompt_state(prompt_token, prompt_feat, embedding, r.seed, flow_noise, cancel,
                                          split_rows, helper)

            for piece in speak_tokens(
                    lm_tokens, flow=self.flow, hift=self.hift,
                    prompt_token=prompt_token, prompt_feat=prompt_feat, embedding=embedding,
                    start_stream=start_stream,
                    stream=r.stream, speed=r.speed, n_text=n_text, flow_noise=flow_noise,
                    hift_rng=hift_rng, cancel=cancel, watchdog=r.watchdog,
                    incremental_flow=self.incremental_flow, official_final=self.official_final,
                    chunk_size=self.cfg.chunk_size,
                    pre_lookahead=self.cfg.flow.pre_lookahead_len, token_mel_ratio=self.cfg.token_mel_ratio,
                    clock=clock, lm_threads=self.lm_threads(), flow_lane_threads=self.flow_lane_threads()):
                if piece.watchdog and r.on_runaway == "raise":
                    raise GenerationError(f"Sentence {si + 1} ({sentence[:40]!r}): the watchdog {piece.watchdog}. "
                                          "Try another seed or rephrase the sentence.")
                samples = piece.wave.numpy().astype(np.float32, copy=False)
                last_sentence = si == len(pieces) - 1
                if first and si > 0:
                    samples = _fade(samples, fade_n, fade_in=True)
                if piece.is_final and not last_sentence:
                    samples = np.concatenate([_fade(samples, fade_n, fade_in=False), pause])
                first = False
                yield AudioChunk(samples=samples, sample_rate=sr, sentence_index=si, n_sentences=len(pieces),
                                 sentence_text=sentence, is_last=piece.is_final and last_sentence,
                                 sentence_end=piece.is_final, timings=clock.snapshot(),
                                 n_speech_tokens=piece.n_tokens, watchdog=piece.watchdog)
                if cancel is not None:
                    cancel.raise_if_cancelled("Synthesis")

    def _prompt_state(self, prompt_token: torch.Tensor, prompt_feat: torch.Tensor, embedding: torch.Tensor,
                      seed: int, flow_noise: torch.Tensor, cancel: CancelToken | None, split_rows: bool = False,
                      helper: Callable | None = None):
        """The flow stream state after the prompt's chunks, computed once per voice + noise and reused.

        The prompt part of every sentence of a voice is the same work (~2 s at official size on a CPU
        before the first audio), and its result only depends on the prompt tensors, the noise (a function
        of ``seed``), the flow's dtype and the device, the guidance-row layout and the thread count it is computed
        with (which changes float rounding). Reuse is safe because a stream state is a value
        whose K/V pages are never overwritten: a step from a state another sentence already advanced
        from copies the shared page first (``History.append``), so audio is bit-identical to a fresh
        ``start_stream``."""
        from .flow.cfm import tensor_sha256

        key = (tensor_sha256(prompt_token), tensor_sha256(prompt_feat), tensor_sha256(embedding), int(seed),
               int(flow_noise.shape[2]), str(self.dtype), str(self.device), id(self.flow), bool(split_rows),
               torch.get_num_threads())
        state = self._prompt_states.get(key)
        if state is None:
            should_stop = (lambda: cancel.cancelled) if cancel is not None else None
            state = self.flow.start_stream(prompt_token, prompt_feat, embedding, noise=flow_noise,
                                           should_stop=should_stop, split_rows=split_rows, helper=helper)
            self._prompt_states[key] = state
            while len(self._prompt_states) > max(0, self.prompt_state_cache_size):
                self._prompt_states.popitem(last=False)
        else:
            self._prompt_states.move_to_end(key)
        return state

    def synthesize_all(self, request: SynthesisRequest, *, cancel: CancelToken | None = None) -> np.ndarray:
        """Convenience: the whole answer as one float32 array."""
        parts = [c.samples for c in self.synthesize(request, cancel=cancel)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


__all__ = [
    "AudioChunk", "CancelToken", "Cancelled", "ChunkTimings", "Engine", "MODES", "PRECISIONS", "Precision",
    "SynthesisRequest", "Watchdog", "cpu_threading", "pick_device", "pick_dtype", "pick_precision", "precision_name",
    "speak_tokens",
]
