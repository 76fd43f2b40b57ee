"""Parity of the per-mode model inputs with ``goldens/frontend.npz``.

Each group (``zero_shot``, ``cross_lingual``, ``instruct2``, ``vc``) is the dict the reference
frontend returned for the inputs in ``meta.json -> frontend_texts_used`` (texts, and wav names
under ``wavs/``). The reference passed each text through ``text_normalize(split=False)`` with no
normaliser backend first: :func:`engine.frontend.text.reference_text_normalize` does the same.
Ids exact; the prompt mel as a feature (whole array and bins within 60 dB), embeddings as EMBEDDING.
"""
from __future__ import annotations

from typing import Iterator

from . import CheckResult, Fixture, compare
from .features import check_feature
from .tolerance import EMBEDDING
from ..config import QWEN_DIR
from ..frontend.audio import load_audio
from ..frontend.frontend import (
    SPEAKER_ENCODER_FILE,
    SPEECH_TOKENIZER_FILE,
    Frontend,
    ModelInputs,
    PromptFeatures,
)
from ..frontend.onnx_models import SpeakerEncoder, SpeechTokenizer
from ..frontend.text import reference_text_normalize
from ..frontend.tokenizer import load_tokenizer

GOLDEN = "frontend.npz"


def groups(z) -> list[str]:
    seen: dict[str, None] = {}
    for k in z.files:
        seen.setdefault(k.split("/", 1)[0], None)
    return list(seen)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    z = fx.npz(GOLDEN)
    used = fx.meta.get("frontend_texts_used", {})
    cfg = fx.config
    tokenizer = load_tokenizer(fx.model_dir / QWEN_DIR)
    front = Frontend(
        tokenizer,
        SpeechTokenizer(fx.model_dir / SPEECH_TOKENIZER_FILE),
        SpeakerEncoder(fx.model_dir / SPEAKER_ENCODER_FILE),
        mel=cfg.feat, token_mel_ratio=cfg.token_mel_ratio,
    )
    prompts: dict[str, PromptFeatures] = {}

    def raw_prompt(wav: str) -> PromptFeatures:
        if wav not in prompts:
            audio, sr = load_audio(fx.wavs_dir / f"{wav}.wav")
            prompts[wav] = front.prompt(audio, sr, trim=False)
        return prompts[wav]

    def text(key: str) -> str:
        return reference_text_normalize(used[key], tokenizer, split=False)

    for group in groups(z):
        inputs: ModelInputs | None = None
        if group == "zero_shot":
            inputs = front.zero_shot(text("zs_tts_text"), text("zs_prompt_text"), raw_prompt(used["prompt_wav"]))
        elif group == "cross_lingual":
            inputs = front.cross_lingual(text("cl_tts_text"), raw_prompt(used["prompt_wav"]))
        elif group == "instruct2":
            inputs = front.instruct2(text("in_tts_text"), text("instruct_text"), raw_prompt(used["prompt_wav"]))
        elif group == "vc":
            audio, sr = load_audio(fx.wavs_dir / f"{used['vc_source_wav']}.wav")
            inputs = front.vc(audio, sr, raw_prompt(used["prompt_wav"]))
        yield from compare_inputs(fx, group, inputs)


def compare_inputs(fx: Fixture, group: str, inputs: ModelInputs | None) -> Iterator[CheckResult]:
    """One group's model inputs against ``frontend.npz``: the same keys, ids exact, embeddings and mel bounded."""
    z = fx.npz(GOLDEN)
    if inputs is None:
        yield CheckResult(f"frontend/{group}", float("inf"), 0.0, False, "unknown frontend mode in golden")
        return
    got = inputs.as_dict()
    want_keys = {k.split("/", 1)[1] for k in z.files if k.startswith(f"{group}/")}
    if set(got) != want_keys:
        yield CheckResult(f"frontend/{group}/keys", float("inf"), 0.0, False,
                          f"extra {sorted(set(got) - want_keys)} missing {sorted(want_keys - set(got))}")
    for key in sorted(want_keys & set(got)):
        name, full = f"frontend/{group}/{key}", f"{group}/{key}"
        if z[full].dtype.kind in "iub":
            yield compare(name, got[key], z[full])  # token ids and lengths: exact
        elif key.endswith("_embedding"):
            yield fx.check(name, got[key], GOLDEN, full, EMBEDDING)
        else:  # prompt_speech_feat: the flow mel
            yield from check_feature(fx, name, got[key], GOLDEN, full)
