"""The engine's random numbers mean the same on every machine; the official draws stay available for parity."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import GenerationError, InputError
from engine.parity.tolerance import WAVEFORM, rel_l2, utterance_wave_bound
from engine.rng import PortableRandom, Stream, TorchRandom, check_seed, philox4x32

ROOT = Path(__file__).resolve().parents[2]

# Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,want", PHILOX_KAT)
def test_philox_known_answers(counter, key, want):
    assert tuple(int(x) for x in philox4x32(counter, key)[0]) == want


def test_streams_are_reproducible_independent_and_advance():
    a, b = PortableRandom(5, Stream.SAMPLER), PortableRandom(5, Stream.SAMPLER)
    assert torch.equal(a.normal([3, 7]), b.normal([3, 7]))
    assert torch.equal(a.uniform([10]), b.uniform([10]))
    assert not torch.equal(PortableRandom(5, Stream.SAMPLER).normal([50]), PortableRandom(5, Stream.FLOW_NOISE).normal([50]))
    assert not torch.equal(PortableRandom(5).normal([50]), PortableRandom(6).normal([50]))
    r = PortableRandom(1)
    assert not torch.equal(r.normal([8]), r.normal([8]))  # a draw advances the stream


def test_distributions():
    r = PortableRandom(2024, Stream.FLOW_NOISE)
    z, u = r.normal([400_000]), r.uniform([400_000])
    assert z.dtype == u.dtype == torch.float32 and z.shape == u.shape == (400_000,)
    z, u = z.double(), u.double()
    # sampling error of 4e5 draws: ~1.6e-3 for the mean, ~1.1e-3 for the std, ~4.6e-4 for the uniform mean
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01
    assert float(u.min()) >= 0 and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 0.005
    probs = torch.tensor([0.2, 0.0, 0.5, 0.3])
    draws = np.bincount([r.categorical(probs) for _ in range(6000)], minlength=4) / 6000
    assert draws[1] == 0 and np.allclose(draws, [0.2, 0.0, 0.5, 0.3], atol=0.03)
    assert r.categorical(torch.tensor([3.0, 0.0])) == 0  # unnormalised weights, like torch.multinomial


@pytest.mark.parametrize("bad", [torch.tensor([float("nan"), 1.0]), torch.zeros(3), torch.tensor([1.0, -1.0])])
def test_categorical_refuses_damaged_probabilities(bad):
    with pytest.raises(GenerationError, match="not finite"):
        PortableRandom(0).categorical(bad)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "7", True, None])
def test_seed_must_be_an_unsigned_64_bit_integer(seed):
    with pytest.raises(InputError):
        check_seed(seed)
    assert check_seed(2**64 - 1) == 2**64 - 1 and check_seed(np.int64(3)) == 3


def test_torch_random_is_the_official_draw():
    g = torch.Generator().manual_seed(3)
    want = (torch.rand(4, generator=g), torch.randn(5, generator=g))
    t = TorchRandom.seeded(3)
    assert torch.equal(t.uniform([4]), want[0]) and torch.equal(t.normal([5]), want[1])
    probs = torch.tensor([0.1, 0.6, 0.3])
    g = torch.Generator().manual_seed(9)
    assert TorchRandom.seeded(9).categorical(probs) == int(torch.multinomial(probs, 1, True, generator=g))


# -------------------------------------------------------------------------------------------------------
# Under other CPU dispatches: the same bits, the same tokens, audio that differs only by float rounding
# -------------------------------------------------------------------------------------------------------
DISPATCHES = {
    "this-cpu": {},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "other-kernels": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                      "ONEDNN_MAX_CPU_ISA": "SSE41", "OMP_NUM_THREADS": "1",
                      "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL"},
}

_TAKE = r'''
import hashlib, json, sys
import numpy as np, torch
from engine.llm.sampling import make_ras_sampler
from engine import Engine, SynthesisRequest, Watchdog
from engine.rng import PortableRandom, Stream

out = sys.argv[2]
bits = {
    "flow_noise": hashlib.sha256(PortableRandom(7, Stream.FLOW_NOISE).normal([1, 80, 15000]).numpy().tobytes()).hexdigest(),
    "hift_noise": hashlib.sha256(PortableRandom(7, Stream.HIFT_NOISE).normal([1, 4800, 9]).numpy().tobytes()).hexdigest(),
    "uniform": hashlib.sha256(PortableRandom(7, Stream.SAMPLER).uniform([1000]).numpy().tobytes()).hexdigest(),
    "cpu": torch.backends.cpu.get_cpu_capability(),
}
engine = Engine.load(sys.argv[1], device="cpu", normalizer="none")
voice = engine.make_voice(sys.argv[3], "Hello there, this is a short prompt.", name="v")
tokens = []
ras = make_ras_sampler(engine.cfg.lm.sampling)
def sampler(scores, decoded, rng):
    tokens.append(ras(scores, decoded, rng))
    return tokens[-1]
req = SynthesisRequest("A small test.", voice, seed=7, watchdog=Watchdog(max_tokens_per_text_token=6.0))
audio = np.concatenate([c.samples for c in engine.synthesize(req, sampler=sampler)])
np.save(out, audio)
bits["tokens"] = tokens
print(json.dumps(bits))
'''


@pytest.fixture(scope="module")
def takes(tmp_path_factory, tiny_model_dir, parity_dir):
    """One seeded take of the tiny model made in a fresh process under each dispatch."""
    script = tmp_path_factory.mktemp("rng") / "take.py"
    script.write_text(_TAKE, encoding="utf-8")
    wav = parity_dir / "wavs" / "prompt_en_22k.wav"
    out = {}
    for name, env in DISPATCHES.items():
        npy = script.parent / f"{name}.npy"
        proc = subprocess.run([sys.executable, str(script), str(tiny_model_dir), str(npy), str(wav)], cwd=ROOT,
                              capture_output=True, text=True, timeout=600, env={**os.environ, **env})
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[name] = (json.loads(proc.stdout.strip().splitlines()[-1]), np.load(npy))
    return out


@pytest.mark.slow
def test_a_seed_means_the_same_take_under_every_dispatch(takes, parity_dir):
    (ref, ref_audio) = takes["this-cpu"]
    assert takes["aten-default"][0]["cpu"] == "DEFAULT"  # the dispatch really changed
    bound = utterance_wave_bound(parity_dir / "goldens")
    for name, (info, audio) in takes.items():
        # the random numbers themselves: identical bits
        assert (info["flow_noise"], info["hift_noise"], info["uniform"]) == (
            ref["flow_noise"], ref["hift_noise"], ref["uniform"]), name
        # the same draws pick the same tokens (the LM's logits differ by float rounding only)
        assert info["tokens"] == ref["tokens"] and len(ref["tokens"]) > 5, name
        # the audio: float rounding amplified by HiFT, within the parity policy's bound for an utterance
        assert audio.shape == ref_audio.shape, name
        assert np.abs(audio - ref_audio).max() <= bound and rel_l2(audio, ref_audio) <= WAVEFORM.rel_l2, name
