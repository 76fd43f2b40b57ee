"""HiFT vocoder: mel -> 24 kHz waveform (f0 predictor, NSF source, HiFi-GAN + iSTFT generator)."""
from .hift import HiFT, build_hift, load_hift
from .source import HiftNoise

__all__ = ["HiFT", "HiftNoise", "build_hift", "load_hift"]
