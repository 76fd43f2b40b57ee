"""Takes from the tiny engine through the Python API (engine.project.render): a line streamed into a take, and
"hear this word" speaking the respelling the pronunciation list gives."""
from __future__ import annotations

import numpy as np
import torch

from engine.llm.qwen2 import Qwen2Model
from engine.project import LineStatus, Project, hear_word, synthesize_line
from engine.pronunciation import Pronunciation, Pronunciations
from tinyengine import SHORT


def _capture_prefills():
    seen = []

    def hook(module, inputs):
        if isinstance(module, Qwen2Model) and inputs[0].shape[1] > 1:
            seen.append(inputs[0].detach().clone())

    return seen, torch.nn.modules.module.register_module_forward_pre_hook(hook)


def test_a_line_streams_into_one_take(engine, voice):
    project = Project.new("{Calm} Narrator: It was 3 o'clock.")
    project.set_cast("Narrator", voice)
    job = project.jobs()[0]
    assert (job.mode, job.instruction) == ("instruct", project.presets["Calm"])
    chunks, draws = [], []

    def sampler(scores, decoded, rng):  # the engine's sampler hook: greedy, and it sees every step
        draws.append(len(decoded))
        return int(torch.argmax(scores))

    take = synthesize_line(engine, job, sampler=sampler, on_chunk=chunks.append, watchdog=SHORT)
    np.testing.assert_array_equal(take.audio, np.concatenate([c.samples for c in chunks]))
    assert chunks[-1].is_last and draws == list(range(len(draws)))
    info = take.info
    assert (info.text, info.spoken_text, info.mode, info.voice_name) == (
        "It was 3 o'clock.", "It was 3 o'clock.", "instruct", voice.name)
    assert info.n_samples == take.audio.shape[0] and info.watchdog  # the tiny model never stops by itself
    assert info.settings["precision"] == "fp32" and info.settings["normalizer"] == "none"
    project.add_take(take)
    assert project.rows()[0].status is LineStatus.READY


def test_hear_this_word_speaks_the_respelling(engine, voice):
    lexicon = Pronunciations([Pronunciation("Nguyen", "Win")])
    seen, handle = _capture_prefills()
    try:
        audio = hear_word(engine, "Nguyen", voice, pronunciations=lexicon, watchdog=SHORT)
    finally:
        handle.remove()
    assert audio.dtype == np.float32 and audio.size > 0
    ids = engine.frontend.tokenizer.encode("Win")  # normalizer "none": the respelling as it is
    rows = engine.lm.qwen.model.embed_tokens.weight[torch.tensor(ids)]
    n_prompt = voice.speech_tokens.numel()
    x = seen[0][0]
    # zero-shot layout [sos | transcript, text | task_id | prompt speech]: the text sits just before task_id
    assert torch.equal(x[-n_prompt - 1 - len(ids):-n_prompt - 1], rows)
