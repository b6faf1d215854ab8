"""Call-level decisions for risk cues and judgment (no training: hand-set probabilities)."""

from __future__ import annotations

import pytest

from helpline_scorer.model import UtteranceModel, call_score, examples_from_call
from helpline_scorer.protocol import load_protocol
from helpline_scorer.transcript import make_call


def test_call_score_is_the_noisy_or_of_the_top_k():
    assert call_score([0.9, 0.1, 0.2], 1) == pytest.approx(0.9)
    assert call_score([0.4, 0.1, 0.4], 2) == pytest.approx(1 - 0.6 * 0.6)  # two medium cues add up
    assert call_score([0.4], 3) == pytest.approx(0.4)


def call():
    texts = [("counselor", "телефон доверия здравствуй"), ("caller", "мне плохо"),
             ("counselor", "ты сейчас в безопасности"), ("caller", "не знаю"), ("counselor", "звони нам")]
    return make_call("c", [(sp, i * 2.0, i * 2.0 + 1.5, t) for i, (sp, t) in enumerate(texts)])


def test_examples_carry_the_other_speakers_next_turn():
    ex = examples_from_call(call())
    assert ex[1].next_context == "ты сейчас в безопасности"
    assert ex[0].next_context == "мне плохо" and ex[4].next_context == ""


def model(threshold: float, review_threshold: float | None = None) -> UtteranceModel:
    p = load_protocol()
    m = UtteranceModel(list(p.counselor_codes), list(p.caller_codes))
    m.call_level = {"risk_cue": {"speaker": "caller", "k": 2, "threshold": threshold,
                                 "review_threshold": threshold if review_threshold is None else review_threshold},
                    "judgment": {"speaker": "counselor", "k": 1, "threshold": 0.5}}
    return m


def test_the_call_decides_whether_a_cue_or_judgment_is_there():
    ex = examples_from_call(call())
    codes = [frozenset({"greeting"}), frozenset(), frozenset({"risk_question", "judgment"}), frozenset(),
             frozenset({"judgment"})]
    probs = [{"judgment": 0.1}, {"risk_cue": 0.35}, {"judgment": 0.3}, {"risk_cue": 0.3}, {"judgment": 0.2}]
    out = model(0.5).apply_call_level(ex, codes, probs)  # two weak cues: 1 - 0.65 * 0.7 = 0.545
    assert "risk_cue" in out[1] and "risk_cue" not in out[3]  # on the most probable segment
    assert out[2] == frozenset({"risk_question"}) and out[4] == frozenset({"other"})  # no judgment in the call
    out = model(0.6).apply_call_level(ex, codes, probs)
    assert not any("risk_cue" in c for c in out)
    single = [e.__class__(e.speaker, e.text, e.context, None) for e in ex]  # single utterances keep theirs
    assert model(0.99).apply_call_level(single, codes, probs) == codes


def test_review_codes_use_the_recall_first_threshold():
    ex = examples_from_call(call())
    codes = [frozenset({"greeting"}), frozenset(), frozenset({"risk_question"}), frozenset(), frozenset({"other"})]
    probs = [{"judgment": 0.1}, {"risk_cue": 0.35}, {"judgment": 0.1}, {"risk_cue": 0.3}, {"judgment": 0.1}]
    m = model(0.6, review_threshold=0.5)  # the call scores 0.545: below the decision, above the review threshold
    decided = m.apply_call_level(ex, codes, probs)
    assert not any("risk_cue" in c for c in decided)
    review = m.review_codes(ex, decided, probs)
    assert "risk_cue" in review[1] and [c for i, c in enumerate(review) if i != 1] == \
        [c for i, c in enumerate(decided) if i != 1]
    # the protocol's factor moves the review threshold (0.5 × 1.15 > 0.545), never past the decision one
    assert not any("risk_cue" in c for c in m.review_codes(ex, decided, probs, review_factor=1.15))
    assert m.review_codes(ex, decided, probs, review_factor=0.5) == review
    assert m.review_codes(ex, decided, probs, review_factor=100.0) == decided
    legacy = model(0.5)
    del legacy.call_level["risk_cue"]["review_threshold"]  # models before v1.2.0: one threshold for both
    assert legacy.review_codes(ex, legacy.apply_call_level(ex, codes, probs), probs) == \
        legacy.apply_call_level(ex, codes, probs)


