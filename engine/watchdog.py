"""Runaway generation: a random or confused LM looping, or never stopping.

:class:`Watchdog` holds the limits and judges a token list; :class:`WatchedTokens` iterates an LM token
generator, stops it at the first verdict and keeps the verdict; :func:`trim_loop` cuts a detected loop back to
one period before the sentence is vocoded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

TOKENS_PER_SECOND = 25


@dataclass(frozen=True)
class Watchdog:
    """Limits that stop a runaway LM.

    max_tokens_per_text_token: speech tokens allowed per text token (the LM itself stops at 20; normal speech
    needs 3-8). repeat_seconds: a pattern of at most ``repeat_max_period`` tokens repeating for this long counts
    as a loop.
    """

    max_tokens_per_text_token: float = 15.0
    repeat_seconds: float = 3.0
    repeat_max_period: int = 4
    enabled: bool = True

    def check(self, tokens: Sequence[int], n_text: int) -> str | None:
        """A sentence explaining why generation must stop, or None."""
        if not self.enabled:
            return None
        n = len(tokens)
        if n > self.max_tokens_per_text_token * max(n_text, 1):
            return (f"stopped after {n} speech tokens for {n_text} text tokens "
                    f"(limit {self.max_tokens_per_text_token:g} per text token)")
        period = self._repeating_period(tokens)
        if period:
            return f"stopped a loop: a {period}-token pattern repeated for {self.repeat_seconds:g} s"
        return None

    def _repeating_period(self, tokens: Sequence[int]) -> int:
        span = int(self.repeat_seconds * TOKENS_PER_SECOND)
        if len(tokens) < span:
            return 0
        tail = tokens[-span:]
        for period in range(1, self.repeat_max_period + 1):
            if all(tail[i] == tail[i - period] for i in range(period, span)):
                return period
        return 0

    def trim_loop(self, tokens: list[int]) -> list[int]:
        """``tokens`` with a repeating tail cut back to where the repetition started, plus one period of it."""
        period = self._repeating_period(tokens)
        if not period:
            return tokens
        start = len(tokens) - int(self.repeat_seconds * TOKENS_PER_SECOND)
        while start - period >= 0 and tokens[start - 1] == tokens[start - 1 + period]:
            start -= 1
        return tokens[: start + period]


class WatchedTokens:
    """Iterates ``lm_tokens`` until the watchdog gives a verdict, which :attr:`verdict` then holds.

    The watchdog judges inside the token source, so the LM stops drawing exactly at its verdict even when it
    decodes ahead on a worker thread: the request's sampler stream carries over to the next sentence, and one
    token drawn past the cut would change every sentence after it. Closing this closes the LM generator.
    """

    def __init__(self, lm_tokens: Iterator[int], watchdog: Watchdog, n_text: int):
        self.watchdog = watchdog
        self.verdict: str | None = None
        self._it = self._watch(lm_tokens, n_text)

    def _watch(self, lm_tokens: Iterator[int], n_text: int) -> Iterator[int]:
        seen: list[int] = []
        try:
            for token in lm_tokens:
                seen.append(int(token))
                yield token
                self.verdict = self.watchdog.check(seen, n_text)
                if self.verdict:
                    return
        finally:
            close = getattr(lm_tokens, "close", None)
            if close is not None:
                close()  # stop the LM generator now (frees its KV cache), on the thread that ran it

    def __iter__(self) -> "WatchedTokens":
        return self

    def __next__(self) -> int:
        return next(self._it)

    def close(self) -> None:
        self._it.close()

    def finish(self, tokens: list[int]) -> list[int]:
        """The tokens to vocode once the LM is done: a detected loop cut off."""
        return self.watchdog.trim_loop(tokens) if self.verdict else tokens
