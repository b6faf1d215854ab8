"""Protocol v1 criteria on hand-built transcripts with given codes: every rule, not-applicable cases,
weights, bands, critical flags and measures."""

from __future__ import annotations

import pytest

from helpline_scorer.criteria import MET, NOT_APPLICABLE, NOT_MET, _p_at_least, evaluate_call
from helpline_scorer.protocol import first_match, load_protocol
from helpline_scorer.scoring import to_json
from helpline_scorer.transcript import make_call


def build(turns, durations=None):
    """turns: [(speaker, codes)]; each segment lasts 2 s (or `durations`), 0.5 s apart."""
    raw, t = [], 0.0
    for i, (speaker, _codes) in enumerate(turns):
        d = durations[i] if durations else 2.0
        raw.append((speaker, t, t + d, "слово " * int(d * 2)))
        t += d + 0.5
    return make_call("c1", raw), [frozenset(c) for _s, c in turns]


GOOD = [
    ("counselor", {"greeting"}), ("caller", set()),
    ("counselor", {"confidentiality", "open_question"}), ("caller", set()),
    ("counselor", {"reflection"}), ("caller", set()),
    ("counselor", {"empathy", "open_question"}), ("caller", set()),
    ("counselor", {"summary"}), ("caller", set()),
    ("counselor", {"resource_exploration"}), ("caller", set()),
    ("counselor", {"closing"}),
]


@pytest.fixture(scope="module")
def protocol():
    return load_protocol()


def outcomes(protocol, turns, durations=None):
    call, codes = build(turns, durations)
    return evaluate_call(protocol, call, codes)


def test_a_good_call_meets_everything_and_risk_criteria_do_not_apply(protocol):
    r = outcomes(protocol, GOOD, [2, 3] * 6 + [2])
    o = r.outcomes()
    assert o["risk_assessment"] == NOT_APPLICABLE and o["referral"] == NOT_APPLICABLE
    assert all(v == MET for k, v in o.items() if k not in ("risk_assessment", "referral")), o
    assert r.score == 100.0 and r.band == "high" and r.critical == ()


def test_each_count_rule_fails_without_its_code(protocol):
    def drop(code):
        return [(s, c - {code}) for s, c in GOOD]

    assert outcomes(protocol, drop("confidentiality")).outcomes()["confidentiality"] == NOT_MET
    assert outcomes(protocol, drop("summary")).outcomes()["summary"] == NOT_MET
    assert outcomes(protocol, drop("resource_exploration")).outcomes()["resources"] == NOT_MET
    one_open = [(s, c - {"open_question"}) if i == 6 else (s, c) for i, (s, c) in enumerate(GOOD)]
    assert outcomes(protocol, one_open).outcomes()["open_questions"] == NOT_MET  # needs two
    one_listen = [(s, c - {"empathy"}) for s, c in GOOD]
    assert outcomes(protocol, one_listen).outcomes()["active_listening"] == NOT_MET  # one reflection only


def test_greeting_and_closing_must_be_in_the_first_and_last_two_turns(protocol):
    late_greeting = [("counselor", set()), ("counselor", {"other"}), ("counselor", {"greeting"}), *GOOD[1:]]
    assert outcomes(protocol, late_greeting).outcomes()["greeting"] == NOT_MET
    second_turn = [("counselor", {"other"}), *GOOD]
    assert outcomes(protocol, second_turn).outcomes()["greeting"] == MET
    early_closing = [*GOOD[:-1], ("counselor", {"closing"}), ("counselor", {"other"}), ("counselor", {"other"})]
    assert outcomes(protocol, early_closing).outcomes()["closing"] == NOT_MET
    closing_then_one = [*GOOD, ("counselor", {"other"})]
    assert outcomes(protocol, closing_then_one).outcomes()["closing"] == MET


def test_risk_cue_makes_risk_criteria_apply_and_a_missed_question_is_critical(protocol):
    with_cue = [*GOOD[:3], ("caller", {"risk_cue"}), *GOOD[4:]]
    r = outcomes(protocol, with_cue)
    assert r.outcomes()["risk_assessment"] == NOT_MET and r.outcomes()["referral"] == NOT_MET
    assert r.critical == ("missed_risk_assessment",)
    # weights: all met except risk_assessment (3) and referral (2) out of 19 applicable
    assert r.score == pytest.approx(round(100 * 14 / 19, 2))
    assert r.band == "medium"
    evidence = {c.criterion_id: [e.segment_index for e in c.evidence] for c in r.criteria}
    assert evidence["risk_assessment"] == [3]

    asked = [*with_cue[:4], ("counselor", {"risk_question"}), ("caller", set()), ("counselor", {"referral"}),
             *with_cue[4:]]
    r = outcomes(protocol, asked)
    assert r.outcomes()["risk_assessment"] == MET and r.outcomes()["referral"] == MET
    assert r.critical == () and r.score == 100.0


