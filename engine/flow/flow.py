"""Speech tokens + prompt -> 80-bin mel (CosyVoice 2 ``CausalMaskedDiffWithXvec`` at inference).

    [prompt tokens | tokens] ─► embedding ─► encoder (×2 upsampling) ─► encoder_proj = mu [1, 80, 2·(P+T)]
    cond = prompt mel on the first F frames, 0 after; spks = Linear(normalize(x-vector))
    CFM: noise ─(10 Euler steps, CFG)─► mel; the first F (prompt) frames are dropped.

Two ways to stream:

* :meth:`Flow.inference` with ``streaming=True, finalize=False`` is the reference's chunk call: it re-runs
  everything over all tokens so far (chunk k costs O(k)), the last ``pre_lookahead_len`` tokens only serve as
  look-ahead and their frames are not produced.
* :meth:`Flow.start_stream` / :meth:`Flow.stream_step` encode and integrate only the new chunks, keeping a
  :class:`FlowStreamState` (encoder cache + one estimator cache per ODE step). The state is a value that the
  caller passes in and gets back; the module holds none. Its output equals the reference's streaming chunk
  calls (same noise prefix, streaming masks). The reference's LAST call instead re-runs the whole utterance
  with ``streaming=False`` (full attention: every frame sees the future), so its tail cannot come from the
  caches; ``stream_step(..., finalize=True, reference_final=True)`` does exactly that call (one O(N) pass),
  the default finalizes incrementally with the streaming masks (what ``inference(streaming=True,
  finalize=True)`` gives). On the tiny random-weight fixture the two tails differ by up to ~0.9 (mean ~0.16)
  in log-mel: full attention changes every frame, not a rounding effect. A stream whose caches would pass its
  memory budget keeps them where they are and re-makes the frames after that point on every later step (the
  same frames; the cost per chunk grows from there, the memory does not).

Frames are returned exactly once each, from the first frame after the prompt mel (``prompt_feat`` frames,
which may be 2·P ± 1 for voice conversion) to the end.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoints import check_fits, load_into, read_state_dict
from ..config import FlowConfig, ModelConfig, load_config
from ..errors import GenerationError, InputError
from ..rng import RandomSource
from .cfm import BATCH_ROWS, CFM, SPLIT_ROWS, Helper, ShouldStop, official_noise
from .decoder import EstimatorCache
from .encoder import EncoderCache, UpsampleConformerEncoder
from .kv_history import PAGE_FRAMES, KVStorage


@dataclass(frozen=True)
class FlowStreamState:
    """Everything incremental streaming remembers between steps (never mutated; steps return a new one).

    ``tokens``: prompt + generated tokens received so far ([1, n]); ``done``: how many of them are encoded and
    integrated (a multiple of the encoder chunk until the final step). ``noise`` covers at least the frames
    done so far; ``rng`` (if any) draws more when it runs out. ``decoder``: one estimator cache per ODE step.
    The K/V histories are :class:`~engine.flow.kv_history.History` pages shared with the states before and after
    this one; appending never rewrites what an existing state reads, so any state may be stepped again (a
    fork copies one page) and e.g. the post-prompt state can be reused for every sentence of a voice.
    """

    tokens: Tensor
    n_prompt_tokens: int
    prompt_feat: Tensor  # [1, F, 80]
    spks: Tensor  # [1, 80] projected speaker embedding
    noise: Tensor  # [1, 80, >= 2·done]
    rng: RandomSource | None
    done: int = 0
    encoder: Any = None  # the token encoder's cache (CosyVoice 2: EncoderCache; CosyVoice 3: pre-lookahead tail)
    decoder: tuple[tuple[EstimatorCache, ...], ...] | None = None  # [ODE step][row group]
    finished: bool = False
    rows: tuple[tuple[int, int], ...] = BATCH_ROWS  # how the guidance rows are run (cfm.BATCH_ROWS / SPLIT_ROWS)
    kv_storage: KVStorage = KVStorage.EXACT  # how the estimator keeps past keys/values (flow/kv_history.py)
    history_budget: int | None = None  # bytes the estimator caches may reach (None: no bound); see stream_step
    anchor: int | None = None  # past the budget: tokens the kept caches cover; later steps re-run from there

    @property
    def recomputing(self) -> bool:
        """Whether the stream passed its budget: its caches stay at ``anchor`` and each step re-runs from there."""
        return self.anchor is not None


class StreamingFlow(nn.Module):
    """Tokens -> mu (the family's token encoder) -> CFM, one-shot and incrementally streamed.

    A subclass provides ``input_embedding``, ``spk_embed_affine_layer``, ``decoder`` (a :class:`CFM`), ``cfg``
    (with ``vocab_size``, ``output_size``, ``pre_lookahead_len``) and the three encoder hooks below; everything
    else (noise, conditions, chunk bookkeeping, the stream state) is shared by CosyVoice 2 and 3.
    """

    cfg: Any
    decoder: CFM

    @property
    def frames_per_token(self) -> int:
        """Mel frames per speech token."""
        raise NotImplementedError

    @property
    def token_chunk(self) -> int:
        """Tokens per streaming attention chunk: a stream only integrates whole chunks (but for its last call)."""
        raise NotImplementedError

    def encode_chunk(self, x: Tensor, context: Tensor | None, cache: Any, streaming: bool) -> tuple[Tensor, Any]:
        """Embedded tokens [1, T, D] after those ``cache`` covers (None: none) + embedded look-ahead tokens
        [1, c, D] (None: zeros) -> (mu [1, 80, T·frames_per_token], the cache including these tokens)."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------------
    # Pieces
    # ---------------------------------------------------------------------------------------------------
    def speaker(self, embedding: Tensor) -> Tensor:
        """x-vector [1, 192] -> [1, 80] (L2-normalised, then projected)."""
        return self.spk_embed_affine_layer(F.normalize(embedding, dim=1))

    def embed_tokens(self, token: Tensor) -> Tensor:
        if token.numel() and (int(token.min()) < 0 or int(token.max()) >= self.cfg.vocab_size):
            raise InputError(f"Speech token ids must be in [0, {self.cfg.vocab_size}); got "
                             f"{int(token.min())}..{int(token.max())}. Pass LM speech tokens without stop tokens.")
        return self.input_embedding(token.long())

    def _cond(self, prompt_feat: Tensor, start: int, n: int) -> Tensor:
        """Frames start..start+n-1 of the condition: the prompt mel where it exists, zeros after. [1, 80, n]."""
        cond = prompt_feat.new_zeros(1, n, self.cfg.output_size)
        stop = min(prompt_feat.size(1), start + n)
        if stop > start:
            cond[:, : stop - start] = prompt_feat[:, start:stop]
        return cond.transpose(1, 2)

    @staticmethod
    def _check_inputs(token: Tensor, prompt_token: Tensor, prompt_feat: Tensor, embedding: Tensor) -> None:
        if token.dim() != 2 or token.size(0) != 1 or prompt_token.dim() != 2 or prompt_token.size(0) != 1:
            raise InputError("Flow takes one utterance: token and prompt_token must be [1, n].")
        if prompt_feat.dim() != 3 or prompt_feat.size(0) != 1 or prompt_feat.size(2) != 80:
            raise InputError(f"prompt_feat must be [1, frames, 80]; got {tuple(prompt_feat.shape)}.")
        if embedding.dim() != 2 or embedding.size(0) != 1:
            raise InputError(f"embedding must be [1, dim]; got {tuple(embedding.shape)}.")

    # ---------------------------------------------------------------------------------------------------
    # Reference-equivalent one-shot call
    # ---------------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def inference(self, token: Tensor, prompt_token: Tensor, prompt_feat: Tensor, embedding: Tensor, *,
                  streaming: bool, finalize: bool, noise: Tensor | None = None,
                  rng: RandomSource | None = None, should_stop: ShouldStop | None = None) -> Tensor:
        """Mel [1, 80, T_gen] for ``token`` [1, T] spoken like the prompt (prompt frames removed).

        ``streaming``: chunk attention masks (what the reference uses for chunk calls). ``finalize=False``: the
        last ``pre_lookahead_len`` tokens are look-ahead only; their frames are not produced.
        Noise: ``noise`` [1, 80, >= total frames] if given, else drawn from ``rng``, else the reference's
        fixed noise (:func:`official_noise`). ``should_stop``: asked before every ODE step; True raises
        :class:`~engine.errors.Cancelled` (cancelling within one estimator pass)."""
        self._check_inputs(token, prompt_token, prompt_feat, embedding)
        return self._one_shot(token, prompt_token, prompt_feat, self.speaker(embedding), streaming, finalize,
                              noise, rng, should_stop)

    def _one_shot(self, token: Tensor, prompt_token: Tensor, prompt_feat: Tensor, spks: Tensor, streaming: bool,
                  finalize: bool, noise: Tensor | None, rng: RandomSource | None,
                  should_stop: ShouldStop | None = None) -> Tensor:
        mu = self.encode(token, prompt_token, streaming=streaming, finalize=finalize)
        n_frames, n_prompt = mu.size(2), prompt_feat.size(1)
        if n_prompt > n_frames:
            raise InputError(f"prompt_feat has {n_prompt} frames but the tokens only give {n_frames}.")
        z = self._noise(noise, rng, n_frames, mu.dtype)
        mel = self.decoder.solve(z, mu, spks, self._cond(prompt_feat, 0, n_frames), streaming,
                                 should_stop=should_stop)
        return mel[:, :, n_prompt:].float()

    @torch.inference_mode()
    def encode(self, token: Tensor, prompt_token: Tensor, *, streaming: bool, finalize: bool) -> Tensor:
        """mu [1, 80, frames]: the token encoder's output (what the CFM is conditioned on)."""
        lookahead = self.cfg.pre_lookahead_len
        if not finalize and token.size(1) <= lookahead:
            raise InputError(f"A non-final flow call needs more than {lookahead} tokens (the last {lookahead} are "
                             "look-ahead only).")
        x = self.embed_tokens(torch.cat([prompt_token, token], dim=1))
        context = None
        if not finalize:
            x, context = x[:, :-lookahead], x[:, -lookahead:]
        return self.encode_chunk(x, context, None, streaming)[0]

    @staticmethod
    def _noise(noise: Tensor | None, rng: RandomSource | None, n_frames: int, dtype) -> Tensor:
        if noise is None:
            if rng is not None:
                return rng.normal([1, 80, n_frames]).to(dtype=dtype)
            noise = official_noise()
        if noise.dim() != 3 or noise.size(1) != 80 or noise.size(2) < n_frames:
            raise InputError(f"The flow noise must be [1, 80, >= {n_frames}] for this utterance; got "
                             f"{tuple(noise.shape)}. Split long text into shorter segments.")
        return noise[:, :, :n_frames].to(dtype)

    # ---------------------------------------------------------------------------------------------------
    # Incremental streaming (no recomputation of earlier chunks)
    # ---------------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def start_stream(self, prompt_token: Tensor, prompt_feat: Tensor, embedding: Tensor, *,
                     noise: Tensor | None = None, rng: RandomSource | None = None,
                     should_stop: ShouldStop | None = None, split_rows: bool = False,
                     helper: Helper | None = None, kv_storage: KVStorage = KVStorage.EXACT,
                     history_budget: int | None = None) -> FlowStreamState:
        """A stream state for this prompt, with the prompt chunks that need no generated token already done.

        Noise as in :meth:`inference`: ``noise`` (used as given, must be long enough), else drawn from
        ``rng`` chunk by chunk (so it differs from a one-shot draw with the same seed), else the
        reference's fixed noise. ``should_stop`` as in :meth:`inference`. ``split_rows``: run the two guidance
        rows as separate estimator calls for the whole stream (:data:`~engine.flow.cfm.SPLIT_ROWS`; lets
        :meth:`stream_step` put one on a ``helper`` thread, as this call does with ``helper``). ``kv_storage``: how the
        estimator keeps earlier frames' keys/values for the whole stream (:mod:`engine.flow.kv_history`:
        ``EXACT`` is bit-identical to recomputing; ``BF16``/``INT8`` hold 1/2 and ~1/4 of the memory).
        ``history_budget``: the most bytes those caches may reach (None: no bound; see :meth:`stream_step`)."""
        self._check_inputs(prompt_token, prompt_token, prompt_feat, embedding)
        if noise is None and rng is None:
            noise = official_noise()
        if noise is None:
            noise = torch.zeros(1, 80, 0)
        state = FlowStreamState(tokens=prompt_token.long(), n_prompt_tokens=prompt_token.size(1),
                                prompt_feat=prompt_feat, spks=self.speaker(embedding), noise=noise,
                                rng=rng, rows=SPLIT_ROWS if split_rows else BATCH_ROWS, kv_storage=kv_storage,
                                history_budget=history_budget)
        return self.stream_step(state, prompt_token.new_zeros(1, 0), finalize=False, should_stop=should_stop,
                                helper=helper)[1]

    @torch.inference_mode()
    def stream_step(self, state: FlowStreamState, new_tokens: Tensor, finalize: bool, *,
                    reference_final: bool = False, should_stop: ShouldStop | None = None,
                    helper: Helper | None = None) -> tuple[Tensor, FlowStreamState]:
        """Add ``new_tokens`` [1, n] (n may be 0) and return the mel frames that became final + the new state.

        Without ``finalize`` a chunk of ``static_chunk_size`` tokens is produced once the ``pre_lookahead_len``
        tokens after it have arrived; several ready chunks are done in one pass. ``finalize`` produces
        everything left: by default incrementally with the streaming masks (the last tokens see zeros as
        look-ahead), or with ``reference_final=True`` the way the reference's last call does it: one
        non-streaming (full attention) pass over the whole utterance, of which the frames not yet returned
        are kept (exact reference output, at the cost of recomputing everything once). Prompt frames are
        never returned. Returns [1, 80, m] (m may be 0). ``should_stop`` as in :meth:`inference`; a cancelled
        step raises and leaves ``state`` (a value) as it was. ``helper``: for a split-rows state, where the
        unconditioned row may run (:data:`~engine.flow.cfm.Helper`); the result is the same either way.

        Memory: the caches grow by :meth:`CFM.history_frame_bytes` per frame (4.6 MB in fp32 at official size,
        so a 60 s sentence would need ~14 GB). A step that would take them past ``state.history_budget`` keeps
        them as they are (the ``anchor``) and from then on re-runs every frame after the anchor on each step,
        the reference's chunk call from that point: the same frames, memory that no longer grows with the
        sentence, and each step costing the frames since the anchor instead of its own."""
        if state.finished:
            raise GenerationError("This flow stream is finalized; start a new one for the next utterance.")
        if new_tokens.dim() != 2 or new_tokens.size(0) != 1:
            raise InputError("stream_step takes new tokens as [1, n].")
        tokens = torch.cat([state.tokens, new_tokens.long().to(state.tokens.device)], dim=1)
        n, chunk, lookahead = tokens.size(1), self.token_chunk, self.cfg.pre_lookahead_len
        if finalize:
            end = n
        else:
            end = (max(n - lookahead, 0) // chunk) * chunk
        state = replace(state, tokens=tokens)
        if finalize and reference_final:
            return self._reference_final(state, should_stop)
        if end <= state.done:
            if finalize:
                state = replace(state, finished=True)
            return tokens.new_zeros(1, 80, 0, dtype=torch.float32), state
        # All ready chunks go in one pass: the chunk masks make it the same computation as one pass per chunk,
        # and bigger matrices use the cores better (measured: README, Performance). Cancel stays responsive: the
        # estimator polls ``should_stop`` between stages.
        if not state.recomputing and self._over_budget(state, end):
            state = replace(state, anchor=state.done)
        mel, state = self._advance(state, end, finalize, should_stop, helper)
        return mel, replace(state, finished=finalize)

    def _over_budget(self, state: FlowStreamState, end: int) -> bool:
        """Whether caches covering tokens ``0..end`` (and their last pages' spare room) would pass the budget."""
        if state.history_budget is None:
            return False
        per_frame = self.decoder.history_frame_bytes(state.kv_storage, self.input_embedding.weight.dtype)
        return per_frame * (end * self.frames_per_token + PAGE_FRAMES) > state.history_budget

    def _reference_final(self, state: FlowStreamState, should_stop: ShouldStop | None = None
                         ) -> tuple[Tensor, FlowStreamState]:
        p, ratio = state.n_prompt_tokens, self.frames_per_token
        noise = self._extend_noise(state, state.tokens.size(1) * ratio)
        mel = self._one_shot(state.tokens[:, p:], state.tokens[:, :p], state.prompt_feat, state.spks,
                             streaming=False, finalize=True, noise=noise, rng=None, should_stop=should_stop)
        emitted = max(0, state.done * ratio - state.prompt_feat.size(1))
        final = replace(state, noise=noise, done=state.tokens.size(1), encoder=None, decoder=None,
                        finished=True)
        return mel[:, :, emitted:], final

    @staticmethod
    def _extend_noise(state: FlowStreamState, n_frames: int) -> Tensor:
        noise, rng = state.noise, state.rng
        if noise.size(2) < n_frames:
            if rng is None:
                raise InputError(f"The flow noise has {noise.size(2)} frames but this utterance needs {n_frames}. "
                                 "Split long text into shorter segments.")
            more = rng.normal([1, 80, n_frames - noise.size(2)])
            noise = torch.cat([noise, more.to(noise)], dim=2)
        return noise

    def _advance(self, state: FlowStreamState, end: int, finalize: bool, should_stop: ShouldStop | None = None,
                 helper: Helper | None = None) -> tuple[Tensor, FlowStreamState]:
        """Encode and integrate the tokens after the caches up to ``end`` and return the frames not yet returned.
        While caching, the caches cover exactly what was returned and grow by this call; past the budget they
        stay at the anchor and the frames after it are re-made each time (the chunk masks make them the same)."""
        start = state.done if state.anchor is None else state.anchor
        lookahead, ratio = self.cfg.pre_lookahead_len, self.frames_per_token
        f0, f1, first_out = start * ratio, end * ratio, max(state.prompt_feat.size(1), state.done * ratio)
        noise = self._extend_noise(state, f1)  # drawn as far as every call goes, so a seeded draw stays the same
        if state.recomputing and first_out >= f1:  # prompt frames only: nothing to return and nothing to keep
            return torch.zeros(1, 80, 0), replace(state, noise=noise, done=end)
        x = self.embed_tokens(state.tokens[:, start:end])
        context = None if finalize else self.embed_tokens(state.tokens[:, end:end + lookahead])
        mu, enc_cache = self.encode_chunk(x, context, state.encoder, streaming=True)
        z = noise[:, :, f0:f1].to(mu.dtype)
        cond = self._cond(state.prompt_feat, f0, f1 - f0)
        keep = not finalize and not state.recomputing
        mel, dec_caches = self.decoder.solve_chunk(z, mu, state.spks, cond, state.decoder, streaming=True,
                                                   keep_cache=keep, should_stop=should_stop,
                                                   rows=state.rows, helper=helper, kv_storage=state.kv_storage)
        out = mel[:, :, first_out - f0:].float()
        if state.recomputing:
            return out, replace(state, noise=noise, done=end)
        return out, replace(state, noise=noise, done=end, encoder=enc_cache, decoder=dec_caches if keep else None)


class Flow(StreamingFlow):
    """CosyVoice 2 (``CausalMaskedDiffWithXvec``): embedding -> UpsampleConformerEncoder -> encoder_proj = mu."""

    def __init__(self, cfg: FlowConfig):
        super().__init__()
        self.cfg = cfg
        self.input_embedding = nn.Embedding(cfg.vocab_size, cfg.input_size)
        self.spk_embed_affine_layer = nn.Linear(cfg.spk_embed_dim, cfg.output_size)
        self.encoder = UpsampleConformerEncoder(cfg.encoder)
        self.encoder_proj = nn.Linear(cfg.encoder.output_size, cfg.output_size)
        self.decoder = CFM(cfg.cfm, cfg.estimator)

    @property
    def frames_per_token(self) -> int:
        return self.cfg.encoder.up_stride

    @property
    def token_chunk(self) -> int:
        return self.cfg.encoder.static_chunk_size

    def encode_chunk(self, x: Tensor, context: Tensor | None, cache: EncoderCache | None,
                     streaming: bool) -> tuple[Tensor, EncoderCache]:
        h, enc_cache = self.encoder.forward_chunk(x, context, cache or EncoderCache(), streaming=streaming)
        return self.encoder_proj(h).transpose(1, 2), enc_cache


def load_flow_weights(flow: nn.Module, model_dir: str | Path, device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float32) -> nn.Module:
    """Load ``flow.pt`` strictly into ``flow`` built on the meta device (no random init) and move it."""
    sd = read_state_dict(Path(model_dir) / "flow.pt")
    check_fits(flow, sd, "flow.pt")  # before to_empty allocates what the config asks for
    flow = flow.to_empty(device=device)
    load_into(flow, sd, "flow.pt")
    return flow.to(dtype=dtype).eval()


def load_flow(model_dir: str | Path, cfg: FlowConfig | ModelConfig | None = None, device: str | torch.device = "cpu",
              dtype: torch.dtype = torch.float32) -> Flow:
    """Build the flow from the config (on the meta device, no random init) and load ``flow.pt`` strictly."""
    model_dir = Path(model_dir)
    if cfg is None:
        cfg = load_config(model_dir)
    if isinstance(cfg, ModelConfig):
        cfg = cfg.flow
    with torch.device("meta"):
        flow = Flow(cfg)
    return load_flow_weights(flow, model_dir, device, dtype)
