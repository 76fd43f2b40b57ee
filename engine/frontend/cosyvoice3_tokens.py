"""CosyVoice 3's text conventions: its 281 special tokens and the system prompt every request carries.

Tokenizer. ``CosyVoice3Tokenizer`` adds, after the 20 CosyVoice 2 specials (``<|endoftext|>`` + 19 tags),
``<|endofsystem|>``, 84 CMU phoneme tokens and 176 pinyin tokens, in this order (the order fixes the ids,
151663..151923 on the real Qwen2 vocabulary). The phoneme and pinyin tokens are pronunciation markup: text
like ``对报道[j][ǐ]予好评`` or ``[HH][AH0][L][OW1]`` tells the model how to say a word. They are special
tokens, so they match anywhere, are case-sensitive and vanish from decoded text.

System prompt. The CosyVoice 3 LM refuses input without ``<|endofprompt|>`` (the official code asserts id
151646). The official examples put ``You are a helpful assistant.<|endofprompt|>`` before the prompt
transcript (zero-shot), before the text to speak (cross-lingual / fine-grained control) and
``You are a helpful assistant. <instruction><|endofprompt|>`` as the instruction (instruct2).
:func:`with_system_prompt` and :func:`instruct_prompt` add it unless the text already has one, so callers
pass plain transcripts and instructions and official-style prompts pass through unchanged.
"""
from __future__ import annotations

from .tokenizer import COSYVOICE2_SPECIAL_TOKENS, END_OF_PROMPT

END_OF_SYSTEM = "<|endofsystem|>"
SYSTEM_PROMPT = "You are a helpful assistant."

# ARPAbet as CMUdict writes it; vowels carry a stress digit (0 none, 1 primary, 2 secondary) or none.
_ARPABET_VOWELS = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
_ARPABET_CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()


def _cmu_tokens() -> tuple[str, ...]:
    """Each phoneme in alphabetical order, a vowel followed by its three stressed forms: [AA] [AA0] [AA1] ..."""
    out: list[str] = []
    for p in sorted(_ARPABET_VOWELS + _ARPABET_CONSONANTS):
        out += [f"[{p}]"] + ([f"[{p}{s}]" for s in "012"] if p in _ARPABET_VOWELS else [])
    return tuple(out)


# Pinyin initials and finals (finals with tone marks, and toneless for the neutral tone) as the model knows
# them; the official list is these in code-point order.
_PINYIN = """
b c ch d f g h j k l m n p q r s sh t w x y z zh
a ai an ang ao e ei en eng i ian in ing iu o ong ou u uang ue un uo
à ài àn àng ào á ái án áng áo ā āi ān āng āo ǎ ǎi ǎn ǎng ǎo
è èi èn èng èr é éi én éng ér ē ēi ēn ēng ě ěi ěn ěng ěr
ì ìn ìng í ín íng ī īn īng ǐ ǐn ǐng
ò òng òu ó óng óu ō ōng ōu ǒ ǒng ǒu
ù ùn ú ún ū ūn ǔ ǔn ǘ ǚ ǜ vè
ià iàn iàng iào iá ián iáng iáo iā iān iāng iāo iǎ iǎn iǎng iǎo
iè ié iē iě iòng ióng iōng iǒng iù iú iū iǔ
uà uài uàn uàng uá uái uán uáng uā uāi uān uāng uǎ uǎi uǎn uǎng
uè ué uē uě uì uí uī uǐ uò uó uō uǒ
"""

CMU_PHONEME_TOKENS: tuple[str, ...] = _cmu_tokens()
PINYIN_TOKENS: tuple[str, ...] = tuple(f"[{p}]" for p in sorted(set(_PINYIN.split())))

# CosyVoice3Tokenizer's additional_special_tokens, in the official order (after <|endoftext|>).
COSYVOICE3_SPECIAL_TOKENS: tuple[str, ...] = (
    COSYVOICE2_SPECIAL_TOKENS + (END_OF_SYSTEM,) + CMU_PHONEME_TOKENS + PINYIN_TOKENS)

PRONUNCIATION_TOKENS = frozenset(CMU_PHONEME_TOKENS + PINYIN_TOKENS)


def with_system_prompt(text: str) -> str:
    """``text`` behind the system prompt (``You are a helpful assistant.<|endofprompt|>``), unless it has one."""
    return text if END_OF_PROMPT in text else f"{SYSTEM_PROMPT}{END_OF_PROMPT}{text}"


def instruct_prompt(instruction: str) -> str:
    """An instruct2 instruction as CosyVoice 3 wants it: ``You are a helpful assistant. <instruction><|endofprompt|>``
    (returned as given when it already has ``<|endofprompt|>``)."""
    if END_OF_PROMPT in instruction:
        return instruction
    return f"{SYSTEM_PROMPT} {instruction.strip()}{END_OF_PROMPT}"


__all__ = ["CMU_PHONEME_TOKENS", "COSYVOICE3_SPECIAL_TOKENS", "END_OF_SYSTEM", "PINYIN_TOKENS",
           "PRONUNCIATION_TOKENS", "SYSTEM_PROMPT", "instruct_prompt", "with_system_prompt"]
