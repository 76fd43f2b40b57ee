"""The engine's public face: load a model, make voices, synthesize text as a stream of audio chunks.

One synchronous generator per request (its LM may decode ahead on one worker thread, see
:mod:`engine.cpu_threads`)::

    engine = Engine.load("path/to/CosyVoice2-0.5B")          # or Fun-CosyVoice3-0.5B, or a Hugging Face repo id
    voice = engine.make_voice("me.wav", "What I say in the clip.", name="Me")
    for chunk in engine.synthesize(SynthesisRequest("Hello there. How are you?", voice)):
        play(chunk.samples)                                    # float32 [N] at 24 kHz

A request reads in one direction: :class:`SynthesisTask` builds what the whole request shares once (the
sentences, the voice's flow prompt, the random streams, the normalised transcript or instruction), then per
sentence the frontend makes the model inputs, the LM yields speech tokens, and :func:`engine.token2wav.speak`
turns them into waveform pieces (flow, then HiFT, on the official streaming schedule)::

    text ─► sentences ─► frontend ─► LM tokens ─► token2wav (flow ─► HiFT) ─► seams ─► AudioChunk

The model family (CosyVoice 2 or 3) is read from the folder (:func:`engine.config.model_family`) and its
networks built by :func:`engine.families.load_networks`; the loop is the same for both, and the few steps that
differ are asked of the engine's :class:`~engine.synthesis_family.SynthesisFamily` (built once per engine).

Everything that differs between requests lives in the task, so nothing leaks from one call to the next, and
the same seed, input, device and thread count give the same samples. The one thing an Engine keeps is a small
LRU of post-prompt flow stream states (:class:`engine.token2wav.PromptStates`), a pure function of its key.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence

import numpy as np
import psutil
import torch

from .config import ModelConfig
from .cpu_threads import CpuPlan, SentenceThreads, plan_cpu_threads
from .errors import NEVER_CANCELLED, CancelToken, GenerationError, InputError, TextInputError
from .flow.kv_history import KVStorage
from .machine_check import MachinePlan, measured_auto
from .precision import Precision, pick_device, pick_precision, torch_dtype
from .llm.speech_lm import MAX_TOKEN_TEXT_RATIO
from .rng import PortableRandom, RandomSource, Stream, check_seed
from .seams import fade
from .synthesis_family import SynthesisFamily, synthesis_family
from .token2wav import ChunkTimings, FinalCall, FlowMode, FlowPrompt, PromptStates, StageClock, StreamPlan, speak
from .voices import Voice, check_voice_family
from .watchdog import Watchdog, WatchedTokens

END_OF_PROMPT = "<|endofprompt|>"
MAX_SEAM_S = 10.0  # longest pause or fade between sentences a request may ask for

Sampler = Callable[[torch.Tensor, Sequence[int], RandomSource], int]


class Mode(str, enum.Enum):
    """How the voice is used: ``zero_shot`` continues the voice's clip (best similarity, same language; needs
    its transcript), ``cross_lingual`` takes the voice only (other languages), ``instruct`` the voice plus an
    instruction such as "Speak slowly and sadly" (the official instruct2 layout)."""

    ZERO_SHOT = "zero_shot"
    CROSS_LINGUAL = "cross_lingual"
    INSTRUCT = "instruct"


MODES: tuple[str, ...] = tuple(m.value for m in Mode)


class FlowNoise(str, enum.Enum):
    """Where the flow's starting noise comes from: ``seeded`` = the request's portable stream (a seed is a take,
    the same on every machine); ``official`` = the official code's fixed tensor (seed 0 at model build), the same
    for every request, so outputs equal the official code's (the parity goldens)."""

    SEEDED = "seeded"
    OFFICIAL = "official"


# --------------------------------------------------------------------------------------------
# Request / result values
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SynthesisRequest:
    """What to say, in which voice and how.

    text: what to say; split into sentences and normalised by the engine. pieces: instead of ``text``, sentences
    already made by :meth:`Engine.sentences` (spoken as they are, not normalised again). Fine-grained tags
    (``[laughter]``, ``<strong>...</strong>``) may appear in either. mode: a :class:`Mode` (or its value).
    speed: tempo factor (1.0 = as generated), also while streaming. stream: True = chunks as soon as the
    streaming schedule allows; False = one chunk per sentence. sentence_pause_s: silence inserted between
    sentences; seam_fade_s: fade at sentence edges. seed: an unsigned 64-bit number; the same seed means the
    same take on every machine (:mod:`engine.rng`).
    """

    text: str = ""
    voice: Voice | None = None
    mode: Mode | str = Mode.ZERO_SHOT
    instruction: str = ""
    speed: float = 1.0
    seed: int = 0
    stream: bool = True
    pieces: tuple[str, ...] = ()
    sentence_pause_s: float = 0.15
    seam_fade_s: float = 0.005
    watchdog: Watchdog = field(default_factory=Watchdog)
    on_runaway: Literal["truncate", "raise"] = "truncate"


