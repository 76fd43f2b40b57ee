"""Text frontend: parity with the official text_normalize, our fixed default path, bad input, properties."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import TextInputError
from engine.frontend.text import (
    HARD_MAX_LEN,
    MAX_TEXT_CHARS,
    TextFrontend,
    clean_text,
    normalize_and_split,
    reference_text_normalize,
)
from engine.frontend.tokenizer import load_tokenizer

PARITY = Path(__file__).resolve().parents[1] / "fixtures" / "parity"
REPO = Path(__file__).resolve().parents[2]
TOKENIZER_DIR = (PARITY / "qwen2-tokenizer") if (PARITY / "qwen2-tokenizer").is_dir() else (
    PARITY / "model" / "CosyVoice-BlankEN")

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(TOKENIZER_DIR)


def norm(text, tok, **kw):
    return normalize_and_split(text, tok, **kw)


def test_parity_with_official_text_normalize_goldens(stage_parity):
    stage_parity("text")


# ---------------------------------------------------------------- faithful fallback vs our default
def test_inflect_backend_keeps_the_official_quirks(tok):
    assert norm("the 2nd of May", tok, normalizer="inflect") == ["the twond of May."]
    assert norm("in 1990", tok, normalizer="inflect", split=False) == "in one thousand, nine hundred and ninety"
    # The official code crashes (IndexError) on whitespace-only text; we raise a typed error.
    with pytest.raises(TextInputError):
        reference_text_normalize("   ", tok)
    assert reference_text_normalize("", tok) == [""]  # the reference's own output for ""


def test_default_fixes_the_official_quirks(tok):
    assert norm("the 2nd of May", tok) == ["the second of May."]
    for text in ("   ", "\n\t ", ""):
        with pytest.raises(TextInputError, match="no text"):
            norm(text, tok)


@pytest.mark.parametrize("text, want", [
    ("I have 3 apples and 25 oranges.", "I have three apples and twenty five oranges."),
    ("It costs $1,234.56 today.", "It costs one thousand two hundred and thirty-four dollars and fifty-six cents today."),
    ("Only $0.99!", "Only ninety-nine cents!"),
    ("$5.50 or €1", "five dollars and fifty cents or one euro"),
    ("$3.5 billion", "three point five billion dollars"),
    ("I have 1000 apples and 1,000 pears.", "I have one thousand apples and one thousand pears."),
    ("He was born in 1990, in the 1990s.", "He was born in nineteen ninety, in the nineteen nineties."),
    ("In 2005 and 1066 AD.", "In two thousand and five and ten sixty-six AD."),
    ("We are #1.", "We are number one."),
    ("1st 2nd 3rd 21st 112th", "first second third twenty first one hundred twelfth"),
    ("It is 50% done at 3:30.", "It is fifty percent done at three thirty."),
    ('He said "hi".', 'He said "hi".'),
    ("Mr. Smith ran 10km.", "Mister Smith ran ten kilometers."),
    ("Serial 12345678901234567890.", None),  # long digit runs: read somehow, never crash
    ("Call +1 555 123 4567 now.", None),      # wetext asserts on this; we fall back for that chunk
])
def test_default_english_numbers(tok, text, want):
    got = norm(text, tok, split=False)
    if want is not None:
        assert got == want
    assert not any(c.isdigit() for c in got)


def test_default_chinese_path(tok):
    assert norm("今天是2024年3月5日，气温25度。", tok) == ["今天是二零二四年三月五日，气温二十五度。"]
    assert norm("这是（注释）一句话【标注】，，", tok) == ["这是注释一句话标注。"]
    assert norm("第一行\n第二行", tok, split=False) == "第一行第二行"


def test_markup_and_tags_pass_through(tok):
    instruct = "Speak slowly.<|endofprompt|>I have 3 cats."
    for n in ("wetext", "inflect", "none"):
        assert norm(instruct, tok, normalizer=n) == [instruct]
    got = norm("I [laughter] have <strong>2</strong> cats.", tok)
    assert got == ["I [laughter] have <strong>two</strong> cats."]
    got = norm("他突然[laughter]停下来，<strong>付出</strong>。", tok)
    assert got == ["他突然[laughter]停下来，<strong>付出</strong>。"]


def test_none_normalizer_is_the_official_frontend_off(tok):
    text = "  Room 1203, floor 12.  Next sentence here. "
    assert norm(text, tok, normalizer="none") == [text]
    assert norm(text, tok, normalizer="none", split=False) == text


def test_long_english_text_is_split_by_tokens(tok):
    sentence = "This sentence has a handful of ordinary words in it. "
    text = sentence * 30
    pieces = norm(text, tok)
    assert len(pieces) > 1
    assert "".join(pieces) == norm(text, tok, split=False)
    for piece in pieces[:-1]:
        n = len(tok.encode(piece))
        assert 60 < n <= 80 + len(tok.encode(sentence))


def test_unpunctuated_wall_of_text_is_cut_into_lm_sized_pieces(tok):
    text = "word " * 3000
    pieces = norm(text, tok)
    assert len(pieces) > 1
    assert all(len(tok.encode(p)) <= HARD_MAX_LEN for p in pieces)
    assert "".join(pieces).split() == (["word"] * 2999 + ["word."])
    zh = norm("你好" * 1000, tok)
    assert all(len(p) <= HARD_MAX_LEN + 1 for p in zh) and "".join(zh).count("你好") == 1000


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("junk", [None, float("nan"), 12, b"bytes", ["list"]])
def test_non_strings_raise(tok, junk):
    with pytest.raises(TextInputError, match="must be a string"):
        norm(junk, tok)


def test_control_characters_are_stripped_and_surrogates_refused(tok):
    assert clean_text("a\x00b\x07c\u200b d\r\ne\tf\x7f") == "abc d\ne f"
    assert norm("Hello\x00 \x1bworld\x85again", tok) == ["Hello world again."]
    with pytest.raises(TextInputError, match="surrogate"):
        norm("bad \udc80 text", tok)
    with pytest.raises(TextInputError, match="no text"):
        norm("\x00\x01\u200b\u200d", tok)


def test_punctuation_only_text_has_nothing_to_speak(tok):
    for text in ("...", "。。。", "?!"):
        with pytest.raises(TextInputError, match="nothing to speak"):
            norm(text, tok)
    assert norm("...", tok, split=False) == "..."


def test_text_length_limit(tok):
    with pytest.raises(TextInputError, match="limit"):
        norm("a" * (MAX_TEXT_CHARS + 1), tok)
    # 100k characters are accepted: one unbreakable word is still cut into LM-sized pieces.
    pieces = norm("a" * MAX_TEXT_CHARS, tok)
    assert all(len(tok.encode(p)) <= HARD_MAX_LEN for p in pieces)
    text = ("Sentence number 42 is here. " * 4000)[:MAX_TEXT_CHARS]
    assert len(norm(text, tok, normalizer="inflect")) > 100


def test_inflect_backend_refuses_numbers_too_long_to_spell(tok):
    with pytest.raises(TextInputError, match="too long"):
        norm("9" * 40, tok, normalizer="inflect")


# ---------------------------------------------------------------------------- wetext guarantees
def test_wetext_runs_without_network():
    """Fresh interpreter with every socket refused: wetext must import, load its FSTs and normalise."""
    code = textwrap.dedent("""
        import socket
        def refuse(*a, **k):
            raise RuntimeError("network access attempted")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from engine.frontend.text import normalize_and_split
        class Tok:
            def encode(self, s):
                return s.split()
        print(normalize_and_split("It is 25 degrees on May 5th.", Tok()))
        print(normalize_and_split("今天25度。", Tok()))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "twenty five" in out.stdout and "二十五" in out.stdout