def test_judgment_is_critical_and_directive_advice_needs_two(protocol):
    one_judgment = [*GOOD[:-1], ("counselor", {"judgment"}), ("caller", set()), GOOD[-1]]
    r = outcomes(protocol, one_judgment)
    assert r.outcomes()["no_judgment"] == NOT_MET and r.critical == ("judgment",)
    one_advice = [*GOOD[:-1], ("counselor", {"advice_directive"}), GOOD[-1]]
    assert outcomes(protocol, one_advice).outcomes()["no_directive_advice"] == MET
    two_advice = [*GOOD[:-1], ("counselor", {"advice_directive"}), ("counselor", {"advice_directive"}), GOOD[-1]]
    assert outcomes(protocol, two_advice).outcomes()["no_directive_advice"] == NOT_MET


def test_talk_balance_uses_speech_time(protocol):
    turns = [("counselor", {"greeting"}), ("caller", set())]
    assert outcomes(protocol, turns, [6, 4]).outcomes()["talk_balance"] == MET  # 60 % exactly
    assert outcomes(protocol, turns, [6.2, 3.8]).outcomes()["talk_balance"] == NOT_MET


def test_bands_and_an_empty_counselor(protocol):
    assert protocol.band(80) == "high" and protocol.band(79.99) == "medium"
    assert protocol.band(50) == "medium" and protocol.band(49.99) == "low"
    r = outcomes(protocol, [("caller", set()), ("caller", set())])
    assert r.outcomes()["greeting"] == NOT_MET and r.band == "low"


def test_weights_and_thresholds_come_from_the_protocol_file(tmp_path, protocol):
    text = protocol.source_yaml.replace("max_share: 0.60", "max_share: 0.70")
    text = text.replace("weight: 3\n    critical_flag: missed_risk_assessment",
                        "weight: 10\n    critical_flag: missed_risk_assessment")
    path = tmp_path / "v1.yaml"
    path.write_text(text, encoding="utf-8")
    edited = load_protocol(path)
    turns = [("counselor", {"greeting"}), ("caller", {"risk_cue"})]
    call, codes = build(turns, [6.5, 3.5])
    assert evaluate_call(protocol, call, codes).outcomes()["talk_balance"] == NOT_MET
    r = evaluate_call(edited, call, codes)
    assert r.outcomes()["talk_balance"] == MET
    assert next(c for c in r.criteria if c.criterion_id == "risk_assessment").weight == 10
    assert protocol.review_threshold_factor == 1.0 and edited.review_threshold_factor == 1.0


def test_the_flags_operating_point_comes_from_the_protocol_file(tmp_path, protocol):
    path = tmp_path / "v1.yaml"
    path.write_text(protocol.source_yaml.replace("review_threshold_factor: 1.0", "review_threshold_factor: 2.5"),
                    encoding="utf-8")
    assert load_protocol(path).review_threshold_factor == 2.5
    path.write_text(protocol.source_yaml.replace("review_threshold_factor: 1.0", "review_threshold_factor: 0"),
                    encoding="utf-8")
    with pytest.raises(ValueError, match="review_threshold_factor"):
        load_protocol(path)


def test_measures(protocol):
    raw = [("counselor", 0.0, 4.0, "раз два три четыре пять шесть семь восемь"),
           ("caller", 4.5, 10.0, "я"),
           ("counselor", 9.0, 13.0, "раз два три четыре пять шесть семь восемь"),  # starts while caller speaks
           ("caller", 20.0, 22.0, "да")]
    call = make_call("m", raw)
    codes = [frozenset({"open_question"}), frozenset(), frozenset({"reflection", "closed_question"}), frozenset()]
    m = evaluate_call(protocol, call, codes).measures
    assert m.counselor_talk_share == pytest.approx(8 / 15.5, abs=1e-4)
    assert m.reflection_to_question == 0.5 and m.open_question_share == 0.5
    assert m.longest_silence_s == 7.0 and m.interruptions == 1
    assert m.speech_rate_wpm == pytest.approx(16 / (8 / 60))


def test_confidence_follows_the_probabilities(protocol):
    assert _p_at_least([0.5, 0.5], 2) == pytest.approx(0.25)
    assert _p_at_least([0.5, 0.5, 0.5], 2) == pytest.approx(0.5)
    call, codes = build([("counselor", {"greeting"}), ("caller", set())])
    probs = [{c: (0.9 if c == "greeting" else 0.01) for c in protocol.counselor_codes}, {"risk_cue": 0.02}]
    r = evaluate_call(protocol, call, codes, probs)
    greeting = next(c for c in r.criteria if c.criterion_id == "greeting")
    assert greeting.confidence == pytest.approx(0.9, abs=1e-3)
    assert greeting.evidence[0].segment_index == 0 and greeting.evidence[0].end == 2.0
    risk = next(c for c in r.criteria if c.criterion_id == "risk_assessment")
    assert risk.outcome == NOT_APPLICABLE and risk.confidence == pytest.approx(0.98, abs=1e-3)


