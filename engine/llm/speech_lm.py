"""The CosyVoice 2 text-speech language model (``Qwen2LM`` in the official code).

It continues a sequence of embeddings with speech tokens (25 per second of audio):

    [ sos | text tokens (prompt text ++ text) | task_id | prompt speech tokens ] -> speech tokens ... EOS

``sos``/``task_id`` are the two rows of ``llm_embedding``; text goes through the Qwen2 token
table, speech tokens through ``speech_embedding``; ``llm_decoder`` turns the last hidden state
into scores over the 6561 speech tokens plus three specials: EOS (6561), an unused stop token
(6562) and the *fill* token (6563) of bidirectional streaming.

Input layouts of the official modes (all handled by :meth:`SpeechLM.generate`):

* zero-shot: prompt transcript as ``prompt_text``, the prompt's speech tokens as ``prompt_speech``;
* cross-lingual (and SFT): no prompt text, no prompt speech;
* instruct2: the instruction (ending in ``<|endofprompt|>``) as ``prompt_text``, no prompt speech.

:meth:`SpeechLM.generate_bistream` is the official "bistream" mode: text arrives in pieces and
is interleaved with speech, 5 text : 15 speech tokens.

Both are generators yielding one speech token per step, so a caller can stop between steps.
Every call makes its own KV cache; the module holds weights only.
"""
from __future__ import annotations

import gc
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ..checkpoints import load_into, read_state_dict
from ..config import LMConfig, ModelConfig, load_config
from ..errors import AudioInputError, ConfigError, GenerationError, NonFiniteError, TextInputError
from ..rng import RandomSource
from .qwen2 import KVCache, Qwen2ForCausalLM
from .sampling import Sampler, make_ras_sampler

# The official length limits of a sentence's speech, in speech tokens per text token (prompt excluded).
MIN_TOKEN_TEXT_RATIO = 2.0
MAX_TOKEN_TEXT_RATIO = 20.0

LLM_FILE = "llm.pt"
LM_CONVERSIONS = ("fp32", "bf16", "int8", "int8w")  # what convert_lm turns the LM weights into

# Embedding tables a fed row can come from (same numbering as the parity goldens' input_table).
LLM_EMBEDDING, SPEECH, TEXT = 0, 1, 2
Row = tuple[int, int]  # (table, row index)
SOS, TASK_ID = 0, 1  # rows of llm_embedding

TokenIds = Sequence[int] | Tensor


@dataclass
class LMStep:
    """What one forward step fed and produced (given to an optional observer, e.g. parity tests)."""

    rows: list[Row]  # the embeddings fed this step, as (table, index)
    logits: Tensor  # [V] raw llm_decoder output for the last fed position
    token: int  # the token chosen (stop and fill tokens included)


Observer = Callable[[LMStep], None]


