"""Offline recognisers for the intelligibility check: pocketsphinx (English, ships its model) and, optionally,
a faster-whisper model folder the user downloaded (any language Whisper knows).

pocketsphinx: free decoding with its en-us language model is useless on synthetic speech (measured on
espeak-ng: word error rate 0.27-1.11 for the RIGHT text, no separation from a wrong one). Decoding against a
grammar built from the expected text works: every word of the text, in any order and any number of times
(``( w1 | w2 | ... )*``), without the filler loop (``fsgusefiller=False``). The decoder must then explain the
audio with the expected words; where the audio says something else it picks wrong ones, drops or repeats
words, and the word error rate against the text is high. Measured on 12 sentences x 5 espeak-ng voices
(right text against another sentence's text), the balanced error of the best WER limit was 2.5 % for this
grammar, 5.8 % for the same loop with fillers, 12.5 % for the ordered grammar ``[w1] [w2] ...`` with
fillers, 31 % without; free decoding did not separate at all. Distractor words added to the loop (30-100
common words) made right text worse (median WER 0.40 -> 0.49) without helping wrong text. The lattice
search after the forward pass (``bestpath``) is off: on single sentences it changed the best limit's error
not at all (2.5 % both), on a 10 s passage it cost 14x the decoding (4.8 s against 0.33 s of CPU).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckError, CheckModelMissing
from .optional import optional_module
from .words import words

ASR_SAMPLE_RATE = 16000
PAD_S = 0.3  # silence around the take: the decoder's start and end are silence models
WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json")  # tokenizer.json: else it is downloaded


@dataclass(frozen=True)
class Recognition:
    """What a recogniser heard. text: the words, space separated. method: how (for the report).
    skipped: expected words the recogniser cannot say (not in its dictionary)."""

    text: str
    method: str
    skipped: tuple[str, ...] = ()


def _spell_numbers(ws: list[str]) -> list[str]:
    """English digits as words ("3" -> "three"), as the speaker says them."""
    if not any(w.isdigit() for w in ws):
        return ws
    import inflect

    eng = inflect.engine()
    out: list[str] = []
    for w in ws:
        out.extend(re.findall(r"[a-z']+", eng.number_to_words(w).lower()) if w.isdigit() else [w])
    return out


def expected_words(text: str, language: str) -> list[str]:
    ws = words(text)
    return _spell_numbers(ws) if language == "en" else ws


class PocketSphinx:
    """English recognition against a grammar of the expected words (see the module docstring)."""

    languages = ("en",)
    name = "pocketsphinx en-us, grammar of the expected words"

    def __init__(self) -> None:
        ps = optional_module("pocketsphinx")
        # bestpath=False: the lattice search after the forward pass costs 14x the decoding on a 10 s take
        # (4.8 s against 0.33 s of CPU) and did not separate right from wrong text better (see the docstring)
        self._decoder = ps.Decoder(samprate=ASR_SAMPLE_RATE, fsgusefiller=False, bestpath=False, loglevel="FATAL")
        self._lock = threading.Lock()  # one decoder, one utterance at a time

    def recognise(self, audio_16k: np.ndarray, expected: str, language: str = "en") -> Recognition:
        d = self._decoder
        with self._lock:
            vocab = sorted(set(expected_words(expected, "en")))
            known = [w for w in vocab if d.lookup_word(w)]
            skipped = tuple(w for w in vocab if w not in known)
            if not known:
                return Recognition("", self.name, skipped)
            d.add_jsgf_string("expected", "#JSGF V1.0;\ngrammar expected;\npublic <s> = ( "
                              + " | ".join(known) + " )* ;\n")
            d.activate_search("expected")
            pad = np.zeros(int(PAD_S * ASR_SAMPLE_RATE), dtype=np.float32)
            pcm = (np.clip(np.concatenate([pad, audio_16k, pad]), -1, 1) * 32767).astype(np.int16)
            d.start_utt()
            d.process_raw(pcm.tobytes(), full_utt=True)
            d.end_utt()
            hyp = d.hyp()
        return Recognition(hyp.hypstr if hyp is not None else "", self.name, skipped)


def check_whisper_folder(folder: str | Path) -> Path:
    """The folder of a CTranslate2 Whisper model (``faster-whisper``'s format), or CheckModelMissing."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise CheckModelMissing(f"No Whisper model folder at {path}; download one (e.g. Systran/faster-whisper-small).")
    missing = [f for f in WHISPER_FILES if not (path / f).is_file()]
    if missing:
        raise CheckModelMissing(f"The Whisper model folder {path} lacks {', '.join(missing)}; "
                                "download the complete faster-whisper model folder.")
    return path


class FasterWhisper:
    """Free recognition with a faster-whisper (CTranslate2) model folder; never touches the network."""

    def __init__(self, folder: str | Path, *, device: str = "cpu", compute_type: str = "int8") -> None:
        path = check_whisper_folder(folder)
        fw = optional_module("faster_whisper")
        try:
            self._model = fw.WhisperModel(str(path), device=device, compute_type=compute_type, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as e:  # CTranslate2 reports a bad model.bin as RuntimeError
            raise CheckError(f"The Whisper model in {path} cannot be loaded ({e}); download it again.") from e
        self.name = f"faster-whisper {path.name}"
        self._lock = threading.Lock()

    def recognise(self, audio_16k: np.ndarray, expected: str, language: str = "") -> Recognition:
        with self._lock:
            segments, _info = self._model.transcribe(np.ascontiguousarray(audio_16k, dtype=np.float32),
                                                     language=language or None, beam_size=5,
                                                     condition_on_previous_text=False, vad_filter=False)
            text = " ".join(s.text.strip() for s in segments)
        return Recognition(text, self.name)