def test_review_codes_raise_flags_without_changing_outcomes_or_score(protocol):
    """A cue only the recall-first view sees flags the call for review; the score stays that of the
    most probable codes, and the flagged criterion points at the suspected cue."""
    call, codes = build(GOOD)
    review = list(codes)
    review[3] = frozenset({"risk_cue"})  # a caller segment
    review[4] = frozenset({"reflection", "judgment"})
    plain = evaluate_call(protocol, call, codes)
    r = evaluate_call(protocol, call, codes, review_codes=review)
    assert r.outcomes() == plain.outcomes() and r.score == plain.score == 100.0 and r.band == "high"
    assert r.critical == ("missed_risk_assessment", "judgment")  # in protocol order
    # both possible: no criterion fails on the most probable codes; likely when it does
    assert to_json(r)["critical_tiers"] == {"missed_risk_assessment": "possible", "judgment": "possible"}
    assert to_json(evaluate_call(protocol, call, review, review_codes=review))["critical_tiers"] == {
        "missed_risk_assessment": "likely", "judgment": "likely"}
    risk = next(c for c in r.criteria if c.criterion_id == "risk_assessment")
    assert risk.outcome == NOT_APPLICABLE and [e.segment_index for e in risk.evidence] == [3]
    judgment = next(c for c in r.criteria if c.criterion_id == "no_judgment")
    assert judgment.outcome == MET and [e.segment_index for e in judgment.evidence] == [4]
    asked = list(review)
    asked[6] = frozenset({"risk_question"})  # a risk question was asked: the cue raises no flag
    assert evaluate_call(protocol, call, codes, review_codes=asked).critical == ("judgment",)
    with pytest.raises(ValueError):
        evaluate_call(protocol, call, codes, review_codes=review[:-1])


def test_explicit_words_of_wanting_to_die_always_reach_the_review_list(protocol):
    """The protocol's always-review words put a risk cue in the review view whatever the model said: the
    call is flagged with that segment as evidence, unless a risk question was asked. Gold codes and the
    score are untouched, and look-alikes that are not about dying raise nothing."""
    call, codes = build(GOOD)
    texts = {3: "Да нормально всё. Иногда я не хочу жить. А так нормально.",
             5: "Я не хочу жить с отцом, он всё время орёт."}  # not a wish to die: no pattern matches it
    call = make_call("c1", [(s.speaker, s.start, s.end, texts.get(s.index, s.text)) for s in call.segments])
    r = evaluate_call(protocol, call, codes, review_codes=codes)
    assert r.critical == ("missed_risk_assessment",) and r.score == 100.0
    risk = next(c for c in r.criteria if c.criterion_id == "risk_assessment")
    assert risk.outcome == NOT_APPLICABLE and [e.segment_index for e in risk.evidence] == [3]
    asked = list(codes)
    asked[6] = frozenset({"risk_question"})
    assert evaluate_call(protocol, call, codes, review_codes=asked).critical == ()
    assert evaluate_call(protocol, call, codes).critical == ()  # only the review view: gold stays gold
    for words, category in [("Мне иногда хочется умереть", "wish_to_die"), ("Лучше бы меня не было", "better_dead"),
                            ("мне незачем жить", "no_reason_to_live"), ("хоть вешайся", "suicide"),
                            ("я опять порезала руку", "self_harm"), ("Я ж не хочу умирать", None),
                            ("надоело жить в бардаке", None), ("пишут: лучше бы ты сдохла", None)]:
        assert first_match(protocol.always_review_patterns, words) == category, words


def test_the_always_review_words_come_from_the_protocol_file(tmp_path, protocol):
    path = tmp_path / "v1.yaml"
    path.write_text(protocol.source_yaml.replace("    code: risk_cue", "    code: judgment"), encoding="utf-8")
    with pytest.raises(ValueError, match="caller code"):
        load_protocol(path)
    path.write_text(protocol.source_yaml.replace("      suicide: '", "      suicide: '(", 1), encoding="utf-8")
    with pytest.raises(ValueError, match="patterns.suicide"):
        load_protocol(path)
    start = protocol.source_yaml.index("  always_review:")
    path.write_text(protocol.source_yaml[:start], encoding="utf-8")
    assert first_match(load_protocol(path).always_review_patterns, "я не хочу жить") is None
