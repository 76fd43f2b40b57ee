"""Parity of CosyVoice 3's per-mode model inputs with ``goldens/frontend.npz``.

The inputs of ``meta.json -> frontend_texts_used`` (official-style texts that already carry the system prompt,
so :class:`~engine.frontend.frontend_cv3.CosyVoice3Frontend` passes them through) after the reference's
``text_normalize(split=False)``; the comparison is CosyVoice 2's (:func:`engine.parity.frontend.compare_inputs`).
"""
from __future__ import annotations

from typing import Iterator

from .. import CheckResult, Fixture
from ..frontend import GOLDEN, compare_inputs, groups


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    from ...frontend.audio import load_audio
    from ...frontend.frontend_cv3 import CosyVoice3Frontend
    from ...frontend.text import reference_text_normalize

    used = fx.meta.get("frontend_texts_used", {})
    front = CosyVoice3Frontend.from_model_dir(fx.model_dir)
    prompts = {}

    def raw_prompt(wav: str):
        if wav not in prompts:
            audio, sr = load_audio(fx.wavs_dir / f"{wav}.wav")
            prompts[wav] = front.prompt(audio, sr, trim=False)
        return prompts[wav]

    def text(key: str) -> str:
        return reference_text_normalize(used[key], front.tokenizer, split=False)

    for group in groups(fx.npz(GOLDEN)):
        prompt = raw_prompt(used.get("prompt_wav", ""))
        if group == "zero_shot":
            inputs = front.zero_shot(text("zero_shot_tts_text"), text("zero_shot_prompt_text"), prompt)
        elif group == "cross_lingual":
            inputs = front.cross_lingual(text("cross_lingual_tts_text"), prompt)
        elif group == "instruct2":
            inputs = front.instruct2(text("instruct2_tts_text"), text("instruct2_instruct_text"), prompt)
        elif group == "vc":
            audio, sr = load_audio(fx.wavs_dir / f"{used['vc_source_wav']}.wav")
            inputs = front.vc(audio, sr, raw_prompt(used["vc_prompt_wav"]))
        else:
            inputs = None
        yield from compare_inputs(fx, group, inputs)
