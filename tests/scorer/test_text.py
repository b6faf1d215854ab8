"""Transcript checks, text normalisation, the ASR-noise view, the corpus loader and its second annotation."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpline_common.errors import InvalidArgument
from helpline_scorer.asr_noise import noisy, word_error_rate
from helpline_scorer.corpus import ADJUDICATION_FILE, derive_timings, load_corpus
from helpline_scorer.lexicon import Lexicon
from helpline_scorer.model import Example, Featurizer
from helpline_scorer.textnorm import asr_text, lemmas, number_to_words
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
    {"call_id": "x", "segments": [seg(end=1e300)]},
    {"call_id": "x", "segments": [{k: v for k, v in seg().items() if k != "text"}]},
    {"segments": [seg()]},
    {"call_id": "", "segments": [seg()]},
    {"call_id": "x", "segments": [seg(start=5.0, end=6.0), seg(start=1.0, end=2.0)]},
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
    assert not stats["problems"].get("stale_adjudication"), "a writer edited a call since its adjudication"
    for c in corpus.calls[:5]:
        assert len(c.codes) == len(c.call.segments)
        assert all(s.end > s.start for s in c.call.segments)


def test_adjudicated_codes_apply_over_the_writers_files(tmp_path, protocol):
    segments = [("counselor", "Телефон доверия, здравствуйте.", ["greeting"]),
                ("caller", "Меня дома бьют.", []),
                ("counselor", "Ну так слушайся, и не будут.", ["advice_directive"]),
                ("counselor", "Он тебя сейчас бьёт?", ["closed_question"]),
                ("counselor", "Ты его вживую видела?", ["risk_question"]),
                ("counselor", "Ерунда.", ["judgment"])]
    call = {"call_id": "t-1", "segments": [{"speaker": sp, "text": t, "codes": c} for sp, t, c in segments]}
    (tmp_path / "t_calls.jsonl").write_text(json.dumps(call, ensure_ascii=False) + "\n", encoding="utf-8")
    decisions = [{"segment": 1, "code": "risk_cue", "writer": False, "final": True},
                 {"segment": 2, "code": "judgment", "writer": False, "final": True},
                 {"segment": 3, "code": "risk_question", "writer": False, "final": True},
                 {"segment": 4, "code": "risk_question", "writer": True, "final": False, "instead": "closed_question"},
                 {"segment": 5, "code": "judgment", "writer": True, "final": False},
                 {"segment": 0, "code": "judgment", "writer": True, "final": False}]  # stale: the file says no
    utterances = [{"speaker": "caller", "context": "", "text": "Хоть вешайся, шучу.", "codes": []},
                  {"speaker": "counselor", "context": "", "text": "Не выдумывай.", "codes": ["judgment"]}]
    (tmp_path / "t_utterances.jsonl").write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in utterances),
                                                 encoding="utf-8")
    lines = [{"call_id": "t-1", **d} for d in decisions]
    lines.append({"utterance": "t-u1", "code": "risk_cue", "writer": False, "final": True})
    (tmp_path / ADJUDICATION_FILE).write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    corpus = load_corpus(tmp_path, protocol)
    assert [set(c) for c in corpus.calls[0].codes] == [
        {"greeting"}, {"risk_cue"}, {"advice_directive", "judgment"}, {"risk_question"}, {"closed_question"},
        {"other"}]
    assert [set(u.codes) for u in corpus.utterances] == [{"risk_cue"}, {"judgment"}]  # only the first decided
    assert corpus.problems["stale_adjudication"] == 1
    assert len(corpus.calls) == 1 and len(corpus.utterances) == 2  # the adjudication file is no author's


def test_the_agreement_of_the_second_annotation_recomputes_from_the_files(capsys):
    script = Path(__file__).resolve().parents[2] / "services/scorer/data/annotation/agreement.py"
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    kappas = [float(k) for line in out.splitlines() if "kappa" in line for k in re.findall(r"\d\.\d{3}", line)]
    assert len(kappas) == 9 and all(0.5 < k <= 1.0 for k in kappas), out  # calls: 3 codes x 2, utterances: 3
    assert "flags of the second annotator against the writers'" in out


def _lexicon_rows(lexicon, texts):
    norm = [asr_text(t) for t in texts]
    return lexicon.features(norm, [lemmas(n) for n in norm]).toarray()


def test_the_risk_lexicon_counts_categories_on_text_and_lemmas():
    lexicon = Lexicon.load()
    cats = list(lexicon.categories)
    rows = _lexicon_rows(lexicon, ["Я режу руки.", "Отчим меня бьёт ремнём", "Я больше не хочу жить",
                                   "Я из дома ушла и не вернусь", "У меня завтра контрольная"])
    assert rows.shape == (5, lexicon.width)
    assert rows[0, cats.index("self_harm")] > 0  # «режу» is lemmatised as «реж»
    assert rows[1, cats.index("violence")] > 0
    assert rows[2, cats.index("death")] > 0  # a negation inside the pattern itself
    assert rows[3, cats.index("running_away")] > 0
    assert not rows[4].any()


def test_negation_words_count_a_negated_match_apart(tmp_path):
    plain = Lexicon.load()
    negating = Lexicon(plain.version, plain.categories, frozenset({"не", "никогда"}), 2)
    violence = list(plain.categories).index("violence")
    rows = _lexicon_rows(negating, ["батя не бьёт он просто кричит", "батя бьёт меня",
                                    "он не бьёт но вчера ударил"])
    assert negating.width == 2 * plain.width
    assert rows[0, 2 * violence] == 0 and rows[0, 2 * violence + 1] > 0  # only negated
    assert rows[1, 2 * violence] > 0 and rows[1, 2 * violence + 1] == 0
    assert rows[2, 2 * violence] > 0  # one un-negated match is enough
    assert _lexicon_rows(plain, ["батя не бьёт"])[0, violence] > 0  # without negation words: as before


def test_a_featurizer_fits_examples_without_any_previous_turn():
    examples = [Example("caller", t, context="") for t in ("мне плохо", "я режу руки", "всё хорошо")]
    featurizer = Featurizer()  # the caller gets no previous turn: no context block at all
    X = featurizer.fit_transform(examples)
    assert featurizer.context is None
    assert featurizer.transform(examples[:1]).main.shape == (1, X.main.shape[1])