class Qwen2Encoder(nn.Module):
    """Name shell so that parameter keys read ``llm.model.model.*`` like the official file."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.model = Qwen2ForCausalLM(cfg.qwen)


class SpeechLM(nn.Module):
    """Qwen2 backbone + the three CosyVoice tables (``llm_embedding``, ``speech_embedding``,
    ``llm_decoder``); parameter names equal the keys of the official ``llm.pt``."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        if cfg.llm_input_size != cfg.qwen.hidden_size or cfg.llm_output_size != cfg.qwen.hidden_size:
            raise ConfigError(f"cosyvoice2.yaml: llm_input_size/llm_output_size ({cfg.llm_input_size}/"
                              f"{cfg.llm_output_size}) differ from the Qwen2 hidden size {cfg.qwen.hidden_size} "
                              "in CosyVoice-BlankEN/config.json. Re-download the model.")
        self.cfg = cfg
        n_speech = cfg.speech_token_size
        self.llm_embedding = nn.Embedding(2, cfg.llm_input_size)
        self.llm = Qwen2Encoder(cfg)
        self.llm_decoder = nn.Linear(cfg.llm_output_size, n_speech + 3)
        self.speech_embedding = nn.Embedding(n_speech + 3, cfg.llm_input_size)
        self.eos_token = n_speech
        self.fill_token = n_speech + 2
        self.stop_tokens = frozenset((n_speech, n_speech + 1, n_speech + 2))
        self.sos_row: Row = (LLM_EMBEDDING, SOS)  # where the sos / task_id embeddings are (CosyVoice 3: SPEECH)
        self.task_row: Row = (LLM_EMBEDDING, TASK_ID)

    # ---------------------------------------------------------------- building blocks
    @property
    def qwen(self) -> Qwen2ForCausalLM:
        return self.llm.model

    def embedding_tables(self) -> tuple[Tensor | None, Tensor, Tensor]:
        """The weights a row's table number (LLM_EMBEDDING, SPEECH, TEXT) refers to."""
        return self.llm_embedding.weight, self.speech_embedding.weight, self.qwen.model.embed_tokens.weight

    def embed_rows(self, rows: Sequence[Row]) -> Tensor:
        """(table, index) rows -> embeddings [1, len(rows), H]."""
        tables = self.embedding_tables()
        which = torch.tensor([r[0] for r in rows], dtype=torch.long)
        index = torch.tensor([r[1] for r in rows], dtype=torch.long)
        ref = tables[SPEECH]
        out = torch.empty(len(rows), ref.shape[1], dtype=ref.dtype, device=ref.device)
        for t, weight in enumerate(tables):
            sel = which == t
            if bool(sel.any()):
                if weight is None:
                    raise GenerationError(f"This LM has no embedding table {t}; its input layout is wrong.")
                out[sel.to(ref.device)] = weight[index[sel].to(ref.device)]
        return out.unsqueeze(0)

    def layout_rows(self, text: TokenIds, prompt_text: TokenIds = (), prompt_speech: TokenIds = ()) -> list[Row]:
        """The official input layout ``[sos | prompt_text ++ text | task_id | prompt_speech]``."""
        return ([self.sos_row] + [(TEXT, t) for t in self._text_ids(prompt_text, "prompt text")]
                + [(TEXT, t) for t in self._text_ids(text, "text")] + [self.task_row]
                + [(SPEECH, s) for s in self._speech_ids(prompt_speech)])

    def new_cache(self, capacity: int) -> KVCache:
        return self.qwen.new_cache(capacity)

    def forward_step(self, x_embeds: Tensor, cache: KVCache) -> Tensor:
        """Feed embeddings [1, T, H] after what ``cache`` holds -> logits [V] of the last position."""
        if x_embeds.shape[1] == 1:
            hidden = self.qwen.decode_one_token(x_embeds, cache)
        else:
            hidden = self.qwen.prefill(x_embeds, cache)
        return self.llm_decoder(hidden[:, -1])[0].float()

    def _choose(self, logits: Tensor, out_tokens: list[int], sampler: Sampler, rng: RandomSource,
                allow_eos: bool) -> int:
        """The official sampling step: log_softmax, EOS banned while too short, then the sampler."""
        if not bool(torch.isfinite(logits).all()):
            raise NonFiniteError("LM")  # damaged weights: a clear error instead of a sampler traceback
        logp = logits.log_softmax(dim=-1)
        if not allow_eos:
            logp[self.eos_token] = -float("inf")
        return int(sampler(logp, out_tokens, rng))

    # ---------------------------------------------------------------- generation
    @torch.inference_mode()
    def generate(self, text: TokenIds, prompt_text: TokenIds = (), prompt_speech: TokenIds = (), *,
                 rng: RandomSource, sampler: Sampler | None = None,
                 min_token_text_ratio: float = MIN_TOKEN_TEXT_RATIO, max_token_text_ratio: float = MAX_TOKEN_TEXT_RATIO,
                 observer: Observer | None = None) -> Iterator[int]:
        """Yield speech tokens for ``text`` one by one until a stop token or ``max_len``.

        ``min_len = int(2 * len(text))`` tokens are produced at least (EOS banned before that),
        ``max_len = int(20 * len(text))`` at most; the prompt text does not count.
        """
        n_text = len(self._text_ids(text, "text"))
        if n_text == 0:
            raise TextInputError("There is no text to speak. Type some text first.")
        sampler = sampler or make_ras_sampler(self.cfg.sampling)
        rows = self.layout_rows(text, prompt_text, prompt_speech)
        min_len, max_len = int(n_text * min_token_text_ratio), int(n_text * max_token_text_ratio)
        cache = self.new_cache(len(rows) + max_len)
        x = self.embed_rows(rows)
        out_tokens: list[int] = []
        for i in range(max_len):
            logits = self.forward_step(x, cache)
            token = self._choose(logits, out_tokens, sampler, rng, allow_eos=i >= min_len)
            if observer is not None:
                observer(LMStep(rows, logits, token))
                rows = [(SPEECH, token)]
            if token in self.stop_tokens:
                return
            yield token
            out_tokens.append(token)
            x = self.speech_embedding.weight[token].view(1, 1, -1)

    @torch.inference_mode()
    def generate_bistream(self, text_pieces: Iterable[TokenIds], prompt_text: TokenIds = (),
                          prompt_speech: TokenIds = (), *, rng: RandomSource,
                          sampler: Sampler | None = None, max_token_text_ratio: float = MAX_TOKEN_TEXT_RATIO,
                          observer: Observer | None = None) -> Iterator[int]:
        """Yield speech tokens while text arrives piece by piece (official ``inference_bistream``).

        The model was trained on sequences mixing ``n_text`` (5) text tokens with ``n_speech``
        (15) speech tokens. The prompt transcript starts the text queue; blocks of 5 text + 15
        prompt speech tokens are queued while prompt speech remains (whatever prompt speech is
        left when the text ends is dropped, as in the official code). Then the model decodes;
        every 15 speech tokens a fill token is forced (the first one so that the prompt speech
        plus generated speech reach a multiple of 15), after which it waits for the next 5 text
        tokens. When the text ends, the rest of the text and ``task_id`` are fed and it decodes
        until EOS. Unlike the official loop (which has no limit) the last phase stops after
        ``max_token_text_ratio`` speech tokens per text token, so a runaway cannot loop forever.
        """
        sampler = sampler or make_ras_sampler(self.cfg.sampling)
        n_text, n_speech = self.cfg.mix_ratio
        rows, text_queue = self._bistream_start(self._text_ids(prompt_text, "prompt text"))  # rows: to feed next
        speech_queue = list(self._speech_ids(prompt_speech))
        next_fill = (len(speech_queue) // n_speech + 1) * n_speech - len(speech_queue)
        cache = self.new_cache(1 + len(text_queue) + len(speech_queue) + 256)  # grows when needed
        out_tokens: list[int] = []  # fill tokens included (the sampler's window sees them too)
        n_text_seen = n_yielded = 0

        def step(allow_eos: bool, forced: int | None = None) -> int:
            logits = self.forward_step(self.embed_rows(rows), cache)
            token = forced if forced is not None else self._choose(logits, out_tokens, sampler, rng, allow_eos)
            if observer is not None:
                observer(LMStep(list(rows), logits, token))
            return token

        for piece in text_pieces:
            ids = self._text_ids(piece, "text")
            n_text_seen += len(ids)
            text_queue += ids
            while speech_queue and len(text_queue) >= n_text:
                rows += [(TEXT, t) for t in text_queue[:n_text]] + [(SPEECH, s) for s in speech_queue[:n_speech]]
                del text_queue[:n_text], speech_queue[:n_speech]
            if speech_queue:
                continue  # still mixing in the prompt: wait for more text
            after_fill = bool(out_tokens) and out_tokens[-1] == self.fill_token
            # Official: (nothing decoded and the input is sos alone) - or after a fill token.
            if after_fill or (not out_tokens and len(rows) == 1):
                if len(text_queue) < n_text:
                    continue
                # After a fill token the pending row (the speech token before it) was already fed.
                block = [(TEXT, t) for t in text_queue[:n_text]]
                rows = block if after_fill else rows + block
                del text_queue[:n_text]
            while True:
                forced = self.fill_token if len(out_tokens) == next_fill else None
                token = step(allow_eos=False, forced=forced)
                if token == self.fill_token:
                    next_fill = len(out_tokens) + n_speech + 1
                out_tokens.append(token)
                if token == self.fill_token:
                    break  # wait for n_text more text tokens
                if token >= self.cfg.speech_token_size:
                    raise GenerationError(f"The speech LM produced the unexpected token {token} while streaming text.")
                yield token
                n_yielded += 1
                rows = [(SPEECH, token)]

        # Text finished. The official code appends to whatever it last held in its input, which
        # after a fill token is the speech token already fed before it: it is fed a second time.
        rows = rows + [(TEXT, t) for t in text_queue] + [self.task_row]
        limit = int(max(n_text_seen, 1) * max_token_text_ratio)
        while n_yielded < limit:
            token = step(allow_eos=True)
            out_tokens.append(token)
            if token == self.eos_token:
                return
            if token >= self.cfg.speech_token_size:
                raise GenerationError(f"The speech LM produced the unexpected token {token} instead of speech or EOS.")
            yield token
            n_yielded += 1
            rows = [(SPEECH, token)]

    def _bistream_start(self, prompt_text: list[int]) -> tuple[list[Row], list[int]]:
        """(rows fed first, text queued) of bistream mode: sos alone, the whole prompt text queued."""
        return [self.sos_row], list(prompt_text)

    # ---------------------------------------------------------------- input checks
    def _text_ids(self, ids: TokenIds, what: str) -> list[int]:
        out = _as_list(ids)
        vocab = self.cfg.qwen.vocab_size
        bad = [t for t in out if not 0 <= t < vocab]
        if bad:
            raise TextInputError(f"The {what} has token ids outside the vocabulary (0..{vocab - 1}): {bad[:5]}.")
        return out

    def _speech_ids(self, ids: TokenIds) -> list[int]:
        out = _as_list(ids)
        n = self.cfg.speech_token_size
        bad = [t for t in out if not 0 <= t < n]
        if bad:
            raise AudioInputError(f"The prompt speech has token ids outside 0..{n - 1}: {bad[:5]}. "
                                  "Re-extract the speech tokens of the reference audio.")
        return out


def _as_list(ids: TokenIds) -> list[int]:
    if isinstance(ids, Tensor):
        return [int(t) for t in ids.reshape(-1).tolist()]
    return [int(t) for t in ids]


def load_lm(model_dir: str | Path, cfg: ModelConfig | LMConfig | None = None, device: torch.device | str = "cpu",
            dtype: torch.dtype = torch.float32, lm_class: type[SpeechLM] | None = None) -> SpeechLM:
    """Build the LM on the meta device and load ``llm.pt`` into it (strict; typed errors).

    The LM runs in fp32 like the official code (``config.json``'s ``torch_dtype`` is ignored).
    ``lm_class``: the family's LM built from ``cfg`` (default :class:`SpeechLM`, CosyVoice 2's Qwen2LM).
    """
    model_dir = Path(model_dir)
    if cfg is None:
        cfg = load_config(model_dir)
    lm_cfg = cfg.lm if isinstance(cfg, ModelConfig) else cfg
    state = read_state_dict(model_dir / LLM_FILE)
    with torch.device("meta"):
        lm = (lm_class or SpeechLM)(lm_cfg)
    load_into(lm, state, LLM_FILE, assign=True)
    lm.qwen.tie_weights()  # assign replaced both tied parameters; share one again
    lm = lm.to(device=device, dtype=dtype)
    lm.qwen.tie_weights()
    return lm.eval().requires_grad_(False)


class Int8WeightLinear(nn.Module):
    """A Linear with int8 weights (one scale per output channel) and bf16 activations.

    Unlike dynamic quantisation the activations are never quantised, so outlier channels in the
    hidden states (common in Qwen-family models) cost no accuracy; the weights are read as int8.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        self.register_buffer("weight_int8", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(torch.bfloat16))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(torch.bfloat16))

    def forward(self, x: Tensor) -> Tensor:
        y = torch._weight_int8pack_mm(x.reshape(-1, x.shape[-1]).to(torch.bfloat16), self.weight_int8, self.scale)
        if self.bias is not None:
            y = y + self.bias
        return y.view(*x.shape[:-1], y.shape[-1])


def convert_lm(lm: SpeechLM, precision: str) -> SpeechLM:
    """Switch a loaded fp32 LM to a faster CPU precision (in place; returns it).

    * ``"fp32"``: the reference precision (parity goldens hold at ~2e-6).
    * ``"bf16"``: every weight and activation in bfloat16 (norms and the logits' softmax in fp32);
      halves the bytes read per token, and CPUs with AVX512-BF16/AMX run it natively.
    * ``"int8"``: dynamic int8 quantisation of the decoder layers' Linear weights (per output
      channel; activations quantised on the fly). Embeddings, norms and ``llm_decoder`` stay
      fp32 so the speech-token scores keep full resolution. Fastest on CPU.
    * ``"int8w"``: bf16 model whose decoder-layer Linears keep int8 weights but bf16 activations
      (:class:`Int8WeightLinear`): a little slower than ``int8``, safer if a model's activations
      have outliers that per-tensor activation quantisation would crush.

    The agreement of each with fp32 on the parity goldens is checked by
    ``engine.parity.lm.precision_agreement`` (tests/engine/test_lm.py).
    """
    if precision == "fp32":
        lm = lm.float()
    elif precision == "bf16":
        lm = lm.to(torch.bfloat16)
    elif precision == "int8":
        lm = lm.float()
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency;
            # the eager dynamic path still works and is what we need on CPU.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            quantize_dynamic(lm, {"llm.model.model.layers": per_channel_dynamic_qconfig},
                             dtype=torch.qint8, inplace=True)
        # The weights still in float may be views of the memory-mapped llm.pt, which would keep
        # the whole mapping (and the pages quantisation just read) resident: give them their own
        # memory so the file's pages are released.
        with torch.no_grad():
            for t in list(lm.parameters()) + list(lm.buffers()):
                t.data = t.data.clone()
    elif precision == "int8w":
        if not hasattr(torch, "_weight_int8pack_mm"):
            raise ConfigError("This PyTorch build has no int8 weight-only kernel; use the 'int8' or 'bf16' precision.")
        lm = lm.to(torch.bfloat16)
        for layer in lm.qwen.model.layers:
            for parent in (layer.self_attn, layer.mlp):
                for name, child in list(parent.named_children()):
                    if isinstance(child, nn.Linear):
                        setattr(parent, name, Int8WeightLinear(child))
    else:
        raise ConfigError(f"Unknown LM precision {precision!r}; use one of {', '.join(LM_CONVERSIONS)}.")
    lm.qwen.tie_weights()
    gc.collect()  # the replaced modules sit in reference cycles; free their weights now
    return lm
