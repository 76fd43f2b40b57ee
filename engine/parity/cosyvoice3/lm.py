"""Parity of the CosyVoice 3 LM with ``goldens/lm.npz`` (README section 7).

CosyVoice 2's layout and bistream checks (:mod:`engine.parity.lm`: input embeddings, min/max length, every
step's logits, greedy tokens, teacher-forced hidden states, bistream feeding) on :class:`CosyVoice3LM`, plus
what only CosyVoice 3 has: the silent-token filter between LM and flow, the official min_len mask (index 6561
is sos here, so EOS is not masked) and the refusal of input without ``<|endofprompt|>``.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .. import CheckResult, Fixture, compare, equal
from ..lm import GOLDEN, _check_bistream, _check_layout, _ids, _layouts
from ..tolerance import NETWORK


def load_lm3(fx: Fixture):
    from ...llm.cosyvoice3_lm import CosyVoice3LM
    from ...llm.speech_lm import load_lm

    return load_lm(fx.model_dir, fx.config.lm, lm_class=CosyVoice3LM)


def _extras(fx: Fixture, lm, z) -> Iterator[CheckResult]:
    from ...errors import TextInputError
    from ...llm.cosyvoice3_lm import SILENT_TOKENS, drop_long_silences
    from ...rng import TorchRandom

    if "silent_filter/kept_tokens" in z.files:
        yield equal("lm/silent_filter/silent_tokens", sorted(SILENT_TOKENS), sorted(_ids(z["silent_filter/silent_tokens"])))
        kept = list(drop_long_silences(_ids(z["silent_filter/llm_tokens"])))
        yield compare("lm/silent_filter/kept_tokens", np.array(kept, dtype=np.int64), z["silent_filter/kept_tokens"])
    if "sampling_ids/scores_in" in z.files:
        # What the sampler sees before min_len: -inf exactly where the official mask puts it (index 6561, sos),
        # the rest untouched; and its best id is then eos (6562): min_len does not hold EOS back (quirk 1).
        seen = lm.mask_before_min_len(torch.from_numpy(z["sampling_ids/scores_in"].copy())).numpy()
        want = z["sampling_ids/ignore_eos_true_scores_seen"]
        yield compare("lm/sampling_ids/ignore_eos_true masked ids", np.isinf(seen), np.isinf(want))
        finite = np.isfinite(want)
        yield fx.check("lm/sampling_ids/ignore_eos_true_scores_seen", seen[finite], GOLDEN,
                       "sampling_ids/ignore_eos_true_scores_seen", NETWORK, want=want[finite])
        yield compare("lm/sampling_ids/ignore_eos_true_argmax", np.int64(int(np.argmax(seen))),
                      z["sampling_ids/ignore_eos_true_argmax"])
        yield compare("lm/sampling_ids/ignore_eos_false_argmax",
                      np.int64(int(np.argmax(z["sampling_ids/scores_in"]))), z["sampling_ids/ignore_eos_false_argmax"])
    no_eop = fx.meta.get("lm_layouts", {}).get("no_endofprompt")
    if no_eop and "zero_shot/text" in z.files:
        try:
            next(iter(lm.generate(_ids(z["zero_shot/text"]), rng=TorchRandom.seeded(0))))
            refused = False
        except TextInputError:
            refused = True
        yield equal(f"lm/no_endofprompt refused (official: {no_eop.get('raises')})", refused, True)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    z = fx.npz(GOLDEN)
    lm = load_lm3(fx)
    for name in _layouts(z):
        yield from _check_layout(fx, lm, z, name)
    if "bistream/yielded_tokens" in z.files:
        yield from _check_bistream(fx, lm, z)
    yield from _extras(fx, lm, z)
