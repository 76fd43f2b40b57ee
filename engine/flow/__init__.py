"""The flow-matching acoustic model: speech tokens + prompt -> 80-bin mel (CosyVoice 2 flow.pt)."""
from .cfm import official_noise
from .flow import Flow, FlowStreamState, load_flow

__all__ = ["Flow", "FlowStreamState", "load_flow", "official_noise"]
