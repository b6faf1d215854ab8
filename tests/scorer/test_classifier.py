"""The per-code classifiers: the flags' codes get a second, n-gram model; the other codes do not. AnnoMI's class
weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from helpline_scorer.annomi import tune_class_weights
from helpline_scorer.model import CodeClassifier, Example, Features, Featurizer

CUES = ["я не хочу жить", "мне не хочется жить больше", "я правда не хочу жить дальше", "не хочу жить вообще",
        "иногда думаю что не хочу жить", "честно не хочу жить так"]
OTHERS = ["я не хочу есть суп", "мне не хочется в школу", "я правда не хочу идти туда", "не хочу спать вообще",
          "иногда думаю что хочу собаку", "честно хочу жить в городе", "мама опять ругалась", "всё нормально",
          "мы поссорились с другом", "я получил двойку", "опять двойка по математике", "не знаю что сказать"]


@pytest.fixture(scope="module")
def fitted():
    texts = CUES + OTHERS
    examples = [Example("caller", t, group=f"u{i}") for i, t in enumerate(texts)]
    featurizer = Featurizer()
    X = featurizer.fit_transform(examples)
    cue = np.array([t in CUES for t in texts], dtype=int)
    short = np.array([len(t.split()) <= 3 for t in texts], dtype=int)
    Y = np.column_stack([cue, short])
    groups = np.array([e.group for e in examples])
    both = CodeClassifier(["risk_cue", "short"], ngram_codes=["risk_cue"]).fit(X, Y, groups, folds=3)
    main_only = CodeClassifier(["risk_cue", "short"]).fit(X, Y, groups, folds=3)
    return featurizer, X, Y, groups, both, main_only


def test_only_the_ngram_codes_get_the_second_model(fitted):
    _, X, _, _, both, main_only = fitted
    assert both.ngram_coef.shape == (X.ngrams.shape[1], 1) and main_only.ngram_coef is None
    P, Q = both.predict_proba(X), main_only.predict_proba(X)
    assert np.allclose(P[:, 1], Q[:, 1])  # "short": the main model alone, as without the second model
    assert not np.allclose(P[:, 0], Q[:, 0])  # risk_cue: the mean of the two models, then calibrated
    assert ((P >= 0) & (P <= 1)).all()


def test_the_second_model_weighs_lemma_sequences_by_the_code(fitted):
    featurizer, _, _, _, both, _ = fitted
    vocabulary = featurizer.ngrams.vocabulary_
    weight = {gram: both.ngram_coef[vocabulary[gram], 0] for gram in ("не хотеть жить", "двойка")}
    assert weight["не хотеть жить"] > 0 > weight["двойка"], weight  # only in cues / only in the others


def test_features_without_the_ngram_view_use_the_main_model_only(fitted):
    """As with featurizers pickled before v1.6.0: no n-gram view, so no second model."""
    _, X, Y, groups, _, main_only = fitted
    plain = CodeClassifier(["risk_cue", "short"], ngram_codes=["risk_cue"]).fit(
        Features(X.main), Y, groups, folds=3)
    assert plain.ngram_codes == [] and plain.ngram_coef is None
    assert np.allclose(plain.predict_proba(Features(X.main)), main_only.predict_proba(X))


def test_class_weights_give_the_underscaled_class_back_its_argmax():
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=600, p=[0.45, 0.15, 0.40])
    proba = rng.uniform(0.0, 0.4, size=(600, 3))
    proba[np.arange(600), y] += 0.35
    proba[:, 1] *= 0.6  # the rare class's one-vs-rest scale is too low: it loses the plain argmax
    weights = tune_class_weights(proba, y)
    assert weights[2] == 1.0 and weights[1] > weights[0]
    plain = f1_score(y, proba.argmax(axis=1), average="macro")
    assert f1_score(y, (proba * weights).argmax(axis=1), average="macro") > plain + 0.05