@pytest.mark.parametrize("text, want", [
    ("2nd place", "second place"),
    ("50%", "fifty percent"),
    ("3:30", "three thirty"),
    ("Mr. Smith", "Mister Smith"),
    ("1.5", "one point five"),
    ("-3", "negative three"),
])
def test_wetext_english_behaviour_we_rely_on(text, want):
    from wetext import Normalizer

    assert Normalizer(lang="en").normalize(text) == want


# ------------------------------------------------------------------------------------ properties
_vocab = st.sampled_from([
    "hello", "world", "The", "price", "is", "3", "25", "1990", "2nd", "$5", "$1,234.56", "May", "in", ",", ".",
    "!", "?", "1,000", "你好", "世界", "今天", "。", "，", "12", "5%", "Dr.", "&", "——", "（", "）", "-", " - ",
    "[laughter]", "<strong>", "</strong>", "\"", "'", "\n",
])
_word_soup = st.lists(_vocab, min_size=1, max_size=25).map(" ".join)
_any_text = st.one_of(st.text(max_size=60), _word_soup)


@SETTINGS
@given(text=_any_text, normalizer=st.sampled_from(["wetext", "inflect", "none"]), split=st.booleans())
def test_only_text_input_errors_and_pieces_are_never_empty(tok, text, normalizer, split):
    try:
        out = normalize_and_split(text, tok, normalizer=normalizer, split=split)
    except TextInputError as e:
        assert str(e)
        return
    if split:
        assert out and all(isinstance(p, str) and p.strip() for p in out)
        assert not any(ch in "".join(out) for ch in "\x00\x1b\u200b")
    else:
        assert isinstance(out, str) and out.strip()


