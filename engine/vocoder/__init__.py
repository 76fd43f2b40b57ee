"""HiFT vocoder: mel -> 24 kHz waveform (f0 predictor, NSF source, HiFi-GAN + iSTFT generator)."""
from .hift import HiFT, build_hift, load_hift
from .source import DrawnNoise, Excitation, HiftNoise

__all__ = ["DrawnNoise", "Excitation", "HiFT", "HiftNoise", "build_hift", "load_hift"]
