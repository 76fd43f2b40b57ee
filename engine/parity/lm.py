"""Parity of the text-speech LM with ``goldens/lm.npz``.

Layout goldens (``<layout>/lm_input`` present; zero_shot, cross_lingual, instruct2, ...): the input
embeddings, min/max length, every decode step's raw logits, the tokens of the deterministic
sampler below and the teacher-forced hidden states. ``bistream/*``: the streaming-text mode with
the text ids fed one token at a time: yielded tokens, what each step fed (lengths, table/row ids,
embeddings) and per-step logits / argmaxes.

The reference's random sampler was replaced by (README section 7)::

    if len(decoded) >= STOP_AT and scores[EOS] != -inf: return EOS
    return argmax(scores[:EOS])
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from . import CheckResult, Fixture, compare
from .tolerance import NETWORK
from ..llm.speech_lm import LMStep, SpeechLM, load_lm
from ..rng import TorchRandom

GOLDEN = "lm.npz"
BISTREAM_STOP_AT = 100  # README section 7


def greedy_sampler(stop_at: int, eos: int, masked: int | None = None):
    """The goldens' deterministic stand-in for ras_sampling. ``masked`` is the index the official min_len mask
    sets to -inf, which is also where the speech ids end (CosyVoice 2: EOS itself; CosyVoice 3: sos, 6561)."""
    masked = eos if masked is None else masked

    def sampler(scores: torch.Tensor, decoded, rng) -> int:
        if len(decoded) >= stop_at and scores[masked] != -float("inf"):
            return eos
        return int(scores[:masked].argmax())

    return sampler


def _ids(a: np.ndarray) -> list[int]:
    return [int(t) for t in np.asarray(a).reshape(-1)]


def _layouts(z) -> list[str]:
    return sorted(k[: -len("/lm_input")] for k in z.files if k.endswith("/lm_input"))


def _check_layout(fx: Fixture, lm: SpeechLM, z, name: str) -> Iterator[CheckResult]:
    text, prompt_text = _ids(z[f"{name}/text"]), _ids(z[f"{name}/prompt_text"])
    prompt_speech = _ids(z[f"{name}/prompt_speech_token"])
    rows = lm.layout_rows(text, prompt_text, prompt_speech)
    yield fx.check(f"lm/{name}/lm_input", lm.embed_rows(rows), GOLDEN, f"{name}/lm_input", NETWORK)
    if f"{name}/min_len" in z.files:
        yield compare(f"lm/{name}/min_len", np.int64(int(len(text) * 2)), z[f"{name}/min_len"])
        yield compare(f"lm/{name}/max_len", np.int64(int(len(text) * 20)), z[f"{name}/max_len"])

    want_tokens = z[f"{name}/greedy_tokens"]
    # STOP_AT was 30 and the reference yields max(STOP_AT, min_len) tokens; stopping at the
    # golden's length reproduces that whichever of the two was larger.
    steps: list[LMStep] = []
    sampler = greedy_sampler(len(want_tokens), lm.eos_token, lm.cfg.speech_token_size)
    got = list(lm.generate(text, prompt_text, prompt_speech, rng=TorchRandom.seeded(0), sampler=sampler,
                           observer=steps.append))
    yield compare(f"lm/{name}/greedy_tokens", np.array(got, dtype=np.int64), want_tokens)
    logits = torch.stack([s.logits for s in steps])
    yield fx.check(f"lm/{name}/step_logits", logits, GOLDEN, f"{name}/step_logits", NETWORK)

    if f"{name}/tf_hidden" in z.files:
        tf_rows = rows + [(1, int(t)) for t in want_tokens]
        cache = lm.new_cache(len(tf_rows))
        hidden = lm.qwen.prefill(lm.embed_rows(tf_rows), cache)[0]
        yield fx.check(f"lm/{name}/tf_hidden", hidden, GOLDEN, f"{name}/tf_hidden", NETWORK)
        # Our own KV-cache loop against our own full pass (the reference's differ by ~2e-6): two summation
        # orders of one computation, bounded like the logits themselves.
        n = min(len(logits), len(hidden) - len(rows) + 1)
        full = lm.llm_decoder(hidden[len(rows) - 1: len(rows) - 1 + n]).float()
        err = float((full - logits[:n]).abs().max())
        tol = NETWORK.bound(fx.spread(GOLDEN, f"{name}/step_logits"))
        yield CheckResult(f"lm/{name}/kv_cache_vs_full_pass", err, tol, err <= tol)


def _check_bistream(fx: Fixture, lm: SpeechLM, z) -> Iterator[CheckResult]:
    text_ids = _ids(z["bistream/text_ids"])
    steps: list[LMStep] = []
    sampler = greedy_sampler(BISTREAM_STOP_AT, lm.eos_token, lm.cfg.speech_token_size)
    got = list(lm.generate_bistream(([t] for t in text_ids), _ids(z["bistream/prompt_text"]),
                                    _ids(z["bistream/prompt_speech_token"]), rng=TorchRandom.seeded(0),
                                    sampler=sampler, observer=steps.append))
    yield compare("lm/bistream/yielded_tokens", np.array(got, dtype=np.int64), z["bistream/yielded_tokens"])
    yield compare("lm/bistream/step_input_lengths", np.array([len(s.rows) for s in steps], dtype=np.int64),
                  z["bistream/step_input_lengths"])
    fed = [r for s in steps for r in s.rows]
    if "bistream/input_table" in z.files:
        yield compare("lm/bistream/input_table", np.array([r[0] for r in fed], dtype=np.int64), z["bistream/input_table"])
        yield compare("lm/bistream/input_ids", np.array([r[1] for r in fed], dtype=np.int64), z["bistream/input_ids"])
    if "bistream/input_sequence" in z.files:
        yield fx.check("lm/bistream/input_sequence", lm.embed_rows(fed), GOLDEN, "bistream/input_sequence", NETWORK)
    logits = torch.stack([s.logits for s in steps])
    n_speech = lm.cfg.speech_token_size  # speech ids end here (CosyVoice 2: EOS; CosyVoice 3: sos)
    if "bistream/step_logits_first20" in z.files:
        want = z["bistream/step_logits_first20"]
        yield fx.check("lm/bistream/step_logits_first20", logits[: len(want)], GOLDEN, "bistream/step_logits_first20",
                       NETWORK)
    yield compare("lm/bistream/step_argmax_all", logits.argmax(-1), z["bistream/step_argmax_all"])
    yield compare("lm/bistream/step_argmax_speech", logits[:, :n_speech].argmax(-1), z["bistream/step_argmax_speech"])
    yield fx.check("lm/bistream/step_max_speech", logits[:, :n_speech].max(-1).values, GOLDEN,
                   "bistream/step_max_speech", NETWORK)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    z = fx.npz(GOLDEN)
    lm = load_lm(fx.model_dir, fx.config)
    for name in _layouts(z):
        yield from _check_layout(fx, lm, z, name)
    if "bistream/yielded_tokens" in z.files:
        yield from _check_bistream(fx, lm, z)


def precision_agreement(fx: Fixture, precision: str) -> dict:
    """How far a faster precision (``"bf16"``, ``"int8"``) lands from the fp32 goldens.

    Teacher-forced on every layout's golden tokens (so one early difference does not derail the
    rest): ``token_agreement`` = share of steps whose best speech token equals the golden's,
    ``max_logit_err`` = max |logits - golden logits|, ``logit_range`` = the goldens' spread (for scale).
    """
    from ..llm.speech_lm import convert_lm

    z = fx.npz(GOLDEN)
    lm = convert_lm(load_lm(fx.model_dir, fx.config), precision)
    eos = lm.eos_token
    agree = total = 0
    err = 0.0
    lo, hi = float("inf"), -float("inf")
    for name in _layouts(z):
        tokens = [int(t) for t in z[f"{name}/greedy_tokens"]]
        want = torch.from_numpy(z[f"{name}/step_logits"])

        def forced(scores, decoded, rng, tokens=tokens):
            return tokens[len(decoded)] if len(decoded) < len(tokens) else eos

        steps: list[LMStep] = []
        for _ in lm.generate(_ids(z[f"{name}/text"]), _ids(z[f"{name}/prompt_text"]),
                             _ids(z[f"{name}/prompt_speech_token"]), rng=TorchRandom.seeded(0),
                             sampler=forced, observer=steps.append):
            pass
        got = torch.stack([s.logits for s in steps])
        agree += int((got[:, :eos].argmax(-1) == want[:, :eos].argmax(-1)).sum())
        total += len(want)
        err = max(err, float((got - want).abs().max()))
        lo, hi = min(lo, float(want.min())), max(hi, float(want.max()))
    return {"precision": precision, "steps": total, "token_agreement": agree / max(total, 1),
            "max_logit_err": err, "logit_range": hi - lo}