# Abbreviations ("Dr.") are left out: wetext expands them depending on the next characters, so a
# second run can expand what the first run left.
_idempotent_soup = st.lists(_vocab.filter(lambda w: w != "Dr."), min_size=1, max_size=25).map(" ".join)


@SETTINGS
@given(text=_idempotent_soup)
def test_default_normalize_is_idempotent(tok, text):
    try:
        once = normalize_and_split(text, tok, split=False)
    except TextInputError:
        return
    assert normalize_and_split(once, tok, split=False) == once


@SETTINGS
@given(text=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp")), min_size=1, max_size=60)
       .filter(lambda t: t.strip()))
def test_none_normalizer_returns_printable_text_unchanged(tok, text):
    assert normalize_and_split(text, tok, normalizer="none") == [text]
    assert normalize_and_split(text, tok, normalizer="none", split=False) == text


# ------------------------------------------------------------------------------------ TextFrontend
def test_text_frontend_wraps_tokenizer_and_normalizer():
    fe = TextFrontend.from_model_dir(PARITY / "model")
    pieces = fe.split_sentences("I have 3 cats. They are 2 years old.")
    assert pieces == ["I have three cats. They are two years old."]
    assert fe.normalize("I have 3 cats") == "I have three cats"
    ids = fe.tokenize(pieces[0])
    assert ids.dtype == torch.long and ids.shape == (1, len(fe.tokenizer.encode(pieces[0])))
    assert ids[0].tolist() == fe.tokenizer.encode(pieces[0])
    assert fe.tokenize("").shape == (1, 0)
    with pytest.raises(TextInputError):
        fe.split_sentences(" ")
    with pytest.raises(ValueError):
        TextFrontend(fe.tokenizer, normalizer="fancy")  # type: ignore[arg-type]


@pytest.mark.parametrize("normalizer", ["wetext", "inflect"])
@pytest.mark.parametrize("text, kept, spelled", [
    ("Say [M][AY0][N][UW1][T] in 5 minutes.", "[M][AY0][N][UW1][T]", "five"),
    ("I have 2 [AA1] cats [B]!", "[AA1] cats [B]", "two"),
    ("高管也通过电话对报道[j][ǐ]予好评。", "报道[j][ǐ]予好评", None),
])
def test_pronunciation_markup_is_kept_and_the_text_around_it_normalised(tok, normalizer, text, kept, spelled):
    # CosyVoice 3 pronunciation tokens carry digits the official normalisers would spell ([AH0] -> [AHzero])
    pieces = normalize_and_split(text, tok, normalizer=normalizer)
    whole = "".join(pieces)
    assert kept in whole
    if spelled:
        assert spelled in whole and not any(c.isdigit() for c in whole.replace("[AY0]", "").replace("[UW1]", "")
                                            .replace("[AA1]", ""))
    again = normalize_and_split(whole, tok, normalizer=normalizer, split=False)
    assert again == normalize_and_split(text, tok, normalizer=normalizer, split=False)  # idempotent


def test_bracketed_words_that_are_not_pronunciation_tokens_are_normalised_as_before(tok):
    # [A1] is no CMU token (A is no phoneme), so its digit is spelled as in any other text
    assert normalize_and_split("Take [A1] now.", tok, normalizer="wetext") == \
        [normalize_and_split("Take [A1] now.", tok, normalizer="wetext", split=False)]
    assert "[A1]" not in normalize_and_split("Take [A1] now.", tok, normalizer="wetext", split=False)
