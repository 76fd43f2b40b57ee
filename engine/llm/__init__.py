"""The CosyVoice 2 text-speech LM: Qwen2 backbone, samplers and the speech-token generator."""
from .qwen2 import KVCache, Qwen2ForCausalLM, Qwen2Model
from .sampling import Sampler, make_ras_sampler, nucleus_sampling, random_sampling, ras_sampling
from .speech_lm import LMStep, SpeechLM, load_lm

__all__ = [
    "KVCache", "Qwen2ForCausalLM", "Qwen2Model",
    "Sampler", "make_ras_sampler", "nucleus_sampling", "random_sampling", "ras_sampling",
    "LMStep", "SpeechLM", "load_lm",
]
