"""The networks of either model family, from one folder: what ``Engine.load`` builds.

:func:`load_networks` reads the folder's family (:func:`engine.config.model_family`) and builds the matching
frontend, LM, flow and vocoder with the same loaders (meta device, strict ``load_state_dict``, typed errors):

==============  ===================================  ======================================================
part            CosyVoice 2                          CosyVoice 3
==============  ===================================  ======================================================
frontend        Frontend (20 specials, tokenizer v2)  CosyVoice3Frontend (281 specials, v3, system prompt)
lm              SpeechLM (Qwen2LM)                    CosyVoice3LM (same Qwen2 backbone and decode loop)
flow            Flow (conformer encoder + UNet CFM)   DiTFlow (pre-lookahead + DiT CFM), same stream API
hift            HiFT (random excitation per call)     CausalHiFT (fixed buffers, float64 f0, streamable)
==============  ===================================  ======================================================

HiFT always runs in fp32; ``lm_dtype`` / ``flow_dtype`` default to ``dtype`` (quantised LM precisions are
applied afterwards with :func:`engine.llm.speech_lm.convert_lm`, which works for both LMs).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from .config import COSYVOICE3, CosyVoice3Config, ModelConfig, load_model_config, model_family


@dataclass(frozen=True)
class Networks:
    """``frontend, lm, flow, hift = load_networks(...)`` unpacks the four; ``family`` and ``config`` say what
    they are."""

    family: str
    config: ModelConfig | CosyVoice3Config
    frontend: object
    lm: torch.nn.Module
    flow: torch.nn.Module
    hift: torch.nn.Module

    def __iter__(self) -> Iterator[object]:
        return iter((self.frontend, self.lm, self.flow, self.hift))


def load_networks(model_dir: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, *,
                  lm_dtype: torch.dtype | None = None, flow_dtype: torch.dtype | None = None,
                  providers: list[str] | None = None) -> Networks:
    """Frontend, LM, flow and vocoder of the CosyVoice 2 or 3 folder ``model_dir``, on ``device``."""
    model_dir = Path(model_dir)
    family = model_family(model_dir)
    cfg = load_model_config(model_dir)
    lm_dtype, flow_dtype = lm_dtype or dtype, flow_dtype or dtype
    from .llm.speech_lm import load_lm

    if family == COSYVOICE3:
        from .flow.dit_flow import load_dit_flow
        from .frontend.frontend_cv3 import CosyVoice3Frontend
        from .frontend.tokenizer import END_OF_PROMPT
        from .llm.cosyvoice3_lm import CosyVoice3LM
        from .vocoder.causal_hift import load_causal_hift

        frontend = CosyVoice3Frontend.from_model_dir(model_dir, providers)
        lm = load_lm(model_dir, cfg.lm, device, lm_dtype, lm_class=CosyVoice3LM)
        lm.end_of_prompt_id = frontend.tokenizer.special_ids[END_OF_PROMPT]  # 151646 in the official vocabulary
        flow = load_dit_flow(model_dir, cfg, device, flow_dtype)
        hift = load_causal_hift(model_dir, cfg, device)
    else:
        from .flow.flow import load_flow
        from .frontend.frontend import Frontend
        from .vocoder.hift import load_hift

        frontend = Frontend.from_model_dir(model_dir, providers)
        lm = load_lm(model_dir, cfg, device, lm_dtype)
        flow = load_flow(model_dir, cfg, device, flow_dtype)
        hift = load_hift(model_dir, cfg, device, torch.float32)
    return Networks(family, cfg, frontend, lm, flow, hift)
