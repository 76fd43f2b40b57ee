"""CosyVoice 3 at the official Fun-CosyVoice3-0.5B size, random weights (no download): what a streamed sentence costs.

``python -m engine.bench --family cosyvoice3 [--chunks 4] [--tokens 30] [--threads 2] [--json out.json] [--quick]``
(or ``python -m engine.bench.cv3 ...``) measures on the CPU in fp32:

* LM: prefill of a 152-position prompt and the decode step (ms per token), :class:`CosyVoice3LM` (Qwen2 0.5B,
  6761-row head). A random LM would stop at a random step (every id from 6561 stops CosyVoice 3), so the
  sampler is the argmax over the speech ids: the same network work per token, a cheaper draw than ras_sampling.
* every streaming chunk k = 1..``chunks`` of one sentence on the official schedule (75-token prompt: calls over
  28, 78, 178, 278, ... tokens, hops 25, 50, 100, 100, ... tokens), both the official way
  (:attr:`FlowMode.RECOMPUTE` + :attr:`VocoderMode.RERUN`: the DiT flow re-run over every token so far, the
  causal HiFT over all mel so far) and ours (incremental DiT stream + windowed HiFT,
  :mod:`engine.token2wav_cv3`), in the same process one after the other: DiT flow seconds, HiFT seconds, and
  their sum per chunk; per new mel frame (hops grow from 25 to 100 tokens, so flat cost means flat per frame),
  and the ratios official / ours and chunk k / the first 100-token chunk.

Compute does not depend on weight values: the networks are built on the meta device and filled with small
random numbers (norm gains 1, biases 0). The official fixed HiFT buffers are replayed at their official size.
Records the load average before and after (a shared machine distorts everything).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ..config import CosyVoice3Config, official_config3
from ..flow.dit_flow import DiTFlow
from ..llm.cosyvoice3_lm import CosyVoice3LM
from ..rng import PortableRandom
from ..token2wav import FinalCall, FlowMode, FlowPrompt, StreamPlan, token_hop_schedule
from ..token2wav_cv3 import Token2Wav3State, VocoderMode, new_mel, vocode
from ..vocoder.causal_hift import CausalHiFT, flow_sizes_of
from .probes import loadavg, machine_info

PROMPT_TOKENS = 75  # a 3 s prompt, as the CosyVoice 2 bench


def randomised(module: nn.Module, seed: int = 0) -> nn.Module:
    """``module`` (built on meta) materialised on the CPU with small random weights, norm gains 1, biases 0."""
    module = module.to_empty(device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() == 1 and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g).mul_(0.02))
    return module.eval().requires_grad_(False)


def quick_config3() -> CosyVoice3Config:
    """Tiny dimensions in the official structure, for ``--quick`` (seconds; the tests)."""
    cfg = official_config3()
    qwen = replace(cfg.lm.qwen, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=128, vocab_size=1280)
    lm = replace(cfg.lm, llm_input_size=64, llm_output_size=64, qwen=qwen)
    flow = replace(cfg.flow, pre_lookahead=replace(cfg.flow.pre_lookahead, channels=64),
                   dit=replace(cfg.flow.dit, dim=64, depth=2, heads=2, dim_head=32))
    hift = replace(cfg.hift, base_channels=32, f0=replace(cfg.hift.f0, cond_channels=32))
    return replace(cfg, lm=lm, flow=flow, hift=hift)


def build(cfg: CosyVoice3Config) -> tuple[CosyVoice3LM, DiTFlow, CausalHiFT]:
    with torch.device("meta"):
        lm, flow, hift = CosyVoice3LM(cfg.lm), DiTFlow(cfg.flow), CausalHiFT(cfg.hift, flow_sizes_of(cfg))
    lm = randomised(lm)
    lm.qwen.tie_weights()
    return lm, randomised(flow, 1), randomised(hift, 2)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_lm(lm: CosyVoice3LM, cfg: CosyVoice3Config, tokens: int, positions: int = 152) -> dict:
    g = torch.Generator().manual_seed(0)
    n_text = max(1, min(40, positions // 4))
    text = torch.randint(0, cfg.lm.qwen.vocab_size, (n_text,), generator=g).tolist()
    text[0] = lm.end_of_prompt_id = 1  # any id: the LM only checks that it is there
    speech = torch.randint(0, cfg.lm.speech_token_size, (positions - n_text - 2,), generator=g).tolist()
    n = cfg.lm.speech_token_size

    def speech_argmax(scores, decoded, rng) -> int:
        return int(scores[:n].argmax())

    ratio = (tokens + 1.5) / n_text  # min = max ratio: exactly tokens + 1 tokens
    gen = lm.generate(text, (), speech, rng=PortableRandom(0), sampler=speech_argmax, min_token_text_ratio=ratio,
                      max_token_text_ratio=ratio)
    first_s, _ = _timed(lambda: next(gen))
    decode_s, _ = _timed(lambda: [next(gen) for _ in range(tokens)])
    gen.close()
    return {"prompt_positions": positions, "first_token_s": first_s, "decode_tokens": tokens,
            "ms_per_token": 1000 * decode_s / tokens, "tokens_per_s": tokens / decode_s}


def bench_stream(flow: DiTFlow, hift: CausalHiFT, cfg: CosyVoice3Config, chunks: int) -> dict:
    """Every chunk call of one sentence, the official way and ours (see the module docstring)."""
    g = torch.Generator().manual_seed(3)
    hops = token_hop_schedule(PROMPT_TOKENS, cfg.chunk_size, cfg.flow.pre_lookahead_len, 4 * cfg.chunk_size)
    schedule = [next(hops) for _ in range(chunks)]
    tokens = torch.randint(0, cfg.flow.vocab_size, (1, schedule[-1].n_tokens), generator=g, dtype=torch.int32)
    prompt = FlowPrompt(torch.randint(0, cfg.flow.vocab_size, (1, PROMPT_TOKENS), generator=g, dtype=torch.int32),
                        torch.randn(1, 2 * PROMPT_TOKENS, 80, generator=g) - 5.0, torch.randn(1, 192, generator=g),
                        torch.randn(1, 80, 2 * (PROMPT_TOKENS + schedule[-1].n_tokens) + 8, generator=g))
    out: dict = {"prompt_tokens": PROMPT_TOKENS, "calls": [s.n_tokens for s in schedule],
                 "hop_tokens": [s.hop for s in schedule]}
    for name, mode, vocoder in (("official", FlowMode.RECOMPUTE, VocoderMode.RERUN),
                                ("ours", FlowMode.INCREMENTAL, VocoderMode.WINDOW)):
        plan = StreamPlan(stream=True, flow_mode=mode, final_call=FinalCall.STREAMING_MASKS,
                          chunk_size=cfg.chunk_size, pre_lookahead=cfg.flow.pre_lookahead_len,
                          max_hop=4 * cfg.chunk_size, token_mel_ratio=cfg.token_mel_ratio)
        state, rows = Token2Wav3State(), []
        with torch.inference_mode():
            for s in schedule:
                t_flow, (mel, state) = _timed(lambda: new_mel(flow, plan, prompt, state, tokens[:, :s.n_tokens],
                                                              s.token_offset, False))
                t_voc, (wave, state) = _timed(lambda: vocode(hift, vocoder, state, mel, False))
                rows.append({"flow_s": t_flow, "hift_s": t_voc, "total_s": t_flow + t_voc,
                             "new_frames": int(mel.shape[2]), "samples": int(wave.shape[1]),
                             "ms_per_frame": 1000 * (t_flow + t_voc) / max(1, int(mel.shape[2]))})
        out[name] = rows
    out["official_over_ours"] = [o["total_s"] / u["total_s"] for o, u in zip(out["official"], out["ours"])]
    out["flow_official_over_ours"] = [o["flow_s"] / u["flow_s"] for o, u in zip(out["official"], out["ours"])]
    out["hift_official_over_ours"] = [o["hift_s"] / u["hift_s"] for o, u in zip(out["official"], out["ours"])]
    full = [i for i, s in enumerate(schedule) if s.hop == 4 * cfg.chunk_size]  # the 100-token chunks
    if full:
        for name in ("official", "ours"):
            base = out[name][full[0]]["total_s"]
            out[f"{name}_growth_vs_first_100_token_chunk"] = [out[name][i]["total_s"] / base for i in full]
    return out


def run(*, quick: bool = False, chunks: int = 4, tokens: int = 30, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    cfg = quick_config3() if quick else official_config3()
    report: dict = {"family": "cosyvoice3", "size": "quick" if quick else "official (Fun-CosyVoice3-0.5B)",
                    "threads": threads, "machine": machine_info(threads), "loadavg_before": loadavg()}
    t_build, (lm, flow, hift) = _timed(lambda: build(cfg))
    report["build_s"] = t_build
    report["params"] = {n: sum(p.numel() for p in m.parameters()) for n, m in
                        (("llm", lm), ("flow", flow), ("hift", hift))}
    report["lm"] = bench_lm(lm, cfg, tokens)
    del lm
    report["stream"] = bench_stream(flow, hift, cfg, chunks)
    report["loadavg_after"] = loadavg()
    return report


def format_report(r: dict) -> str:
    s = r["stream"]
    lines = [f"CosyVoice 3, {r['size']}, {r['threads']} threads, load {r['loadavg_before']} -> {r['loadavg_after']}",
             f"LM: first token {r['lm']['first_token_s']:.2f} s, decode {r['lm']['ms_per_token']:.1f} ms/token",
             "chunk  tokens  hop | official: flow  hift  total  ms/frame | ours: flow  hift  total  ms/frame | "
             "official/ours"]
    for i, (o, u) in enumerate(zip(s["official"], s["ours"])):
        lines.append(f"{i + 1:>5}  {s['calls'][i]:>6}  {s['hop_tokens'][i]:>3} | {o['flow_s']:>8.2f} "
                     f"{o['hift_s']:>5.2f} {o['total_s']:>6.2f} {o['ms_per_frame']:>9.1f} | {u['flow_s']:>4.2f} "
                     f"{u['hift_s']:>5.2f} {u['total_s']:>6.2f} {u['ms_per_frame']:>9.1f} | "
                     f"{s['official_over_ours'][i]:.2f}")
    for name in ("official", "ours"):
        key = f"{name}_growth_vs_first_100_token_chunk"
        if key in s:
            lines.append(f"{name}: 100-token chunks cost {', '.join(f'{x:.2f}' for x in s[key])} x the first one")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.bench.cv3", description=__doc__.split("\n")[0])
    p.add_argument("--chunks", type=int, default=4, help="streaming chunks timed (default 4: hops 25, 50, 100, 100)")
    p.add_argument("--tokens", type=int, default=30, help="LM tokens timed (default 30)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("TIMBRE_BENCH_THREADS", 2)))
    p.add_argument("--json", type=Path)
    p.add_argument("--quick", action="store_true", help="tiny model (for tests)")
    args = p.parse_args(argv)
    report = run(quick=args.quick, chunks=args.chunks, tokens=args.tokens, threads=args.threads)
    print(format_report(report))
    if args.json:
        from ..atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