def test_a_doubtful_risk_question_does_not_clear_a_missed_risk_flag():
    ex = examples_from_call(call())
    codes = [frozenset({"greeting"}), frozenset({"risk_cue"}), frozenset({"risk_question"}), frozenset(),
             frozenset({"other"})]
    probs = [{"risk_question": 0.0}, {"risk_cue": 0.9}, {"risk_question": 0.55}, {"risk_cue": 0.1},
             {"risk_question": 0.0}]
    m = model(0.5)
    m.review_thresholds = {"risk_question": 0.8}
    review = m.review_codes(ex, m.apply_call_level(ex, codes, probs), probs)
    assert "risk_question" not in review[2] and "risk_cue" in review[1]
    probs[2] = {"risk_question": 0.85}  # a sure one clears it
    assert "risk_question" in m.review_codes(ex, codes, probs)[2]


def test_the_clearing_threshold_sits_above_every_false_risk_question_and_never_below_the_floor():
    """Set from the training calls with a cue and no risk question: a false risk question there would have
    hidden a flag."""
    from helpline_scorer.corpus import CorpusCall
    from helpline_scorer.training import CLEARING_FLOOR, TrainConfig, tune_review_thresholds

    c = call()
    cue_no_question = CorpusCall(c, (frozenset({"greeting"}), frozenset({"risk_cue"}), frozenset({"other"}),
                                     frozenset(), frozenset({"other"})), "a")
    asked = CorpusCall(c, (frozenset({"greeting"}), frozenset({"risk_cue"}), frozenset({"risk_question"}),
                           frozenset(), frozenset({"other"})), "a")

    def clearing_threshold(false_question: float, asked_question: float) -> float:
        m = model(0.5)
        m.counselor = type("Clf", (), {"thresholds": {"risk_question": 0.4}})()
        views = [(cue_no_question, [{"risk_question": 0.0}, {}, {"risk_question": false_question}, {}, {}]),
                 (asked, [{"risk_question": 0.0}, {}, {"risk_question": asked_question}, {}, {}])]
        tune_review_thresholds(m, views, TrainConfig(call_margin=0.8))
        return m.review_thresholds["risk_question"]

    assert clearing_threshold(0.95, 0.5) == pytest.approx(1 - 0.05 * 0.8)  # above the false one, with margin
    assert clearing_threshold(0.2, 0.99) == CLEARING_FLOOR == 0.8  # a low false one: the floor
    # the calls where the question was asked do not move it
    assert clearing_threshold(0.2, 0.1) == clearing_threshold(0.2, 0.99)


def test_the_card_tells_likely_flags_from_possible_ones():
    """A flag the most probable reading also raises is likely; one only the review view raises is possible."""
    from helpline_scorer.corpus import CorpusCall
    from helpline_scorer.training import Tally

    p = load_protocol()
    c = call()
    none = [frozenset({"greeting"}), frozenset(), frozenset({"risk_question"}), frozenset(), frozenset({"other"})]
    gold = CorpusCall(c, tuple(none[:4]) + (frozenset({"judgment"}),), "a")  # a judgment at the end
    probs = [{}] * len(none)
    with_judgment = none[:4] + [frozenset({"judgment"})]
    tally = Tally(p)
    tally.add_call(gold, with_judgment, probs, with_judgment)  # likely and right
    tally.add_call(gold, none, probs, with_judgment)  # possible and right
    tally.add_call(CorpusCall(c, tuple(none), "a"), none, probs, with_judgment)  # possible and wrong
    s = tally.summary()
    assert s["critical_flags"] == {"true_positive": 2, "false_positive": 1, "false_negative": 0}
    assert s["likely_flags"] == {"true_positive": 1, "false_positive": 0, "false_negative": 1}
    assert (s["likely_flag_precision"], s["likely_flag_recall"]) == (1.0, 0.5)


def test_the_noised_view_of_a_held_out_call_carries_the_noised_text():
    """What the model reads in evaluation is what the protocol's always-review words read after it."""
    from helpline_scorer.corpus import load_corpus
    from helpline_scorer.training import EVAL_NOISE_KEY, TrainConfig, call_texts, held_out_view

    call = load_corpus(None, load_protocol()).calls[0]
    cfg = TrainConfig()
    assert held_out_view(call, "clean", cfg) is call
    noised = held_out_view(call, "noised", cfg)
    assert [s.text for s in noised.call.segments] == call_texts(call, EVAL_NOISE_KEY, cfg.noise_seed)
    assert [s.text for s in noised.call.segments] != [s.text for s in call.call.segments]
    assert [(s.start, s.end, s.speaker) for s in noised.call.segments] == \
        [(s.start, s.end, s.speaker) for s in call.call.segments] and noised.codes == call.codes
