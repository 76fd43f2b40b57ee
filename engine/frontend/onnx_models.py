"""The two ONNX networks shipped with CosyVoice 2, run through onnxruntime.

* :class:`SpeechTokenizer` (``speech_tokenizer_v2.onnx``): 16 kHz speech -> discrete speech tokens
  at 25 Hz (one per 4 Whisper mel frames). Inputs ``[1, 128, T]`` float32 mel and ``[1]`` int32
  length; output ``[1, ceil(T / 4)]`` token ids.
* :class:`SpeakerEncoder` (``campplus.onnx``, CAM++): 16 kHz speech -> 192-d speaker embedding.
  Input ``[1, T, 80]`` float32 Kaldi fbank minus its mean; output ``[1, 192]``.

Inputs and outputs are addressed by position, never by name, exactly as the reference does:
the official files' output names are not documented and may differ between releases.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from ..errors import AudioInputError, OnnxModelError
from .audio import WHISPER_SAMPLE_RATE, kaldi_fbank, whisper_log_mel

# onnxruntime raises its own exception classes, which derive from Exception directly (not from
# RuntimeError), so they are collected here to be caught precisely.
_ORT_ERRORS: tuple[type[BaseException], ...] = tuple(
    obj for obj in vars(_ort_state).values() if inspect.isclass(obj) and issubclass(obj, Exception)
) + (RuntimeError, OSError, ValueError)

# The speech tokenizer was trained on Whisper-style 30 s windows; the reference refuses longer audio.
MAX_TOKENIZER_SECONDS = 30.0
SPEECH_TOKEN_RATE = 25  # tokens per second
SPEAKER_EMBEDDING_DIM = 192


def default_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it, CPU always as the fallback."""
    available = ort.get_available_providers()
    providers = ["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []
    return providers + ["CPUExecutionProvider"]


class _OnnxModel:
    """One onnxruntime session with the file checks and error translation both models share."""

    what = "ONNX model"
    min_inputs = 1

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int = 1):
        self.path = Path(path)
        if not self.path.is_file():
            raise OnnxModelError(
                f"The {self.what} file {self.path} is missing. Download the model again or pick the complete model folder."
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One thread per op, as the reference: these nets run once per prompt and the
        # machine's cores are better left to the LM and flow.
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only; ORT warns about unused initialisers in official files
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                                providers=providers or default_providers())
        except _ORT_ERRORS as e:
            raise OnnxModelError(
                f"The {self.what} file {self.path.name} cannot be loaded; it is damaged or not an ONNX model ({e}). "
                "Download the model again."
            ) from e
        self.input_names = [i.name for i in self.session.get_inputs()]
        if len(self.input_names) < self.min_inputs or not self.session.get_outputs():
            raise OnnxModelError(
                f"{self.path.name} has {len(self.input_names)} inputs and {len(self.session.get_outputs())} outputs; "
                f"a {self.what} needs {self.min_inputs} input(s) and an output. Is it the right file?"
            )

    def _run(self, *inputs: np.ndarray) -> np.ndarray:
        feed = dict(zip(self.input_names, inputs))
        try:
            return np.asarray(self.session.run(None, feed)[0])
        except _ORT_ERRORS as e:
            raise OnnxModelError(f"The {self.what} ({self.path.name}) failed to run: {e}") from e


class SpeechTokenizer(_OnnxModel):
    """Speech -> 25 Hz speech tokens (the LM's and the flow's prompt tokens)."""

    what = "speech tokenizer"
    min_inputs = 2

    def tokens_from_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """``[1, 128, T]`` Whisper log-mel -> int32 ``[1, ceil(T / 4)]`` tokens."""
        feats = mel.detach().cpu().numpy().astype(np.float32, copy=False)
        out = self._run(feats, np.array([feats.shape[2]], dtype=np.int32))
        return torch.from_numpy(out.reshape(1, -1).astype(np.int32))

    def __call__(self, speech_16k: torch.Tensor) -> torch.Tensor:
        """``[1, N]`` 16 kHz speech (at most 30 s) -> int32 ``[1, n_tokens]``."""
        seconds = speech_16k.shape[-1] / WHISPER_SAMPLE_RATE
        if seconds > MAX_TOKENIZER_SECONDS:
            raise AudioInputError(
                f"The recording is {seconds:.1f} s long; the speech tokenizer accepts at most "
                f"{MAX_TOKENIZER_SECONDS:.0f} s. Trim it to the best 3-10 seconds of clear speech."
            )
        return self.tokens_from_mel(whisper_log_mel(speech_16k))


class SpeakerEncoder(_OnnxModel):
    """CAM++: speech -> 192-d speaker embedding (the flow's speaker condition)."""

    what = "speaker encoder (CAM++)"

    def embed_fbank(self, fbank: torch.Tensor) -> torch.Tensor:
        """``[T, 80]`` Kaldi fbank -> float32 ``[1, 192]``; the per-bin mean is removed here, as in the reference."""
        feat = fbank - fbank.mean(dim=0, keepdim=True)
        out = self._run(feat.unsqueeze(0).detach().cpu().numpy().astype(np.float32, copy=False))
        return torch.from_numpy(out.reshape(1, -1).astype(np.float32))

    def __call__(self, speech_16k: torch.Tensor) -> torch.Tensor:
        """``[1, N]`` 16 kHz speech -> float32 ``[1, 192]``."""
        fbank = kaldi_fbank(speech_16k)
        if fbank.shape[0] == 0:
            raise AudioInputError("The recording is too short for the speaker encoder (under 25 ms). Use 3-10 seconds.")
        return self.embed_fbank(fbank)
