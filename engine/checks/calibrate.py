"""Where the take checks' thresholds come from: ``python -m engine.checks.calibrate [timing|asr|voice|quality]``.

Each part speaks a fixed set of sentences with espeak-ng (:mod:`engine.checks.espeak`), runs the real check
models on them (and on damaged copies: wrong text, slowed or sped up, clipped, noisy, cut) and prints
the ranges the thresholds in :mod:`engine.checks.timing`, ``intelligibility``, ``speaker`` and ``quality`` were
set from. A development tool (needs espeak-ng and the ``checks`` extra); nothing imports it.
"""
from __future__ import annotations

import argparse

import numpy as np

from .espeak import espeak

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "I would like a cup of coffee with milk and no sugar.",
    "The weather today is sunny with a light breeze from the west.",
    "She sells sea shells by the sea shore every summer morning.",
    "Our meeting has been moved to Thursday afternoon at three.",
    "He opened the door slowly and looked into the dark room.",
    "Reading books every evening helps children learn new words.",
    "The train to the city leaves from platform two at noon.",
    "My brother plays the guitar in a small band on weekends.",
    "We planted tomatoes and beans in the garden last spring.",
    "Could you please turn off the lights when you leave the office?",
)
INSTRUCTIONS = ("Speak slowly in a calm and gentle voice.", "Please sound very happy and excited.",
                "Whisper quietly like telling a secret.")
EN_VOICES = ("en-us", "en-us+f3", "en-gb+m3", "en-us+klatt2", "en-us+m7")
OTHER = {
    "de": ("Der Hund läuft schnell über die grüne Wiese.", "Morgen fahren wir mit dem Zug nach Berlin."),
    "fr": ("Le chat dort tranquillement sur le canapé.", "Nous allons au marché chaque samedi matin."),
    "es": ("El perro corre rápido por el parque verde.", "Mañana vamos a visitar a nuestros abuelos."),
    "it": ("Il gatto dorme tranquillo sul divano.", "Domani andiamo al mare con gli amici."),
}
# Distinct espeak-ng speakers. Variants of the default voice in other languages ("de") and some variants
# ("croak": 0.86 to en-us, "f5": 0.84 to fr+f2) are the SAME synthetic speaker, so they are not used as
# "different" voices.
SPEAKERS = ("en-us", "en-us+f3", "en-us+klatt2", "en-us+m7", "fr+f2", "es+m2")


def at_16k(text: str, voice: str, **kw) -> np.ndarray:
    from ..frontend.audio import resample_hq

    audio, sr = espeak(text, voice, **kw)
    return resample_hq(audio, sr, 16000)


def _range(name: str, xs) -> None:
    xs = np.asarray(list(xs), dtype=np.float64)
    print(f"  {name:34s} n={xs.size:3d} min {xs.min():7.3f}  median {np.median(xs):7.3f}  max {xs.max():7.3f}")


def calibrate_timing() -> None:
    from .timing import end_level_db
    from .vad import find_speech
    from .words import syllables, typical_rate

    print("timing: speaking rate / typical rate of the language, by espeak-ng speed")
    for wpm in (80, 175, 450):
        ratios = []
        for voice in EN_VOICES:
            for s in SENTENCES[:4]:
                ratios.append(syllables(s, "en") / find_speech(at_16k(s, voice, words_per_minute=wpm)).speech_s
                              / typical_rate("en"))
        for lang, ss in OTHER.items():
            for s in ss:
                ratios.append(syllables(s, lang) / find_speech(at_16k(s, lang, words_per_minute=wpm)).speech_s
                              / typical_rate(lang))
        _range(f"{wpm} words/min", ratios)
    pauses, lead, trail, ends, cuts = [], [], [], [], []
    for voice in EN_VOICES:
        a = at_16k(" ".join(SENTENCES[:4]), voice)
        m = find_speech(a)
        pauses.append(max(m.pauses, default=0.0))
        for s in SENTENCES[:8]:
            a = at_16k(s, voice)
            m = find_speech(a)
            lead.append(m.leading_s)
            trail.append(m.trailing_s)
            ends.append(end_level_db(a, 16000, m))
            start, end = m.segments[-1]
            for frac in (0.3, 0.5, 0.7):
                cut = a[: int((start + (end - start) * frac) * 16000)]
                cuts.append(end_level_db(cut, 16000, find_speech(cut)))
    _range("longest pause in 4 sentences (s)", pauses)
    _range("leading silence (s)", lead)
    _range("trailing silence (s)", trail)
    _range("end level, natural end (dB)", ends)
    _range("end level, cut in the last word (dB)", cuts)


