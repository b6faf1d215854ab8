"""Transcript checks, text normalisation, the ASR-noise view, the corpus loader."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline_common.errors import InvalidArgument
from helpline_scorer.asr_noise import noisy, word_error_rate
from helpline_scorer.corpus import derive_timings
from helpline_scorer.textnorm import asr_text, number_to_words
from helpline_scorer.transcript import call_from_json


def seg(**kw):
    return {"speaker": "counselor", "start": 0.0, "end": 1.0, "text": "здравствуйте"} | kw


@pytest.mark.parametrize("data", [
    {"call_id": "x", "segments": []},
    {"call_id": "x"},
    [],
    {"call_id": "x", "segments": [seg(start=-1.0)]},
    {"call_id": "x", "segments": [seg(start=2.0, end=1.0)]},
    {"call_id": "x", "segments": [seg(speaker="bob")]},
    {"call_id": "x", "segments": [seg(speaker="unknown")]},
    {"call_id": "x", "segments": [seg(start="soon")]},
    {"call_id": "x", "segments": [seg(text=5)]},
    {"call_id": "x", "segments": [seg(end=float("nan"))]},
    {"call_id": "x", "segments": ["text"]},
])
def test_malformed_transcripts_are_invalid_argument(data):
    with pytest.raises(InvalidArgument):
        call_from_json(data)


def test_a_good_transcript_parses():
    call = call_from_json({"call_id": "c", "segments": [seg(), seg(speaker="caller", start=1.2, end=2.0, text="")],
                           "extra": 1})
    assert [s.speaker for s in call.segments] == ["counselor", "caller"] and call.segments[1].start == 1.2


def test_asr_text_is_lower_case_without_punctuation_and_numbers_in_words():
    assert asr_text("Звони 112, Маша! Тебе 14?") == "звони сто двенадцать маша тебе четырнадцать"
    assert number_to_words(2000) == "две тысячи" and number_to_words(0) == "ноль"
    assert asr_text("[ИМЯ] позвонил(а)") == "ph_имя позвонил а"


TEXTS = ["Детский телефон доверия, здравствуйте. Меня зовут Ольга, я вас внимательно слушаю.",
         "Тебе очень обидно, что дома тебя не слышат, и ты не знаешь, кому рассказать об этом.",
         "Если станет совсем плохо, звони 112 или нам, мы работаем круглосуточно и бесплатно."]


def test_noise_is_deterministic_and_within_the_rate():
    for text in TEXTS:
        a, b = noisy(text, 3, "k"), noisy(text, 3, "k")
        assert a == b
        assert a == a.lower() and not any(ch in a for ch in ",.!?0123456789")
    rates = [word_error_rate(asr_text(t), noisy(t, seed, "k")) for t in TEXTS for seed in range(40)]
    mean = sum(rates) / len(rates)
    assert 0.08 <= mean <= 0.35, mean
    assert sum(noisy(t, 1, "k") != noisy(t, 2, "k") for t in TEXTS) >= 2  # the seed matters


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200), st.integers(0, 10))
def test_noise_never_crashes(text, seed):
    out = noisy(text, seed)
    assert isinstance(out, str)


def test_derived_timings_are_ordered_and_deterministic():
    segs = [("counselor", "Детский телефон доверия, здравствуйте."), ("caller", "Привет"),
            ("counselor", "Расскажи, что случилось?")] * 10
    times = derive_timings("c-1", segs)
    assert times == derive_timings("c-1", segs)
    assert all(0 <= a < b for a, b in times)
    assert all(b - a >= 0.6 for a, b in times)


def test_the_corpus_loads_with_timings(corpus):
    stats = corpus.stats()
    assert stats["calls"] >= 20 and stats["counselor_utterances"] >= 500
    assert not stats["problems"].get("bad_call_line"), stats["problems"]
    for c in corpus.calls[:5]:
        assert len(c.codes) == len(c.call.segments)
        assert all(s.end > s.start for s in c.call.segments)