@dataclass(frozen=True)
class AudioChunk:
    """A piece of the answer: ``samples`` float32 [N] mono at ``sample_rate`` (24 kHz).

    is_last: last chunk of the whole request. sentence_end: last chunk of its sentence (the pause after it, if
    any, is included in ``samples``). watchdog: set on a sentence's last chunk when the watchdog cut that
    sentence short (see :class:`~engine.watchdog.Watchdog`).
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


def device_memory_bytes(device: torch.device) -> int:
    """Total memory of a CUDA device, else of the machine (CPU, and Apple's unified memory for MPS)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return psutil.virtual_memory().total


@dataclass(frozen=True)
class Runtime:
    """How an engine runs beyond device and precision, in one value (tests and benchmarks change it).

    flow_mode: streamed sentences run the flow incrementally (flat cost per chunk, the same chunks) or the
    official way (every chunk re-runs over all tokens so far). final_call: the last call of a streamed sentence;
    None means the official full-attention pass with the official flow, streaming masks with the incremental
    one. decode_ahead / flow_lanes: the CPU threading (:func:`engine.cpu_threads.plan_cpu_threads`; None: decided
    for this machine). prompt_states: how many post-prompt flow states to keep for reuse. flow_noise: see
    :class:`FlowNoise`. For CosyVoice 3, RECOMPUTE also vocodes the official way (HiFT over all mel so far on
    every chunk) and INCREMENTAL at flat cost (:mod:`engine.token2wav_cv3`). flow_history: how the incremental
    flow keeps past keys/values (``KVStorage.EXACT`` / ``BF16`` / ``INT8``: all / 1/2 / ~1/4 of the memory; see
    :meth:`resolved_flow_history` for None). flow_history_budget: the most bytes one sentence's keys/values may
    take; past it they stop growing and each later chunk re-makes the frames since then (same audio, rising
    cost per chunk: :meth:`engine.flow.flow.StreamingFlow.stream_step`); None: a quarter of the device's memory.
    """

    flow_mode: FlowMode = FlowMode.INCREMENTAL
    final_call: FinalCall | None = None
    decode_ahead: bool | None = None
    flow_lanes: bool | None = None
    prompt_states: int = 2
    flow_noise: FlowNoise = FlowNoise.SEEDED
    flow_history: KVStorage | None = None
    flow_history_budget: int | None = None

    def resolved_flow_history(self, precision: Precision) -> KVStorage:
        """How the incremental flow keeps earlier frames' attention keys/values (:mod:`engine.flow.kv_history`).
        None: exact for ``fp32`` (the parity reference) and wherever the flow computes in 16 bits (its keys are
        16-bit already); bf16 (half the memory) for the other precisions with an fp32 flow (``int8``)."""
        if self.flow_history is not None:
            return self.flow_history
        return KVStorage.BF16 if precision.flow == torch.float32 and precision.name != "fp32" else KVStorage.EXACT

    def resolved_history_budget(self, device: torch.device) -> int:
        """Bytes a streamed sentence's key/value history may take. A quarter of the device's memory leaves the
        weights, HiFT and the rest of the machine theirs: at official size in fp32 that is ~17 s of exact history
        (prompt included) on a 16 GB machine; longer sentences stay correct and stop growing, at a rising cost per
        chunk."""
        if self.flow_history_budget is not None:
            return self.flow_history_budget
        return device_memory_bytes(device) // 4

    def resolved_final_call(self) -> FinalCall:
        if self.final_call is not None:
            return self.final_call
        return FinalCall.FULL_ATTENTION if self.flow_mode is FlowMode.RECOMPUTE else FinalCall.STREAMING_MASKS


@dataclass(frozen=True)
class Download:
    """Where a repo id is fetched from when :meth:`Engine.load` is given one (see :mod:`engine.hub`)."""

    cache_dir: str | Path | None = None
    endpoint: str | None = None
    offline: bool = False
    progress: Callable | None = None
    cancel: CancelToken = NEVER_CANCELLED


class _FlowNoise:
    """A request's flow noise: frames drawn from its portable stream in frame-major order, so a longer buffer
    starts with the shorter one (each sentence draws what its longest possible utterance needs); or the
    official fixed tensor (:attr:`FlowNoise.OFFICIAL`)."""

    def __init__(self, seed: int, device: torch.device, kind: FlowNoise = FlowNoise.SEEDED):
        self._rng = PortableRandom(seed, Stream.FLOW_NOISE)
        self._device = device
        self._frames = torch.zeros(1, 80, 0)
        if FlowNoise(kind) is FlowNoise.OFFICIAL:
            from .flow.cfm import official_noise

            self._frames = official_noise().to(device)

    def frames(self, n: int) -> torch.Tensor:
        """[1, 80, >= n] on the device."""
        have = self._frames.shape[2]
        if n > have:
            more = self._rng.normal([n - have, 80]).T[None]
            self._frames = torch.cat([self._frames, more.to(self._device)], dim=2)
        return self._frames


# --------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------
class Engine:
    """A loaded model of either family: LM + flow + vocoder + frontend on one device. Stateless between requests
    (but for the prompt-state cache, see the module docstring). Not thread-safe: use it from one thread at a
    time (the studio's worker thread, the server's worker)."""

    def __init__(self, *, model_dir: Path, cfg: ModelConfig, lm, flow, hift, frontend, text, device: torch.device,
                 precision: Precision, runtime: Runtime = Runtime(), cpu: CpuPlan | None = None,
                 machine_plan: MachinePlan | None = None):
        self.model_dir, self.cfg = model_dir, cfg
        self.lm, self.flow, self.hift, self.frontend, self.text = lm, flow, hift, frontend, text
        self.device, self.precision, self.runtime = device, precision, runtime
        self.machine_plan = machine_plan  # what the hardware check chose for "auto" (engine.machine_check)
        if cpu is None and machine_plan is not None:
            cpu = machine_plan.cpu_plan(device, runtime.decode_ahead, runtime.flow_lanes)
        self.cpu = cpu or plan_cpu_threads(device, precision, decode_ahead=runtime.decode_ahead,
                                           flow_lanes=runtime.flow_lanes)
        self.prompt_states = PromptStates(runtime.prompt_states)
        self.speech: SynthesisFamily = synthesis_family(cfg.family)

    @property
    def family(self) -> str:
        """:data:`engine.config.COSYVOICE2` (``"cosyvoice2"``) or :data:`~engine.config.COSYVOICE3`."""
        return self.cfg.family

    @property
    def family_name(self) -> str:
        """The family as people read it: ``CosyVoice 2`` or ``CosyVoice 3``."""
        return self.speech.name

    @property
    def supports_phoneme_markup(self) -> bool:
        """Whether text may carry pronunciation markup: pinyin (``[j][ǐ]``) and CMU phoneme tokens
        (``[HH][AH0][L][OW1]``), CosyVoice 3 only. The studio offers its pronunciation editor for markup when
        True. Every normaliser keeps the markup as typed and normalises only the text around it (the official
        normalisers spell the stress digits, ``[AH0]`` -> ``[AHzero]``, quirk 14.10; see engine.frontend.text)."""
        return self.speech.phoneme_markup

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def dtype(self) -> torch.dtype:
        """The flow's compute dtype (what prompt features are cast to)."""
        return self.precision.flow

    @classmethod
    def load(cls, source: str | Path, *, device: str | torch.device = "auto", precision: str = "auto",
             normalizer: str = "wetext", runtime: Runtime = Runtime(), download: Download = Download()) -> "Engine":
        """Open an official-layout model folder, or download a Hugging Face repo id first.

        precision: ``auto``, ``fp32``, ``bf16``, ``fp16`` (GPU) or ``int8`` (CPU), decided by
        :func:`engine.precision.pick_precision`; ``auto`` on a CPU runs by the hardware check's plan for this
        machine and model when one is cached (:mod:`engine.machine_check`; the engine's ``machine_plan``).
        normalizer: ``wetext`` (default), ``inflect`` (the reference's English fallback) or ``none``.
        runtime: see :class:`Runtime`; download: see :class:`Download`.
        """
        from .families import load_networks
        from .frontend.text import TextFrontend
        from .hub import resolve_model_dir
        from .llm.speech_lm import convert_lm

        model_dir = resolve_model_dir(source, cache_dir=download.cache_dir, endpoint=download.endpoint,
                                      offline=download.offline, progress=download.progress, cancel=download.cancel)
        dev = pick_device(device)
        measured = measured_auto(model_dir, dev, precision)  # "auto" on a CPU the hardware check measured
        prec = measured.precision if measured is not None else pick_precision(precision, dev)
        download.cancel.raise_if_cancelled("Loading the model")
        lm_dtype = torch_dtype(prec.lm)  # None: int8 / int8w, quantised after loading (CPU only, see pick_precision)
        # int8w quantises a bf16 LM, so it is read as bf16 (the same rounding of the same weights, and the peak
        # never holds the 2 GB fp32 copy); dynamic int8 quantises fp32 weights.
        load_dtype = lm_dtype or (torch.bfloat16 if prec.lm == "int8w" else torch.float32)
        nets = load_networks(model_dir, dev, lm_dtype=load_dtype, flow_dtype=prec.flow)
        lm = nets.lm if lm_dtype is not None else convert_lm(nets.lm, prec.lm)
        download.cancel.raise_if_cancelled("Loading the model")
        text = TextFrontend(nets.frontend.tokenizer, normalizer)  # type: ignore[arg-type]
        return cls(model_dir=model_dir, cfg=nets.config, lm=lm, flow=nets.flow, hift=nets.hift,  # type: ignore[arg-type]
                   frontend=nets.frontend, text=text, device=dev, precision=prec, runtime=runtime,
                   machine_plan=measured)

    def with_runtime(self, runtime: Runtime) -> "Engine":
        """Another engine on the same loaded networks that runs by ``runtime`` (its own prompt-state cache)."""
        return Engine(model_dir=self.model_dir, cfg=self.cfg, lm=self.lm, flow=self.flow, hift=self.hift,
                      frontend=self.frontend, text=self.text, device=self.device, precision=self.precision,
                      runtime=runtime, machine_plan=self.machine_plan)

    def stream_plan(self, stream: bool) -> StreamPlan:
        """How a sentence's token2wav calls run with this engine's runtime and model."""
        return StreamPlan(stream=stream, flow_mode=self.runtime.flow_mode,
                          final_call=self.runtime.resolved_final_call(), chunk_size=self.cfg.chunk_size,
                          pre_lookahead=self.cfg.flow.pre_lookahead_len, max_hop=4 * self.cfg.chunk_size,
                          token_mel_ratio=self.cfg.token_mel_ratio,
                          kv_storage=self.runtime.resolved_flow_history(self.precision),
                          history_budget=self.runtime.resolved_history_budget(self.device))

    # ---- voices ----------------------------------------------------------------------------
    def make_voice(self, audio: str | Path | np.ndarray, transcript: str, *, name: str,
                   sample_rate: int | None = None, language: str = "", source_clip: str = "",
                   notes: dict | None = None) -> Voice:
        """Analyse a prompt recording once (speech tokens, prompt mel, speaker embedding) for this engine's family
        (the voice carries it: CosyVoice 2 and 3 have other speech tokenizers and prompt mels)."""
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
                     source_clip=source_clip, notes=dict(notes or {}), family=self.family)

    def remake_voice(self, voice: Voice, audio: str | Path | np.ndarray, *, sample_rate: int | None = None) -> Voice:
        """``voice`` analysed again from its recording ``audio`` for this engine's family: the same name,
        transcript, language, notes and date, this family's tensors. (A voice keeps only its clip's name, so
        the recording is needed; a voice of the other family is refused by :meth:`synthesize` until remade.)"""
        made = self.make_voice(audio, voice.transcript, name=voice.name, sample_rate=sample_rate,
                               language=voice.language, source_clip=voice.source_clip, notes=voice.notes)
        from dataclasses import replace

        return replace(made, created=voice.created)

    # ---- synthesis -------------------------------------------------------------------------
    def sentences(self, text: str) -> list[str]:
        """The pieces ``text`` is spoken in (normalised), as :attr:`SynthesisRequest.pieces` takes them."""
        return [s for s in self.text.split_sentences(text) if s.strip()]

    def synthesize(self, request: SynthesisRequest, *, cancel: CancelToken = NEVER_CANCELLED,
                   sampler: Sampler | None = None) -> Iterator[AudioChunk]:
        """Speak ``request``; yield :class:`AudioChunk` s as they are ready.

        Raises typed input errors before any audio, :class:`~engine.errors.Cancelled` within one step of the
        cancel token being set, :class:`~engine.errors.NonFiniteError` instead of ever yielding NaN or infinite
        samples, and :class:`~engine.errors.GenerationError` for a runaway with ``on_runaway="raise"``.
        ``sampler`` replaces the LM's sampling step (tests, parity).
        """
        task = SynthesisTask(self, request, cancel, sampler)  # checks the request now, before the first next()
        return task.run()

    def synthesize_all(self, request: SynthesisRequest, *, cancel: CancelToken = NEVER_CANCELLED) -> np.ndarray:
        """Convenience: the whole answer as one float32 array."""
        parts = [c.samples for c in self.synthesize(request, cancel=cancel)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def check_request(r: SynthesisRequest, family: str | None = None) -> Mode:
    """The request's mode, or the typed error that says what is wrong with it (for a model of ``family``: a
    voice made with the other family is refused, see :func:`engine.voices.check_voice_family`)."""
    try:
        mode = Mode("instruct" if r.mode == "instruct2" else r.mode)
    except ValueError:
        raise InputError(f"Unknown mode {r.mode!r}; use one of {', '.join(MODES)}.") from None
    if not isinstance(r.voice, Voice):
        raise InputError("A voice is needed: make one from a recording or load a saved one.")
    check_voice_family(r.voice, family)
    if not isinstance(r.text, str) or not all(isinstance(p, str) for p in r.pieces):
        raise TextInputError("The text to speak must be a string (or pieces of strings).")
    if r.text.strip() and r.pieces:
        raise InputError("Give the text or its pieces (from Engine.sentences), not both.")
    if not (isinstance(r.speed, (int, float)) and math.isfinite(r.speed) and 0.5 <= r.speed <= 2.0):
        raise InputError(f"Speed must be between 0.5 and 2.0, got {r.speed}.")
    if mode is Mode.ZERO_SHOT and not r.voice.transcript.strip():
        raise TextInputError("Zero-shot mode needs the transcript of the voice's clip; "
                             "type what is said in it, or use cross-lingual mode.")
    if not isinstance(r.instruction, str):
        raise TextInputError("The instruction must be text (empty when not in instruct mode).")
    if mode is Mode.INSTRUCT and not r.instruction.strip():
        raise TextInputError("Instruct mode needs an instruction, e.g. 'Speak slowly and softly.'")
    for what, value in (("pause", r.sentence_pause_s), ("fade", r.seam_fade_s)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= MAX_SEAM_S):
            raise InputError(f"The {what} between sentences must be 0 to {MAX_SEAM_S:g} seconds, got {value}.")
    check_seed(r.seed)
    return mode


class SynthesisTask:
    """One request (whisper's ``DecodingTask``): the parts every sentence shares are built once here, then
    :meth:`run` is a short loop over the sentences."""

    def __init__(self, engine: Engine, request: SynthesisRequest, cancel: CancelToken, sampler: Sampler | None):
        from .flow.cfm import tensor_sha256
        from .frontend.frontend import PromptFeatures

        self.engine, self.request, self.cancel, self.sampler = engine, request, cancel, sampler
        self.mode = check_request(request, engine.family)
        self.speech = engine.speech
        e, r, v = engine, request, request.voice
        self.pieces = list(r.pieces) if r.pieces else engine.sentences(r.text)
        if not self.pieces:
            raise TextInputError("There is no text to speak. Type some text first.")
        # The voice as every sentence's frontend sees it, and the text the LM prompt is made of (normalised once).
        self.voice_prompt = PromptFeatures(v.speech_tokens.reshape(1, -1).to(torch.int32),
                                           v.speech_feat.reshape(1, -1, v.speech_feat.shape[-1]).float(),
                                           v.embedding.reshape(1, -1).float()).trimmed(e.cfg.token_mel_ratio)
        if self.mode is Mode.ZERO_SHOT:
            self.prompt_text = e.text.normalize(v.transcript)
        elif self.mode is Mode.INSTRUCT:
            self.prompt_text = self.speech.instruction_prompt(e.text, r.instruction)
        else:
            self.prompt_text = ""
        seed = check_seed(r.seed)
        self.lm_rng = PortableRandom(seed, Stream.SAMPLER)
        self.vocoder_noise = self.speech.vocoder_noise(seed)
        self.flow_noise = _FlowNoise(seed, e.device, e.runtime.flow_noise)
        p = self.voice_prompt
        self.flow_token = p.speech_tokens.to(e.device)
        self.flow_feat = p.speech_feat.to(e.device, e.dtype)
        self.flow_embedding = p.embedding.to(e.device, e.dtype)
        # What the post-prompt flow state depends on (hashed once): prompt, noise, dtype, device, networks.
        self.prompt_key = (tensor_sha256(p.speech_tokens), tensor_sha256(p.speech_feat), tensor_sha256(p.embedding),
                           self._noise_key(seed), str(e.dtype), str(e.device), id(e.flow))
        self.clock = StageClock()
        self.plan = e.stream_plan(bool(r.stream))
        sr = e.sample_rate
        self.fade_n = int(round(r.seam_fade_s * sr))
        self.pause = np.zeros(int(round(r.sentence_pause_s * sr)), dtype=np.float32)

    def _noise_key(self, seed: int) -> tuple:
        if FlowNoise(self.engine.runtime.flow_noise) is FlowNoise.OFFICIAL:
            return ("official",)
        return ("portable", seed)

    def _inputs(self, sentence: str):
        fe, p = self.engine.frontend, self.voice_prompt
        if self.mode is Mode.ZERO_SHOT:
            return fe.zero_shot(sentence, self.prompt_text, p)
        if self.mode is Mode.CROSS_LINGUAL:
            return fe.cross_lingual(sentence, p)
        return fe.instruct2(sentence, self.prompt_text, p)

    def _flow_prompt(self, n_text: int) -> FlowPrompt:
        """The flow prompt with enough noise for this sentence's longest possible utterance (the LM stops at
        ``max_token_text_ratio`` speech tokens per text token)."""
        e = self.engine
        n_tokens = self.flow_token.shape[1] + int(n_text * MAX_TOKEN_TEXT_RATIO) + e.cfg.flow.pre_lookahead_len
        noise = self.flow_noise.frames(e.cfg.token_mel_ratio * n_tokens)
        return FlowPrompt(self.flow_token, self.flow_feat, self.flow_embedding, noise, self.prompt_key)

    def sentence(self, si: int, text: str) -> Iterator[AudioChunk]:
        """One sentence's chunks, with the seams (fades, the pause before the next sentence) applied."""
        e, r = self.engine, self.request
        inputs = self._inputs(text)
        n_text = int(inputs.text.shape[1])
        lm_tokens = e.lm.generate(inputs.text.reshape(-1),
                                  inputs.prompt_text.reshape(-1) if inputs.prompt_text is not None else (),
                                  inputs.llm_prompt_speech_token.reshape(-1)
                                  if inputs.llm_prompt_speech_token is not None else (),
                                  rng=self.lm_rng, sampler=self.sampler)
        watched = WatchedTokens(lm_tokens, r.watchdog, n_text)
        t2w = self.speech.token2wav(e.flow, e.hift, self.plan, self._flow_prompt(n_text), noise=self.vocoder_noise,
                                    speed=r.speed, stop=self.cancel, clock=self.clock, prompt_states=e.prompt_states)
        last_sentence = si == len(self.pieces) - 1
        first = True
        with SentenceThreads(e.cpu, self.speech.flow_tokens(watched), streamed=self.plan.stream,
                             split_rows=self.plan.incremental, stop=self.cancel) as threads:
            for piece in speak(watched, t2w, threads):
                if piece.watchdog and r.on_runaway == "raise":
                    raise GenerationError(f"Sentence {si + 1} ({text[:40]!r}): the watchdog {piece.watchdog}. "
                                          "Try another seed or rephrase the sentence.")
                samples = piece.wave.numpy().astype(np.float32, copy=False)
                if first and si > 0:
                    samples = fade(samples, self.fade_n, fade_in=True)
                if piece.is_final and not last_sentence:
                    samples = np.concatenate([fade(samples, self.fade_n, fade_in=False), self.pause])
                first = False
                yield AudioChunk(samples=samples, sample_rate=e.sample_rate, sentence_index=si,
                                 n_sentences=len(self.pieces), sentence_text=text,
                                 is_last=piece.is_final and last_sentence, sentence_end=piece.is_final,
                                 timings=self.clock.snapshot(), n_speech_tokens=piece.n_tokens,
                                 watchdog=piece.watchdog)
                self.cancel.raise_if_cancelled("Synthesis")

    def run(self) -> Iterator[AudioChunk]:
        self.cancel.raise_if_cancelled("Synthesis")
        for si, text in enumerate(self.pieces):
            yield from self.sentence(si, text)


__all__ = [
    "AudioChunk", "Download", "Engine", "FlowNoise", "MODES", "Mode", "Runtime", "SynthesisRequest", "SynthesisTask",
    "check_request",
]