def calibrate_asr() -> None:
    from .asr import PocketSphinx
    from .asr import expected_words
    from .intelligibility import error_rate, instruction_check

    rec = PocketSphinx()
    right, wrong, dropped = [], [], []
    for voice in EN_VOICES:
        for i, s in enumerate(SENTENCES):
            a = at_16k(s, voice)
            other = SENTENCES[(i + 3) % len(SENTENCES)]
            right.append(error_rate(expected_words(s, "en"), expected_words(rec.recognise(a, s).text, "en"))["rate"])
            wrong.append(error_rate(expected_words(other, "en"),
                                    expected_words(rec.recognise(a, other).text, "en"))["rate"])
            half = " ".join(s.split()[: len(s.split()) // 2])  # the take says only the first half
            ha = at_16k(half, voice)
            dropped.append(error_rate(expected_words(s, "en"), expected_words(rec.recognise(ha, s).text, "en"))["rate"])
    print("asr: pocketsphinx grammar decoding, word error rate against the text")
    _range("right text", right)
    _range("a different sentence", wrong)
    _range("only the first half spoken", dropped)
    r, w = np.asarray(right), np.asarray(wrong)
    for limit in (0.70, 0.75, 0.80):
        print(f"  fail above {limit:.2f}: right text failed {np.mean(r > limit):.1%}, wrong text passed "
              f"{np.mean(w <= limit):.1%}")
    leaked, clean = [], []
    for voice in EN_VOICES:
        for instruction, s in zip(INSTRUCTIONS, SENTENCES[5:]):
            for audio, out in ((at_16k(f"{instruction} {s}", voice), leaked), (at_16k(s, voice), clean)):
                heard = rec.recognise(audio, f"{s} {instruction}")
                check = instruction_check(heard, instruction, s)
                out.append(check.value)
    print("instruction: fraction of the instruction's telling words heard")
    _range("instruction spoken before the text", leaked)
    _range("text alone", clean)


def calibrate_voice() -> None:
    from .speaker import Resemblyzer, cosine

    model = Resemblyzer()
    emb = {(v, i): model.embed(at_16k(SENTENCES[i], v)) for v in SPEAKERS for i in range(4)}
    same, diff = [], []
    for (v, i), e in emb.items():
        for (w, j), f in emb.items():
            if (v, i) < (w, j) and i != j:
                (same if v == w else diff).append(cosine(e, f))
    print("voice: resemblyzer cosine similarity, other sentences")
    _range("same espeak-ng voice", same)
    _range("different voice", diff)
    print(f"  mean margin same - different: {np.mean(same) - np.mean(diff):.3f}")


def calibrate_quality() -> None:
    from .quality import _clipped_runs, dnsmos

    rng = np.random.default_rng(0)
    clean, noisy, clip_runs, clean_runs, clipped_mos = [], [], [], [], []
    for voice in EN_VOICES:
        for s in SENTENCES[:3]:
            a = at_16k(s, voice)
            loud = np.clip(a / np.max(np.abs(a)) * 2.0, -1, 1)
            clean_runs.append(_clipped_runs(a, float(np.max(np.abs(a)))) / (a.size / 16000))
            clip_runs.append(_clipped_runs(loud, 1.0) / (a.size / 16000))
            clean.append(dnsmos(a)["ovrl_mos"])
            noisy.append(dnsmos(np.clip(a + rng.normal(0, 0.05, a.size), -1, 1))["ovrl_mos"])
            clipped_mos.append(dnsmos(loud)["ovrl_mos"])
    print("quality")
    _range("clipped places/s, clean", clean_runs)
    _range("clipped places/s, 2x into clipping", clip_runs)
    _range("DNSMOS OVRL clean", clean)
    _range("DNSMOS OVRL + white noise -26 dBFS", noisy)
    _range("DNSMOS OVRL clipped", clipped_mos)
    _range("DNSMOS OVRL noise alone", [dnsmos(rng.normal(0, 0.05, 48000).astype(np.float32))["ovrl_mos"]])


def calibrate_cost() -> None:
    """CPU and wall seconds of each check group on a ~10 s espeak-ng passage, and best-of's checking time as a
    fraction of generating on the tiny model (the engine's fixture model; its takes are random sound)."""
    import time

    from ..engine import Engine, SynthesisRequest
    from ..tiny import make_tiny_model
    from .best_of import best_of
    from .take import GROUPS, Reference, TakeChecker

    passage = at_16k(" ".join(SENTENCES[:3]), "en-us")
    ref = Reference(audio=at_16k(SENTENCES[5], "en-us"), sample_rate=16000)
    text = " ".join(SENTENCES[:3])
    print(f"cost: checks of a {passage.size / 16000:.1f} s espeak-ng passage (second run: models loaded)")
    for group in GROUPS[:-1]:
        checker = TakeChecker(groups=(group,))
        checker.check(passage, 16000, text, reference=ref, instruction="Speak slowly.")  # load the models
        w, c = time.perf_counter(), time.process_time()
        checker.check(passage, 16000, text, reference=ref, instruction="Speak slowly.")
        print(f"  {group:16s} wall {time.perf_counter() - w:6.2f} s   cpu {time.process_time() - c:6.2f} s")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.load(make_tiny_model(tmp), device="cpu", normalizer="none")
        voice = engine.make_voice(at_16k(SENTENCES[5], "en-us"), SENTENCES[5], sample_rate=16000, name="ref")
        request = SynthesisRequest("Hi there. How are you today?", voice, seed=1)
        checker = TakeChecker(model_dir=engine.model_dir)
        best_of(engine, request, 1, checker, reference=ref)  # load the models
        w, c = time.perf_counter(), time.process_time()
        run = best_of(engine, request, 3, checker, reference=ref)
        gen = sum(t.generate_s for t in run.takes)
        audio_s = sum(t.audio.size / t.sample_rate for t in run.takes)
        print(f"  tiny model, {len(run.takes)} takes, {audio_s:.1f} s of audio: generation {gen:.2f} s, checks "
              f"{sum(t.report.seconds for t in run.takes):.2f} s = {run.check_fraction():.2f} of generation "
              f"(wall {time.perf_counter() - w:.1f} s, cpu {time.process_time() - c:.1f} s)")


PARTS = {"timing": calibrate_timing, "asr": calibrate_asr, "voice": calibrate_voice, "quality": calibrate_quality,
         "cost": calibrate_cost}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.checks.calibrate", description=__doc__.splitlines()[0])
    p.add_argument("parts", nargs="*", help=f"any of {', '.join(PARTS)} (default: all)")
    parts = p.parse_args(argv).parts or list(PARTS)
    unknown = [x for x in parts if x not in PARTS]
    if unknown:
        p.error(f"unknown part(s) {', '.join(unknown)}; use {', '.join(PARTS)}")
    for part in parts:
        PARTS[part]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
